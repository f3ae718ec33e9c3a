"""A learner's calendar feed (RFC 5545, written by ``icalendar``): cohort sessions and booked
mentor sessions.

Each event has a UID that never changes (the cohort and, for an explicit schedule, the
session's start; a booking's key, hashed); ``SEQUENCE`` rises exactly when what the feed says
of it changes (time, length, place, title, status), remembered per learner in
``calendar_entry``; a seat refunded or moved away leaves its sessions in the feed as
``STATUS:CANCELLED`` so subscribed calendars remove them. Times carry their ``TZID`` (the
cohort's zone; the shop's for bookings) with a ``VTIMEZONE`` for each zone used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlmodel import Session, col, select

from bridge.rules.bookings.events import BookingStatus
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.cohorts import SeatStatus
from bridge.store.models import Booking, CalendarEntry, Cohort, Seat, utcnow

CONFIRMED, TENTATIVE, CANCELLED = "CONFIRMED", "TENTATIVE", "CANCELLED"
# A booking in these states will not take place (a debit returned for a no-show did).
CALLED_OFF = frozenset({BookingStatus.CANCELLED, BookingStatus.REJECTED})
# Which of a learner's seats in a cohort decides: the best status wins.
_SEAT_RANK = {SeatStatus.ACTIVE: 0, SeatStatus.WAITLISTED: 1, SeatStatus.RELEASED: 2}
_EVENT_STATUS = {
    SeatStatus.ACTIVE: CONFIRMED,
    SeatStatus.WAITLISTED: TENTATIVE,
    SeatStatus.RELEASED: CANCELLED,
}
PRODUCT_ID = "-//creator-bridge//learner calendar//EN"


@dataclass(frozen=True)
class FeedEvent:
    """One VEVENT before it is written: what its fingerprint and SEQUENCE are taken from."""

    uid: str
    summary: str
    starts: datetime  # aware, in the zone the feed writes it in
    minutes: int
    status: str
    location: str = ""
    url: str = ""
    description: str = ""
    weekly: int | None = None

    def fingerprint(self) -> str:
        facts = "\x1f".join(
            [
                self.summary,
                self.starts.isoformat(),
                str(getattr(self.starts.tzinfo, "key", "")),
                str(self.minutes),
                self.status,
                self.location,
                self.url,
                str(self.weekly or ""),
            ]
        )
        return hashlib.sha256(facts.encode()).hexdigest()


def _host(public_url: str | None) -> str:
    return (urlsplit(public_url).hostname if public_url else None) or "creator-bridge.invalid"


def cohort_events(
    session: Session, learner_id: int, catalogue: Catalogue, host: str
) -> list[FeedEvent]:
    """The sessions of every cohort the learner holds or held a seat in."""
    best: dict[str, SeatStatus] = {}
    for seat in session.exec(
        select(Seat).where(Seat.learner_id == learner_id).order_by(col(Seat.id))
    ).all():
        held = SeatStatus(seat.status)
        known = best.get(seat.cohort_code)
        if known is None or _SEAT_RANK[held] < _SEAT_RANK[known]:
            best[seat.cohort_code] = held
    events: list[FeedEvent] = []
    for code, seat_status in sorted(best.items()):
        spec = catalogue.cohorts.get(code)
        if spec is None or spec.sessions is None:
            continue
        stored = session.get(Cohort, code)
        title = (stored.title if stored and stored.title else spec.title) or code
        status = _EVENT_STATUS[seat_status]
        sessions = spec.sessions
        url = sessions.location if sessions.is_url else ""
        location = url or sessions.location
        note = "You are on the waitlist for this cohort." if status == TENTATIVE else ""
        if sessions.weekly is not None:
            events.append(
                FeedEvent(
                    f"cohort-{code}@{host}",
                    title,
                    sessions.starts[0],
                    sessions.minutes,
                    status,
                    location,
                    url,
                    note,
                    sessions.weekly,
                )
            )
            continue
        for start in sessions.occurrences():
            events.append(
                FeedEvent(
                    f"cohort-{code}-{start:%Y%m%dT%H%M}@{host}",
                    title,
                    start,
                    sessions.minutes,
                    status,
                    location,
                    url,
                    note,
                )
            )
    return events


def booking_events(session: Session, learner_id: int, zone: str, host: str) -> list[FeedEvent]:
    """The learner's booked mentor sessions (cancelled ones as cancelled)."""
    events: list[FeedEvent] = []
    local = ZoneInfo(zone)
    for booking in session.exec(
        select(Booking)
        .where(Booking.learner_id == learner_id, col(Booking.starts_at).is_not(None))
        .order_by(col(Booking.id))
    ).all():
        assert booking.starts_at is not None
        if booking.status in (BookingStatus.UNKNOWN_LEARNER, BookingStatus.RESCHEDULED):
            # Another row carries a rescheduled booking on; an unknown learner's is not theirs.
            continue
        ends = booking.ends_at
        minutes = booking.minutes or (
            int((ends - booking.starts_at) / timedelta(minutes=1)) if ends else 30
        )
        digest = hashlib.sha256(booking.key.encode()).hexdigest()[:32]
        title = booking.title or "Mentor session"
        with_whom = f" with {booking.mentor_name}" if booking.mentor_name else ""
        events.append(
            FeedEvent(
                f"booking-{digest}@{host}",
                f"{title}{with_whom}",
                booking.starts_at.astimezone(local),
                max(minutes, 1),
                CANCELLED
                if booking.status in CALLED_OFF or booking.cancelled_at is not None
                else CONFIRMED,
            )
        )
    return events


