"""Booking-tool deliveries (Cal.com, Calendly) as plain booking events, and what they spend.

Pure: a parsed JSON envelope in, ``BookingEvent`` values out; and the states a stored booking,
its attendance and a redemption move through. A booking is identified by a stable key: Cal.com
``calcom:<uid>:<attendee e-mail>`` (seats share a uid), Calendly ``calendly:<invitee URI>``
(group events share an event URI). Field names follow Cal.com's payload version 2021-10-20 and
Calendly API v2 (see README, "Bookings").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bridge.errors import PermanentError
from bridge.rules.bookings.links import CALCOM_FIELD, TOKEN_PREFIX, presented_token
from bridge.rules.inbound.payloads import unstorable

CALCOM, CALENDLY = "calcom", "calendly"
SOURCES = (CALCOM, CALENDLY)

# What a delivery means for a booking.
CREATED = "created"
RESCHEDULED = "rescheduled"  # a new booking that replaces ``previous_key``
RESCHEDULING = "rescheduling"  # Calendly: the old half of a reschedule; ``next_key`` follows
CANCELLED = "cancelled"
NO_SHOW = "no_show"
NO_SHOW_CLEARED = "no_show_cleared"
ENDED = "ended"

CALCOM_TRIGGERS = {
    "BOOKING_CREATED": CREATED,
    "BOOKING_RESCHEDULED": RESCHEDULED,
    "BOOKING_CANCELLED": CANCELLED,
    "BOOKING_NO_SHOW_UPDATED": NO_SHOW,
    "MEETING_ENDED": ENDED,
}
CALENDLY_EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
)


class BookingStatus(StrEnum):
    """What a stored booking stands at (Booking.status), as to what it spent."""

    DEBITED = "debited"
    RETURNED = "returned"  # its debit was given back (cancelled, or a no-show under that policy)
    UNFUNDED = "unfunded"  # nothing debited: too few credits, or no known charge
    UNKNOWN_LEARNER = "unknown_learner"
    HELD_FOR_REVIEW = "held_for_review"  # the e-mail alone named the learner: an operator decides
    REJECTED = "rejected"  # an operator rejected it
    RESCHEDULED = "rescheduled"  # its debit moved on to the booking that replaced it
    CANCELLED = "cancelled"  # cancelled with nothing spent


class Attendance(StrEnum):
    """Whether the learner came to a booking (Booking.attendance)."""

    BOOKED = "booked"
    HELD = "held"
    NO_SHOW = "no_show"


class RedemptionStatus(StrEnum):
    """A redemption of credits (Redemption.status): spent, or refunded once."""

    ACTIVE = "active"
    REFUNDED = "refunded"


MENTOR_MINUTES = "mentor_minutes"
MAX_MINUTES = 24 * 60
MAX_KEY = 400
# Calendly keeps a booking page's UTM parameters; the learner's token may ride in any of them.
UTM_FIELDS = ("utm_content", "utm_term", "utm_campaign", "utm_medium", "utm_source")
MAX_AMOUNT = 1_000_000
CREDIT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")
BOOKING_TYPE_KEYS = frozenset({"event_type", "credit_type", "amount", "title", "url"})


class BookingPayloadError(PermanentError):
    """A booking delivery lacks what identifies the booking; the message names the field."""


class BookingTypeError(ValueError):
    """A ``[[bookings]]`` entry of the catalogue file is malformed: ``key`` names it."""

    def __init__(self, key: str, reason: str) -> None:
        self.key, self.reason = key, reason
        super().__init__(f"{key}: {reason}")


@dataclass(frozen=True)
class BookingEvent:
    """What one delivery says about one booking (one attendee of it)."""

    source: str
    kind: str
    trigger: str
    key: str  # the booking this is about
    external_id: str  # Cal.com uid, Calendly invitee URI
    attendee_email: str = ""
    # The booking link's learner token as presented ('' when none): proof only if it is valid.
    booking_token: str = ""
    mentor_email: str = ""
    mentor_name: str = ""
    event_types: tuple[str, ...] = ()  # ids, slugs, URIs a catalogue entry may name
    title: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    minutes: int | None = None
    previous_key: str | None = None  # rescheduled: the booking this one replaces
    next_key: str | None = None  # rescheduling: the booking that replaces this one
    booking_number: int | None = None  # Cal.com's numeric booking id (MEETING_ENDED has no uid)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class BookingType:
    """A catalogue entry: bookings of this event type spend ``amount`` of ``credit_type``.

    ``amount`` None spends the booking's length in minutes (for minute credit types).
    """

    event_type: str
    credit_type: str = MENTOR_MINUTES
    amount: int | None = None
    title: str = ""
    # The booking page learners book it on (their personal page links to it, pre-filled).
    url: str = ""


@dataclass(frozen=True)
class Charge:
    credit_type: str
    amount: int


def normalise_email(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; none means UTC) as aware UTC; else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _minutes_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end <= start:
        return None
    minutes = round((end - start).total_seconds() / 60)
    return minutes if 0 < minutes <= MAX_MINUTES else None


def _text(value: object, limit: int = 200) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def calcom_key(uid: str, email: str) -> str:
    return f"{CALCOM}:{uid}:{normalise_email(email)}"[:MAX_KEY]


def calendly_key(invitee_uri: str) -> str:
    return f"{CALENDLY}:{invitee_uri.strip()}"[:MAX_KEY]


# --- Cal.com ----------------------------------------------------------------------------------


def _calcom_attendee(payload: Mapping[str, Any]) -> str:
    """The booker: ``responses.email.value``, else the first attendee."""
    answer = _mapping(_mapping(payload.get("responses")).get("email")).get("value")
    if normalise_email(answer):
        return normalise_email(answer)
    attendees = payload.get("attendees")
    if isinstance(attendees, list):
        for attendee in attendees:
            email = normalise_email(_mapping(attendee).get("email"))
            if email:
                return email
    return ""


def _calcom_event_types(payload: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    event_type_id = payload.get("eventTypeId")
    if isinstance(event_type_id, int) and not isinstance(event_type_id, bool):
        found.append(str(event_type_id))
    for name in ("type", "eventTitle"):
        text = _text(payload.get(name))
        if text:
            found.append(text)
    return tuple(dict.fromkeys(found))


def parse_calcom(envelope: Any) -> list[BookingEvent]:
    """The booking events of one Cal.com delivery; an unknown trigger gives none.

    Raises BookingPayloadError when a known trigger lacks the booking's identity.
    """
    if not isinstance(envelope, Mapping):
        raise BookingPayloadError("the body is not a JSON object")
    trigger = _text(envelope.get("triggerEvent"), 64)
    kind = CALCOM_TRIGGERS.get(trigger)
    if kind is None:
        return []
    # Legacy scheduled MEETING_* jobs send the booking flat, without a payload wrapper.
    payload = envelope.get("payload") if "payload" in envelope else envelope
    if not isinstance(payload, Mapping):
        raise BookingPayloadError("payload is not a JSON object")
    occurred = parse_time(envelope.get("createdAt"))
    if kind == NO_SHOW:
        return _calcom_no_show(trigger, payload, occurred)
    if kind == ENDED:
        return _calcom_ended(trigger, payload, occurred)
    uid = _text(payload.get("uid"), 200)
    if not uid:
        raise BookingPayloadError("payload.uid is missing")
    email = _calcom_attendee(payload)
    if not email:
        raise BookingPayloadError("payload has no attendee e-mail (responses.email, attendees)")
    organizer = _mapping(payload.get("organizer"))
    starts, ends = parse_time(payload.get("startTime")), parse_time(payload.get("endTime"))
    length = payload.get("length")
    minutes = (
        length
        if isinstance(length, int) and not isinstance(length, bool) and 0 < length <= MAX_MINUTES
        else _minutes_between(starts, ends)
    )
    token = presented_token(_mapping(payload.get("metadata")).get(CALCOM_FIELD))
    previous = None
    if kind == RESCHEDULED:
        old_uid = _text(payload.get("rescheduleUid"), 200)
        previous = calcom_key(old_uid, email) if old_uid and old_uid != uid else None
    number = payload.get("bookingId")
    return [
        BookingEvent(
            source=CALCOM,
            kind=kind,
            trigger=trigger,
            key=calcom_key(uid, email),
            external_id=uid,
            attendee_email=email,
            booking_token=token,
            mentor_email=normalise_email(organizer.get("email")),
            mentor_name=_text(organizer.get("name")),
            event_types=_calcom_event_types(payload),
            title=_text(payload.get("eventTitle")) or _text(payload.get("title")),
            starts_at=starts,
            ends_at=ends,
            minutes=minutes,
            previous_key=previous,
            booking_number=number
            if isinstance(number, int) and not isinstance(number, bool)
            else None,
            occurred_at=occurred,
        )
    ]


def _calcom_no_show(
    trigger: str, payload: Mapping[str, Any], occurred: datetime | None
) -> list[BookingEvent]:
    uid = _text(payload.get("bookingUid"), 200)
    if not uid:
        raise BookingPayloadError("payload.bookingUid is missing")
    events = []
    attendees = payload.get("attendees")
    for attendee in attendees if isinstance(attendees, list) else []:
        attendee = _mapping(attendee)
        email = normalise_email(attendee.get("email"))
        if not email or not isinstance(attendee.get("noShow"), bool):
            continue
        events.append(
            BookingEvent(
                source=CALCOM,
                kind=NO_SHOW if attendee["noShow"] else NO_SHOW_CLEARED,
                trigger=trigger,
                key=calcom_key(uid, email),
                external_id=uid,
                attendee_email=email,
                occurred_at=occurred,
            )
        )
    return events


def _calcom_ended(
    trigger: str, payload: Mapping[str, Any], occurred: datetime | None
) -> list[BookingEvent]:
    """MEETING_ENDED carries the numeric booking id (and a uid only on some paths)."""
    number = payload.get("id", payload.get("bookingId"))
    if not isinstance(number, int) or isinstance(number, bool):
        number = None
    uid = _text(payload.get("uid"), 200)
    if number is None and not uid:
        raise BookingPayloadError("payload has neither id nor uid")
    emails = []
    attendees = payload.get("attendees")
    for attendee in attendees if isinstance(attendees, list) else []:
        email = normalise_email(_mapping(attendee).get("email"))
        if email:
            emails.append(email)
    # Without a uid the booking is found by its number; the key is then only a label.
    return [
        BookingEvent(
            source=CALCOM,
            kind=ENDED,
            trigger=trigger,
            key=calcom_key(uid, email) if uid else f"{CALCOM}:#{number}:{email}",
            external_id=uid,
            attendee_email=email,
            booking_number=number,
            occurred_at=occurred,
        )
        for email in emails or [""]
    ]


# --- Calendly ---------------------------------------------------------------------------------


def _calendly_token(payload: Mapping[str, Any]) -> str:
    """The learner token among the booking page's UTM fields ('' when none carries one)."""
    tracking = _mapping(payload.get("tracking"))
    for name in UTM_FIELDS:
        value = presented_token(tracking.get(name))
        if value.startswith(TOKEN_PREFIX):
            return value
    return ""


