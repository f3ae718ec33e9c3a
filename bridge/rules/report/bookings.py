"""The outcome report's booking figures (pure): mentor time booked, held and missed by month,
and the learners who come back to the same mentor."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.rules.bookings.events import Attendance, BookingStatus
from bridge.rules.report.rows import ALL, BookingRow, Period, ReportRows


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class BookingMonth:
    """Minutes of the bookings that start in one month, and bookings nothing was debited for."""

    month: str
    bookings: int = 0
    booked: int = 0
    held: int = 0
    no_show: int = 0
    unfunded: int = 0
    unknown_learner: int = 0


def booking_months(rows: ReportRows, period: Period) -> list[BookingMonth]:
    """Per month of the period, by the month each booking starts in."""
    months = {month: BookingMonth(month) for month in period.months()}
    for booking in rows.bookings:
        if not period.contains(booking.at):
            continue
        bucket = months[period.month_of(booking.at)]
        if booking.booked:
            bucket.bookings += 1
            bucket.booked += booking.minutes
            if booking.attendance == Attendance.HELD:
                bucket.held += booking.minutes
            elif booking.attendance == Attendance.NO_SHOW:
                bucket.no_show += booking.minutes
        elif booking.status == BookingStatus.UNFUNDED:
            bucket.unfunded += 1
        elif booking.status == BookingStatus.UNKNOWN_LEARNER:
            bucket.unknown_learner += 1
    return list(months.values())


def booking_total(months: Iterable[BookingMonth]) -> BookingMonth:
    total = BookingMonth(ALL)
    for month in months:
        for name in ("bookings", "booked", "held", "no_show", "unfunded", "unknown_learner"):
            setattr(total, name, getattr(total, name) + getattr(month, name))
    return total


def booked_calls(rows: ReportRows) -> dict[int, list[datetime]]:
    """Learner -> start of each booked call that was not a no-show (the funnel's first call)."""
    calls: dict[int, list[datetime]] = defaultdict(list)
    for booking in rows.bookings:
        came = booking.attendance != Attendance.NO_SHOW
        if booking.learner_id is not None and booking.booked and came:
            calls[booking.learner_id].append(booking.at)
    return calls


@dataclass(frozen=True)
class ReturningLearners:
    """Of a mentor's learners with a booked call in the period, those with two or more."""

    mentor: str
    learners: int
    returning: int

    @property
    def rate(self) -> float | None:
        return _rate(self.returning, self.learners)


def _mentor(booking: BookingRow) -> str:
    return " ".join(booking.mentor.split()).casefold()


def returning_learners(rows: ReportRows, period: Period) -> list[ReturningLearners]:
    """Per mentor (by e-mail), then ``(all)`` over every learner and mentor pair."""
    calls: dict[tuple[str, int], list[datetime]] = defaultdict(list)
    for booking in rows.bookings:
        if (
            booking.learner_id is None
            or not booking.booked
            or not _mentor(booking)
            or booking.at >= period.end
        ):
            continue
        calls[(_mentor(booking), booking.learner_id)].append(booking.at)
    pairs = {pair: times for pair, times in calls.items() if any(map(period.contains, times))}
    by_mentor: dict[str, list[list[datetime]]] = defaultdict(list)
    for (mentor, _), times in pairs.items():
        by_mentor[mentor].append(times)
    result = [
        ReturningLearners(mentor, len(lists), sum(1 for t in lists if len(t) >= 2))
        for mentor, lists in sorted(by_mentor.items())
    ]
    if result:
        result.append(
            ReturningLearners(ALL, len(pairs), sum(1 for t in pairs.values() if len(t) >= 2))
        )
    return result


def shown_booking_months(months: Sequence[BookingMonth]) -> list[BookingMonth]:
    """The months a table shows: those with any booking (all-zero rows say nothing)."""
    return [
        m
        for m in months
        if m.bookings or m.booked or m.held or m.no_show or m.unfunded or m.unknown_learner
    ]
