"""Unsigned requests, counted per process (bridge.services.inbox): no write per request."""

from __future__ import annotations

from flask import current_app

from bridge.services.inbox import RejectionTally
from webhooks.runtime import runtime

KEY = "bridge_rejections"


def reject_unsigned(counter: str, source: str) -> None:
    """Count one request refused for its signature; stored and logged once a minute at most."""
    tally = current_app.extensions.get(KEY)
    if tally is None:
        # Two first rejections at once may both build one; setdefault keeps a single tally.
        tally = current_app.extensions.setdefault(KEY, RejectionTally(runtime().engine))
    tally.add(counter, source)


def flush_rejections() -> dict[str, int]:
    """Store what this process counted so far (shutdown, tests); what was stored."""
    tally = current_app.extensions.get(KEY)
    return tally.flush() if tally is not None else {}