def parse_calendly(envelope: Any) -> list[BookingEvent]:
    """The booking event of one Calendly delivery; other events give none."""
    if not isinstance(envelope, Mapping):
        raise BookingPayloadError("the body is not a JSON object")
    name = _text(envelope.get("event"), 64)
    if name not in CALENDLY_EVENTS:
        return []
    payload = envelope.get("payload")
    if not isinstance(payload, Mapping):
        raise BookingPayloadError("payload is not a JSON object")
    occurred = parse_time(envelope.get("created_at"))
    if name.startswith("invitee_no_show."):
        # The no-show object names its invitee; an invitee payload is its own URI.
        invitee = _text(payload.get("invitee"), MAX_KEY) or _text(payload.get("uri"), MAX_KEY)
        if not invitee:
            raise BookingPayloadError("payload.invitee is missing")
        return [
            BookingEvent(
                source=CALENDLY,
                kind=NO_SHOW if name.endswith("created") else NO_SHOW_CLEARED,
                trigger=name,
                key=calendly_key(invitee),
                external_id=invitee,
                attendee_email=normalise_email(payload.get("email")),
                occurred_at=occurred,
            )
        ]
    uri = _text(payload.get("uri"), MAX_KEY)
    if not uri:
        raise BookingPayloadError("payload.uri (the invitee) is missing")
    email = normalise_email(payload.get("email"))
    if not email:
        raise BookingPayloadError("payload.email is missing")
    event = _mapping(payload.get("scheduled_event"))
    starts, ends = parse_time(event.get("start_time")), parse_time(event.get("end_time"))
    members = event.get("event_memberships")
    host = _mapping(members[0]) if isinstance(members, list) and members else {}
    event_type = _text(event.get("event_type"), MAX_KEY)
    types = [event_type, event_type.rstrip("/").rsplit("/", 1)[-1]] if event_type else []
    if _text(event.get("name")):
        types.append(_text(event.get("name")))
    kind, previous, following = CREATED, None, None
    if name == "invitee.created":
        old = _text(payload.get("old_invitee"), MAX_KEY)
        if old:
            kind, previous = RESCHEDULED, calendly_key(old)
    elif payload.get("rescheduled") is True:
        new = _text(payload.get("new_invitee"), MAX_KEY)
        kind, following = RESCHEDULING, calendly_key(new) if new else None
    else:
        kind = CANCELLED
    return [
        BookingEvent(
            source=CALENDLY,
            kind=kind,
            trigger=name,
            key=calendly_key(uri),
            external_id=uri,
            attendee_email=email,
            booking_token=_calendly_token(payload),
            mentor_email=normalise_email(host.get("user_email")),
            mentor_name=_text(host.get("user_name")),
            event_types=tuple(dict.fromkeys(t for t in types if t)),
            title=_text(event.get("name")),
            starts_at=starts,
            ends_at=ends,
            minutes=_minutes_between(starts, ends),
            previous_key=previous,
            next_key=following,
            occurred_at=occurred,
        )
    ]


