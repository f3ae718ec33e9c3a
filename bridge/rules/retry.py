"""The retry policy of the durable queues (the inbox and the outbox), pure.

A failure costs one attempt; the next try waits 30 s, doubling with each attempt up to 6 h, and
never sooner than the other side asked (a Retry-After); after ``max_attempts`` the row is
dead-lettered, waiting for a person to retry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h, after ``attempts`` tries; never under retry_after."""
    # Past 2^10 doublings the cap holds anyway; a larger power would overflow timedelta.
    doubled: timedelta = BACKOFF_BASE * (2 ** max(0, min(attempts, 11) - 1))
    delay = min(doubled, BACKOFF_CAP)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def exhausted(attempts: int, max_attempts: int) -> bool:
    """Whether a row that has taken ``attempts`` tries may not take another."""
    return attempts >= max_attempts


@dataclass(frozen=True)
class AfterFailure:
    """What a failed attempt makes of a row: dead, or due again at ``next_attempt_at``."""

    dead: bool
    next_attempt_at: datetime | None


def after_failure(
    attempts: int, max_attempts: int, now: datetime, retry_after: float | None = None
) -> AfterFailure:
    """The row's fate after its ``attempts``-th try failed (``now``): retried later, or dead."""
    if exhausted(attempts, max_attempts):
        return AfterFailure(dead=True, next_attempt_at=None)
    return AfterFailure(dead=False, next_attempt_at=now + backoff(attempts, retry_after))
