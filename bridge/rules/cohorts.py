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


# --- seat allocation: the seam the order path calls ----------------------------------------------


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
    # When the order that claims it was paid (else created).
    paid_at: datetime | None = None


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


def allocate_seats(
    cohorts: dict[str, CohortSeating],
    release: list[SeatRow],
    wanted: list[SeatWanted],
    now: datetime,
) -> list[SeatDecision]:
    """Decide the seats of one order's change (pure; nothing is mutated): the seats it no
    longer confers are released, the seats it wants are claimed (a seat while the cohort has
    one free, else a waitlist place), and the waitlist moves up into what is free.

    ``cohorts``: every cohort named by ``release`` or ``wanted``, with its held seats;
    ``release``: held seats of the order, by grant key; ``wanted``: by grant key. Returns the
    decisions in the order the customer hears of them: releases, claims, promotions (by
    cohort code). New seats are in the decisions (``was`` None), not yet in ``cohorts``.
    """
    active = {
        code: sum(1 for s in c.held if s.status == SeatStatus.ACTIVE) for code, c in cohorts.items()
    }
    waitlist = {
        code: [s for s in c.held if s.status == SeatStatus.WAITLISTED]
        for code, c in cohorts.items()
    }
    decisions: list[SeatDecision] = []
    for seat in release:
        if seat.status == SeatStatus.ACTIVE:
            active[seat.cohort_code] -= 1
        elif seat in waitlist[seat.cohort_code]:
            waitlist[seat.cohort_code].remove(seat)
        decisions.append(SeatDecision(seat, seat.status, SeatStatus.RELEASED))
    for want in wanted:
        cohort = cohorts[want.cohort]
        status = (
            SeatStatus.ACTIVE if active[want.cohort] < cohort.capacity else SeatStatus.WAITLISTED
        )
        seat = SeatRow(
            cohort_code=want.cohort,
            learner_id=want.learner_id,
            grant_key=want.grant_key,
            source_key=want.source_key,
            status=status,
            order_id=want.order_id,
            offer_sku=want.offer_sku,
            created_at=now,
            changed_at=now,
            paid_at=want.paid_at,
        )
        position = None
        if status == SeatStatus.ACTIVE:
            active[want.cohort] += 1
        else:
            waitlist[want.cohort].append(seat)
            position = len(waitlist[want.cohort])
        decisions.append(SeatDecision(seat, None, status, position))
    for code in cohorts:
        free = cohorts[code].capacity - active[code]
        waiting = waitlist[code]
        while free > 0 and waiting:
            seat = waiting.pop(0)
            active[code] += 1
            free -= 1
            # A seat claimed just now and promoted at once is a new active seat.
            decisions.append(SeatDecision(seat, SeatStatus.WAITLISTED, SeatStatus.ACTIVE))
    return decisions