# Where each stored text of a booking comes from, to name it when it cannot be stored.
STORED_FIELDS = {
    CALCOM: {
        "external_id": "payload.uid",
        "attendee_email": "the attendee's e-mail",
        "mentor_email": "payload.organizer.email",
        "mentor_name": "payload.organizer.name",
        "event_types": "the event type (payload.type, payload.eventTitle)",
        "title": "payload.eventTitle or payload.title",
        "previous_key": "payload.rescheduleUid",
    },
    CALENDLY: {
        "external_id": "payload.uri (the invitee)",
        "attendee_email": "payload.email",
        "mentor_email": "the host's e-mail (scheduled_event.event_memberships)",
        "mentor_name": "the host's name (scheduled_event.event_memberships)",
        "event_types": "scheduled_event.event_type or scheduled_event.name",
        "title": "scheduled_event.name",
        "previous_key": "payload.old_invitee",
        "next_key": "payload.new_invitee",
    },
}


def _check_storable(source: str, events: Sequence[BookingEvent]) -> None:
    """Raise BookingPayloadError naming the first stored text a database cannot hold."""
    for event in events:
        for name, where in STORED_FIELDS[source].items():
            value = getattr(event, name)
            for text in value if isinstance(value, tuple) else (value or "",):
                problem = unstorable(text)
                if problem is not None:
                    raise BookingPayloadError(f"{where} holds {problem}, which cannot be stored")


