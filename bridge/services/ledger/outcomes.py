"""What applying an order changed: its events, worded later for notes and summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.rules.reconcile import GRANT_REASONS, CreditTarget, Event

# Event, CreditTarget and GRANT_REASONS are the pure rules' (bridge.rules.reconcile); the
# package exports them from here.
__all__ = ["GRANT_REASONS", "CreditTarget", "Event", "OrderOutcome"]


@dataclass
class OrderOutcome:
    """What became of one order payload: ``applied`` (False: stale, older than the one last
    applied, nothing changed), ``unchanged`` (the same as last applied: not applied again)."""

    order_id: int
    applied: bool
    learner_id: int | None = None
    events: list[Event] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    # False for history (a change from before the bridge watched): customers hear nothing.
    news: bool = True
    unchanged: bool = False

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event.kind == kind)