def _sequences(session: Session, learner_id: int, events: list[FeedEvent]) -> dict[str, int]:
    """Each event's SEQUENCE: kept while it is unchanged, one higher after each change."""
    stored = {
        row.uid: row
        for row in session.exec(
            select(CalendarEntry).where(CalendarEntry.learner_id == learner_id)
        ).all()
    }
    sequences: dict[str, int] = {}
    now = utcnow()
    for event in events:
        fingerprint = event.fingerprint()
        row = stored.get(event.uid)
        if row is None:
            row = CalendarEntry(learner_id=learner_id, uid=event.uid[:200], fingerprint=fingerprint)
            session.add(row)
        elif row.fingerprint != fingerprint:
            row.fingerprint, row.sequence, row.changed_at = fingerprint, row.sequence + 1, now
            session.add(row)
        sequences[event.uid] = row.sequence
    session.flush()
    return sequences


def learner_calendar(
    session: Session,
    learner_id: int,
    catalogue: Catalogue,
    *,
    shop_timezone: str,
    public_url: str | None,
    name: str = "My sessions",
    now: datetime | None = None,
) -> bytes:
    """The learner's feed as iCalendar bytes (and their ``calendar_entry`` rows brought up to
    date)."""
    host = _host(public_url)
    events = cohort_events(session, learner_id, catalogue, host) + booking_events(
        session, learner_id, shop_timezone, host
    )
    sequences = _sequences(session, learner_id, events)
    stamp = (now or utcnow()).astimezone(UTC).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")  # Outlook's and Google's refresh hint
    for event in events:
        entry = Event()
        entry.add("uid", event.uid)
        entry.add("dtstamp", stamp)
        entry.add("summary", event.summary)
        entry.add("dtstart", event.starts)
        entry.add("duration", timedelta(minutes=event.minutes))
        entry.add("sequence", sequences[event.uid])
        entry.add("status", event.status)
        if event.weekly is not None:
            entry.add("rrule", {"freq": "weekly", "count": event.weekly})
        if event.location:
            entry.add("location", event.location)
        if event.url:
            entry.add("url", event.url)
        if event.description:
            entry.add("description", event.description)
        calendar.add_component(entry)
    calendar.add_missing_timezones()
    return calendar.to_ical()