def parse_delivery(source: str, envelope: Any) -> list[BookingEvent]:
    """The booking events of a delivery from ``source`` (calcom or calendly).

    Raises BookingPayloadError when the delivery cannot be used or stored: its trigger or a
    text the booking keeps holds a NUL character or a lone surrogate.
    """
    if source not in SOURCES:
        raise BookingPayloadError(f"unknown booking source {source!r}")
    problem = unstorable(topic_of(source, envelope))
    if problem is not None:
        name = "triggerEvent" if source == CALCOM else "event"
        raise BookingPayloadError(f"{name} holds {problem}, which cannot be stored")
    events = parse_calcom(envelope) if source == CALCOM else parse_calendly(envelope)
    _check_storable(source, events)
    return events


def topic_of(source: str, envelope: Any) -> str:
    """The trigger or event name a delivery carries (for the inbox), '' when there is none."""
    if not isinstance(envelope, Mapping):
        return ""
    return _text(envelope.get("triggerEvent" if source == CALCOM else "event"), 64)


def is_handled(source: str, topic: str) -> bool:
    return topic in (CALCOM_TRIGGERS if source == CALCOM else CALENDLY_EVENTS)


# --- what a booking spends --------------------------------------------------------------------


def find_booking_type(
    event: BookingEvent, booking_types: Sequence[BookingType]
) -> BookingType | None:
    """The catalogue entry naming one of the booking's event type ids, slugs or URIs."""
    names = {name.casefold() for name in event.event_types}
    return next((t for t in booking_types if t.event_type.casefold() in names), None)


