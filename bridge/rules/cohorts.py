"""Cohort seats and figures (pure): a seat's states, where capacity comes from, seats left,
fill over time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

MAX_DAYS = 120  # points of a fill chart; longer histories keep their latest days


class SeatStatus(StrEnum):
    """A seat's state (Seat.status): held, waiting for one (first paid, first served:
    bridge.rules.seating), given back, or taken off the waitlist by an operator (the order
    does not claim it again)."""

    ACTIVE = "active"
    WAITLISTED = "waitlisted"
    RELEASED = "released"
    REMOVED = "removed"


@dataclass(frozen=True)
class Limits:
    """A cohort's capacity and the limits it was computed from (None: not known)."""

    capacity: int
    mentors: int | None = None
    learners_per_mentor: int | None = None
    assessment_slots: int | None = None
    waitlist: bool = True
    ends_at: datetime | None = None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def capacity_reason(limits: Limits) -> str:
    """Where the capacity comes from, in one line: mentors x learners, bounded by slots."""
    if limits.mentors is None or limits.learners_per_mentor is None:
        return f"{_plural(limits.capacity, 'seat')} (limits not stored: run `bridge init`)"
    by_mentors = limits.mentors * limits.learners_per_mentor
    text = (
        f"{_plural(limits.mentors, 'mentor')} x {limits.learners_per_mentor} "
        f"learners per mentor = {by_mentors}"
    )
    slots = limits.assessment_slots
    if slots is None:
        return f"{text} seats"
    if slots < by_mentors:
        return (
            f"{text}, bounded by {_plural(slots, 'assessment slot')}: "
            f"{_plural(limits.capacity, 'seat')}"
        )
    return f"{text} seats ({_plural(slots, 'assessment slot')} do not bound it)"


def seats_left(limits: Limits, active: int, now: datetime) -> int:
    if limits.ends_at is not None and limits.ends_at <= now:
        return 0
    return max(limits.capacity - active, 0)


def seats_left_reason(limits: Limits, active: int, now: datetime) -> str:
    """Why as many seats are left as there are, in one line."""
    if limits.ends_at is not None and limits.ends_at <= now:
        return "the cohort has ended"
    left = seats_left(limits, active, now)
    if active > limits.capacity:
        return (
            f"over capacity by {active - limits.capacity}: capacity went down while the seats "
            "were held; nobody loses one, and buyers wait until seats free up"
        )
    if left:  # where the capacity comes from is capacity_reason's, shown beside it
        return f"{left} of {_plural(limits.capacity, 'seat')} free"
    if limits.waitlist:
        return "full: every seat is taken; buyers join the waitlist for a released seat"
    return "full: every seat is taken and the cohort has no waitlist"


@dataclass(frozen=True)
class SeatSpan:
    """When a seat was held: from ``held_from`` until ``released_at`` (None: still held)."""

    held_from: datetime
    released_at: datetime | None = None


def fill_over_time(
    spans: Iterable[SeatSpan], today: date, until: date | None = None
) -> list[tuple[date, int]]:
    """Seats held at the end of each day, from the first seat's day to today (or ``until``)."""
    spans = list(spans)
    if not spans:
        return []
    first = min(span.held_from.date() for span in spans)
    last = min(today, until) if until else today
    if last < first:
        last = first
    days = (last - first).days + 1
    start = first if days <= MAX_DAYS else last - timedelta(days=MAX_DAYS - 1)
    series: list[tuple[date, int]] = []
    for offset in range((last - start).days + 1):
        day = start + timedelta(days=offset)
        held = sum(
            1
            for span in spans
            if span.held_from.date() <= day
            and (span.released_at is None or span.released_at.date() > day)
        )
        series.append((day, held))
    return series


# --- seat rows, as the seam (bridge.rules.seating.allocate_seats) decides over them -----------


@dataclass(eq=False)
class SeatRow:
    """A seat (``seat``) as plain data; ``id`` is None until it is inserted."""

    cohort_code: str
    learner_id: int
    grant_key: str
    source_key: str
    status: str
    id: int | None = None
    order_id: int | None = None
    offer_sku: str | None = None
    created_at: datetime | None = None
    changed_at: datetime | None = None
    # When the order that claims it was paid (else created): seats go in this order.
    paid_at: datetime | None = None
    # When the customer was told they hold it (bridge.rules.seating never takes it back).
    confirmed_at: datetime | None = None
    # Why an operator wrote the row (steering); None: the order.
    reason: str | None = None


@dataclass
class CohortSeating:
    """A cohort's capacity and the seats held in it now (active and waitlisted, by id)."""

    code: str
    capacity: int
    held: list[SeatRow]


@dataclass(frozen=True)
class SeatWanted:
    """A seat an order confers now and does not hold: claimed in ``cohort``."""

    cohort: str
    grant_key: str
    source_key: str
    learner_id: int
    order_id: int
    offer_sku: str | None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class SeatDecision:
    """What allocation does to one seat: ``was`` None for a new seat; ``position`` on the
    waitlist for a new waitlisted one."""

    seat: SeatRow
    was: str | None
    now: str
    position: int | None = None
