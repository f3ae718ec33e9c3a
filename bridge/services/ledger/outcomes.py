"""What applying an order changed: its events, worded later for notes and summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    """Something that changed, worded later for order notes and summaries."""

    kind: str  # credit_granted, credit_reversed, seat_active, seat_waitlisted, seat_promoted, ...
    learner_id: int
    order_id: int | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderOutcome:
    order_id: int
    applied: bool  # False when the payload was stale
    learner_id: int | None = None
    events: list[Event] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    # False for history (a change from before the bridge watched): customers hear nothing.
    news: bool = True

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event.kind == kind)