def charge_for(event: BookingEvent, booking_types: Sequence[BookingType]) -> Charge:
    """What the booking spends: its catalogue entry, else its length in mentor minutes.

    Raises BookingPayloadError when neither says an amount (no length, no entry).
    """
    entry = find_booking_type(event, booking_types)
    if entry is not None and entry.amount is not None:
        return Charge(entry.credit_type, entry.amount)
    credit_type = entry.credit_type if entry is not None else MENTOR_MINUTES
    if event.minutes is None:
        raise BookingPayloadError(
            "the booking has no length (length, start and end times) and its event type "
            f"({', '.join(event.event_types) or 'none'}) has no amount in the catalogue"
        )
    return Charge(credit_type, event.minutes)


def booking_types_from_data(entries: Iterable[Any]) -> tuple[BookingType, ...]:
    """The catalogue file's ``[[bookings]]`` tables; raises BookingTypeError naming the key."""
    result: list[BookingType] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"bookings[{index}]"
        if not isinstance(entry, Mapping):
            raise BookingTypeError(where, "must be a table")
        unknown = sorted(set(entry) - BOOKING_TYPE_KEYS)
        if unknown:
            raise BookingTypeError(
                f"{where}.{unknown[0]}",
                "unknown key (known: " + ", ".join(sorted(BOOKING_TYPE_KEYS)) + ")",
            )
        event_type = entry.get("event_type")
        if isinstance(event_type, int) and not isinstance(event_type, bool):
            event_type = str(event_type)
        if not isinstance(event_type, str) or not event_type.strip():
            raise BookingTypeError(
                f"{where}.event_type",
                "required: a Cal.com event type id or slug, or a Calendly event type URI",
            )
        event_type = event_type.strip()
        if event_type.casefold() in seen:
            raise BookingTypeError(f"{where}.event_type", f"{event_type!r} is named twice")
        seen.add(event_type.casefold())
        credit_type = entry.get("credit_type", MENTOR_MINUTES)
        if not isinstance(credit_type, str) or not CREDIT_TYPE.fullmatch(credit_type):
            raise BookingTypeError(
                f"{where}.credit_type", "lower_snake_case, such as portfolio_reviews"
            )
        amount = entry.get("amount")
        if amount is not None and (
            not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT
        ):
            raise BookingTypeError(f"{where}.amount", f"a whole number from 1 to {MAX_AMOUNT}")
        if amount is None and not credit_type.endswith("minutes"):
            raise BookingTypeError(
                f"{where}.amount",
                f"required for {credit_type} (only minute credits default to the booking's length)",
            )
        title = entry.get("title", "")
        if not isinstance(title, str):
            raise BookingTypeError(f"{where}.title", "must be text")
        url = entry.get("url", "")
        if not isinstance(url, str) or (url and not url.startswith("https://")):
            raise BookingTypeError(f"{where}.url", "the booking page's https:// address")
        result.append(BookingType(event_type, credit_type, amount, title.strip(), url.strip()))
    return tuple(result)
