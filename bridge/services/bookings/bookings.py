"""Bookings from Cal.com and Calendly: debit on booking, move on reschedule, return on cancel.

Each booking event is applied in its caller's transaction. Work on one learner is serialised by
locking the learner row (as redemptions are), so twenty bookings arriving at once each see the
balance the previous one left. A booking is stored once per key (``booking.key`` is unique):
a repeated or late delivery finds it and changes nothing. Credits move only through the
redemptions service (a debit row per booking, a reversal row on return), so balances stay sums
of append-only ledger rows.

A booking debits only a learner it proves: a valid booking-link token, an earlier booking of
the same chain that was proven, or (BRIDGE_BOOKINGS_TRUST_EMAIL) the attendee's e-mail.
Matched by e-mail alone, it is held for an operator's review and spends nothing until approved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.bookings.events import (
    CANCELLED,
    CREATED,
    ENDED,
    NO_SHOW,
    NO_SHOW_CLEARED,
    RESCHEDULED,
    RESCHEDULING,
    Attendance,
    BookingEvent,
    BookingPayloadError,
    BookingStatus,
    BookingType,
    Charge,
    charge_for,
    parse_delivery,
)
from bridge.rules.inbound.payloads import unstorable
from bridge.services.bookings.links import learner_by_token
from bridge.services.bookings.redemptions import debit_credits, refund_redemption
from bridge.services.ledger import (
    balances,
    complimentary_key,
    expire_learner,
    find_learner,
    lock_learner,
)
from bridge.store.bulk import insert_ignore
from bridge.store.db import DatabaseUnavailable, describe_db_error, unit_of_work
from bridge.store.ids import MAX_ROW_ID, id_of
from bridge.store.models import Booking, Learner, LedgerEntry, Redemption, utcnow

log = logging.getLogger(__name__)

STATUSES = tuple(BookingStatus)
# What `bridge bookings --status` and the console filter by.
LISTED_STATUSES = STATUSES
# Bookings that wait for the creator: nothing was debited for them.
NEEDS_ATTENTION = (
    BookingStatus.HELD_FOR_REVIEW,
    BookingStatus.UNFUNDED,
    BookingStatus.UNKNOWN_LEARNER,
)
FORFEIT, RETURN = "forfeit", "return"
# What a booking's learner was found by (Booking.matched_by); only BY_EMAIL is no proof.
BY_TOKEN, BY_TRUSTED_EMAIL, BY_EMAIL = "token", "trusted_email", "email"
BY_OPERATOR, BY_LEGACY = "approved", "legacy"


class BookingNotFound(PermanentError):
    """No booking has the id an operator named."""


class ReviewRefused(PermanentError):
    """A booking cannot be approved or rejected now; the message says why and what instead."""


@dataclass(frozen=True)
class BookingPolicy:
    """What the creator decided: the no-show rule and the catalogue's booking types."""

    no_show: str = FORFEIT
    booking_types: tuple[BookingType, ...] = ()
    # BRIDGE_BOOKINGS_TRUST_EMAIL: the attendee's e-mail alone debits its learner.
    trust_email: bool = False


@dataclass(frozen=True)
class Applied:
    """What one booking event did, in a few words for the inbox and the log."""

    key: str
    action: str
    status: str | None = None


def _booking(session: Session, key: str) -> Booking | None:
    return session.exec(
        select(Booking)
        .where(Booking.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


@dataclass(frozen=True)
class Match:
    """The learner a booking names and what names them (``by``, one of the BY_ values)."""

    learner: Learner | None = None
    by: str = ""
    bad_token: bool = False  # the link carried a token that matches no learner

    @property
    def proven(self) -> bool:
        return self.learner is not None and self.by != BY_EMAIL


def _match(
    session: Session, event: BookingEvent, known: Iterable[Booking | None], trust_email: bool
) -> Match:
    """Whose booking this is: the proven learner of its earlier rows, else the learner of the
    link's token, else the attendee's e-mail (current or former) as no proof unless the
    creator trusts e-mails. A token that matches nobody is never outweighed by the e-mail."""
    unproven: int | None = None
    for booking in known:
        if booking is None or booking.learner_id is None:
            continue
        if booking.matched_by == BY_EMAIL:
            unproven = unproven or booking.learner_id
            continue
        return Match(session.get(Learner, booking.learner_id), booking.matched_by or BY_LEGACY)
    bad_token = False
    if event.booking_token:
        learner = learner_by_token(session, event.booking_token)
        if learner is not None:
            return Match(learner, BY_TOKEN)
        bad_token = True
    learner = find_learner(session, event.attendee_email) if event.attendee_email else None
    if learner is None and unproven is not None:
        learner = session.get(Learner, unproven)
    if learner is None:
        return Match(bad_token=bad_token)
    if trust_email and not bad_token:
        return Match(learner, BY_TRUSTED_EMAIL)
    return Match(learner, BY_EMAIL, bad_token)


def _peek(session: Session, key: str | None) -> Booking | None:
    if not key:
        return None
    return session.exec(select(Booking).where(Booking.key == key)).first()


def _idempotency_key(booking_key: str, generation: int) -> str:
    return f"booking:{hashlib.sha256(booking_key.encode()).hexdigest()[:40]}@{generation}"


def _complimentary_left(session: Session, learner_id: int) -> tuple[int | None, int]:
    """The learner's complimentary-call grant still held, and the minutes bookings left of it."""
    rows = session.exec(
        select(LedgerEntry).where(LedgerEntry.grant_key == complimentary_key(learner_id))
    ).all()
    reversed_ids = {row.reverses_id for row in rows if row.reverses_id is not None}
    held = [
        row
        for row in rows
        if row.reason == "complimentary" and row.reverses_id is None and row.id not in reversed_ids
    ]
    if not held:
        return None, 0
    grant = held[-1]
    used = session.exec(
        select(func.coalesce(func.sum(Booking.complimentary_minutes), 0)).where(
            Booking.learner_id == learner_id, Booking.status == BookingStatus.DEBITED
        )
    ).one()
    return grant.id, max(0, grant.amount - int(used))


def _fund(
    session: Session,
    booking: Booking,
    learner: Learner,
    charge: Charge,
    now: datetime,
    generation: int = 1,
) -> None:
    """Debit the charge when the balance covers it (the complimentary call first); else unfunded."""
    assert learner.id is not None
    booking.credit_type, booking.amount = charge.credit_type, charge.amount
    expire_learner(session, learner.id, now)
    balance = balances(session, learner.id).get(charge.credit_type, 0)
    if balance < charge.amount:
        booking.status = BookingStatus.UNFUNDED
        booking.redemption_id = None
        booking.complimentary_minutes = 0
        booking.note = (
            f"not enough {charge.credit_type}: {charge.amount} needed, balance {balance}"
        )[:500]
        return
    grant_id, left = (None, 0)
    if charge.credit_type == "mentor_minutes":
        grant_id, left = _complimentary_left(session, learner.id)
    complimentary = min(left, charge.amount) if grant_id is not None else 0
    redemption = debit_credits(
        session,
        learner,
        charge.credit_type,
        charge.amount,
        reference=f"{booking.source} booking {booking.external_id}"[:200],
        mentor=booking.mentor_email or booking.mentor_name,
        key=_idempotency_key(booking.key, generation),
        spends_first=grant_id if complimentary else None,
    )
    booking.status = BookingStatus.DEBITED
    booking.redemption_id = redemption.id
    booking.complimentary_minutes = complimentary
    booking.note = (
        "complimentary call"
        if complimentary == charge.amount
        else (f"{complimentary} complimentary minutes" if complimentary else "")
    )


def _return(session: Session, booking: Booking, now: datetime, why: str) -> None:
    if booking.redemption_id is not None:
        refund_redemption(session, booking.redemption_id)
    booking.status = BookingStatus.RETURNED
    booking.cancelled_at = booking.cancelled_at or now
    booking.note = why[:500]


def _placeholder(event: BookingEvent, key: str) -> BookingEvent:
    """The row of a booking known only by name (the other end of a reschedule or cancel)."""
    source, _, rest = key.partition(":")
    external = rest.rsplit(":", 1)[0] if source == "calcom" else rest
    return dataclasses.replace(
        event,
        key=key,
        external_id=external,
        starts_at=None,
        ends_at=None,
        minutes=None,
        booking_number=None,
    )


def _new_row(event: BookingEvent, match: Match, status: str, now: datetime) -> dict[str, Any]:
    return {
        "key": event.key,
        "source": event.source,
        "external_id": event.external_id[:400],
        "booking_number": event.booking_number,
        "learner_id": match.learner.id if match.learner else None,
        "matched_by": match.by if match.learner else "",
        "attendee_email": event.attendee_email[:254],
        "mentor_email": event.mentor_email[:254],
        "mentor_name": event.mentor_name[:200],
        "event_type": (event.event_types[0] if event.event_types else "")[:400],
        "title": event.title[:200],
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "minutes": event.minutes,
        "credit_type": "",
        "amount": 0,
        "complimentary_minutes": 0,
        "status": status,
        "attendance": Attendance.BOOKED,
        "note": "",
        "reviewed_by": "",
        "created_at": now,
        "updated_at": now,
    }


def _insert(
    session: Session, event: BookingEvent, match: Match, status: str, now: datetime
) -> Booking | None:
    """Store the booking's row; None when another delivery stored it first."""
    if not insert_ignore(session, Booking, _new_row(event, match, status, now), ["key"]):
        return None
    return _booking(session, event.key)


def _hold(booking: Booking, event: BookingEvent, match: Match, policy: BookingPolicy) -> None:
    """Held for review: what approval would spend is kept on the row; nothing is debited."""
    assert match.learner is not None
    booking.status = BookingStatus.HELD_FOR_REVIEW
    problem = ""
    try:
        charge = charge_for(event, policy.booking_types)
    except BookingPayloadError as exc:
        problem = f"; {exc}"
    else:
        booking.credit_type, booking.amount = charge.credit_type, charge.amount
    why = "its link's token matches no learner and " if match.bad_token else ""
    booking.note = (
        f"{why}only the attendee's e-mail names {match.learner.email}: approve "
        f"or reject it{problem}"
    )[:500]


def _create(
    session: Session,
    event: BookingEvent,
    match: Match,
    policy: BookingPolicy,
    now: datetime,
    previous: Booking | None = None,
) -> Applied:
    booking = _insert(session, event, match, BookingStatus.UNKNOWN_LEARNER, now)
    if booking is None:
        return Applied(event.key, "already known")
    if previous is not None:
        booking.previous_id = previous.id
    if match.learner is None:
        why = "its link's token matches no learner and " if match.bad_token else ""
        booking.note = f"{why}no learner is known as {event.attendee_email or '?'}"[:500]
    elif (
        previous is not None and previous.status == BookingStatus.REJECTED and match.by != BY_TOKEN
    ):
        booking.status = BookingStatus.REJECTED
        booking.note = f"rescheduled from booking #{previous.id}, which was rejected"
    elif not match.proven:
        _hold(booking, event, match, policy)
    else:
        try:
            charge = charge_for(event, policy.booking_types)
        except BookingPayloadError as exc:
            booking.status, booking.note = BookingStatus.UNFUNDED, str(exc)[:500]
        else:
            _fund(session, booking, match.learner, charge, now)
    _save(session, booking, now=now)
    return Applied(event.key, "created", booking.status)


def _save(session: Session, *bookings: Booking | None, now: datetime | None = None) -> None:
    for booking in bookings:
        if booking is not None:
            booking.updated_at = now or utcnow()
            session.add(booking)
    session.flush()


def _reschedule(
    session: Session, event: BookingEvent, match: Match, policy: BookingPolicy, now: datetime
) -> Applied:
    """The debit of the booking replaced moves to this one, never a second debit."""
    if _booking(session, event.key) is not None:
        return Applied(event.key, "already known")
    previous = _booking(session, event.previous_key) if event.previous_key else None
    if previous is None and event.previous_key:
        # The old booking's own delivery may still come (no order is promised): when it does,
        # it finds this row and spends nothing.
        previous = _insert(
            session, _placeholder(event, event.previous_key), match, BookingStatus.RESCHEDULED, now
        )
        if previous is not None:
            previous.next_key = event.key
            previous.note = "rescheduled before its booking was seen"
            _save(session, previous, now=now)
            previous = None
    if previous is None or previous.status != BookingStatus.DEBITED or not match.proven:
        applied = _create(session, event, match, policy, now, previous)
        if previous is not None and previous.status in NEEDS_ATTENTION:
            if previous.status == BookingStatus.HELD_FOR_REVIEW:
                previous.note = "rescheduled; the new booking is the one to review"
            previous.status = BookingStatus.RESCHEDULED
            previous.next_key = event.key
            _save(session, previous, now=now)
        return applied
    learner = match.learner
    assert learner is not None
    booking = _insert(session, event, match, BookingStatus.DEBITED, now)
    if booking is None:
        return Applied(event.key, "already known")
    booking.previous_id = previous.id
    try:
        charge = charge_for(event, policy.booking_types)
    except BookingPayloadError:
        charge = Charge(previous.credit_type, previous.amount)
    if charge == Charge(previous.credit_type, previous.amount):
        booking.credit_type, booking.amount = charge.credit_type, charge.amount
        booking.redemption_id = previous.redemption_id
        booking.complimentary_minutes = previous.complimentary_minutes
        booking.note = previous.note
        previous.status = BookingStatus.RESCHEDULED
        previous.complimentary_minutes = 0
        previous.note = "rescheduled; the debit moved to the new booking"
    else:
        # Another length or event type: give the old debit back, then charge the new one.
        _return(session, previous, now, "rescheduled to a booking that costs another amount")
        previous.status = BookingStatus.RESCHEDULED
        previous.complimentary_minutes = 0
        session.flush()
        _fund(session, booking, learner, charge, now)
    previous.next_key = event.key
    _save(session, previous, booking, now=now)
    return Applied(event.key, "rescheduled", booking.status)


def _rescheduling(session: Session, event: BookingEvent, match: Match, now: datetime) -> Applied:
    """Calendly's old half of a reschedule: keep the debit (or the hold) for the booking that
    follows."""
    booking = _booking(session, event.key)
    if booking is None:
        booking = _insert(session, event, match, BookingStatus.RESCHEDULED, now)
        if booking is None:
            return Applied(event.key, "already known")
        booking.note = "rescheduled before its booking was seen"
    elif booking.next_key and booking.status != BookingStatus.DEBITED:
        return Applied(event.key, "already moved")
    booking.next_key = event.next_key
    _save(session, booking, now=now)
    return Applied(event.key, "awaiting the new booking", booking.status)


def _end_held(booking: Booking, now: datetime, why: str) -> None:
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = booking.cancelled_at or now
    booking.note = why[:500]


def _cancel(session: Session, event: BookingEvent, match: Match, now: datetime) -> Applied:
    booking = _booking(session, event.key)
    if booking is None:
        # The new half of a Calendly reschedule may be cancelled before its created arrives.
        pending = session.exec(
            select(Booking)
            .where(
                Booking.next_key == event.key,
                col(Booking.status).in_((BookingStatus.DEBITED, BookingStatus.HELD_FOR_REVIEW)),
            )
            .with_for_update()
        ).first()
        if pending is not None and pending.status == BookingStatus.DEBITED:
            _return(session, pending, now, "its rescheduled booking was cancelled")
            _save(session, pending, now=now)
        elif pending is not None:
            _end_held(
                pending,
                now,
                "its rescheduled booking was cancelled before review; nothing was debited",
            )
            _save(session, pending, now=now)
        tombstone = _insert(session, event, match, BookingStatus.CANCELLED, now)
        if tombstone is not None:
            tombstone.cancelled_at = now
            tombstone.note = "cancelled before its booking was seen"
            _save(session, tombstone, now=now)
        return Applied(event.key, "cancelled (unknown booking)", BookingStatus.CANCELLED)
    if booking.status == BookingStatus.DEBITED and booking.attendance != Attendance.NO_SHOW:
        _return(session, booking, now, "cancelled")
        _save(session, booking, now=now)
        return Applied(event.key, "returned", BookingStatus.RETURNED)
    if booking.status == BookingStatus.HELD_FOR_REVIEW:
        _end_held(booking, now, "cancelled while held for review; nothing was debited")
        _save(session, booking, now=now)
        return Applied(event.key, "cancelled", BookingStatus.CANCELLED)
    if booking.status in (BookingStatus.UNFUNDED, BookingStatus.UNKNOWN_LEARNER):
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        _save(session, booking, now=now)
        return Applied(event.key, "cancelled", BookingStatus.CANCELLED)
    if booking.status == BookingStatus.REJECTED and booking.cancelled_at is None:
        booking.cancelled_at = now
        _save(session, booking, now=now)
    return Applied(event.key, "nothing to return", booking.status)


def _no_show(
    session: Session, event: BookingEvent, policy: BookingPolicy, match: Match, now: datetime
) -> Applied:
    booking = _booking(session, event.key)
    if booking is None:
        return Applied(event.key, "unknown booking")
    if event.kind == NO_SHOW:
        if booking.attendance == Attendance.NO_SHOW:
            return Applied(event.key, "already a no-show", booking.status)
        booking.attendance = Attendance.NO_SHOW
        if policy.no_show == RETURN and booking.status == BookingStatus.DEBITED:
            _return(session, booking, now, "no-show; credits returned (BRIDGE_BOOKING_NO_SHOW)")
        _save(session, booking, now=now)
        return Applied(event.key, "no-show", booking.status)
    if booking.attendance != Attendance.NO_SHOW:
        return Applied(event.key, "not a no-show", booking.status)
    booking.attendance = Attendance.HELD if booking.held_at else Attendance.BOOKED
    learner = match.learner if match.proven else None
    if booking.status == BookingStatus.RETURNED and booking.note.startswith("no-show") and learner:
        # The no-show was undone after its credits came back: spend them again, once more.
        prefix = _idempotency_key(booking.key, 0).rsplit("@", 1)[0]
        generation = 1 + len(
            session.exec(
                select(Redemption.id).where(
                    col(Redemption.idempotency_key).startswith(prefix + "@")
                )
            ).all()
        )
        _fund(
            session,
            booking,
            learner,
            Charge(booking.credit_type, booking.amount),
            now,
            generation=generation,
        )
    _save(session, booking, now=now)
    return Applied(event.key, "no-show cleared", booking.status)


def _ended(session: Session, event: BookingEvent, now: datetime) -> Applied:
    statement = select(Booking).with_for_update()
    if event.external_id:
        statement = statement.where(Booking.key == event.key)
    else:
        statement = statement.where(
            Booking.source == event.source, Booking.booking_number == event.booking_number
        )
        if event.attendee_email:
            statement = statement.where(Booking.attendee_email == event.attendee_email)
    marked = 0
    for booking in session.exec(statement).all():
        if booking.held_at is None:
            booking.held_at = event.occurred_at or now
            if booking.attendance == Attendance.BOOKED:
                booking.attendance = Attendance.HELD
            _save(session, booking, now=now)
            marked += 1
    return Applied(event.key, f"held ({marked} booking{'s' * (marked != 1)})")


def apply_booking_event(
    session: Session, event: BookingEvent, policy: BookingPolicy, now: datetime | None = None
) -> Applied:
    """Apply one booking event in the caller's transaction (the caller commits)."""
    now = now or utcnow()
    if event.kind == ENDED:
        return _ended(session, event, now)
    known = [_peek(session, event.key), _peek(session, event.previous_key)]
    match = _match(session, event, known, policy.trust_email)
    if match.learner is not None:
        match = dataclasses.replace(match, learner=lock_learner(session, id_of(match.learner)))
    if event.kind == CREATED:
        if _booking(session, event.key) is not None:
            return Applied(event.key, "already known")
        return _create(session, event, match, policy, now)
    if event.kind == RESCHEDULED:
        return _reschedule(session, event, match, policy, now)
    if event.kind == RESCHEDULING:
        return _rescheduling(session, event, match, now)
    if event.kind == CANCELLED:
        return _cancel(session, event, match, now)
    if event.kind in (NO_SHOW, NO_SHOW_CLEARED):
        return _no_show(session, event, policy, match, now)
    return Applied(event.key, "ignored")


# --- review of held bookings ---------------------------------------------------------------


@dataclass(frozen=True)
class Reviewed:
    """What an approval or rejection did: ``action`` approved, rejected, or already one."""

    action: str
    booking: dict[str, Any]
    balance: int | None = None


def _locked_by_id(session: Session, booking_id: int) -> Booking | None:
    return session.exec(
        select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _not_held(booking: Booking, approve: bool) -> Reviewed:
    """A second approval (or rejection) answers what the first did; anything else is refused."""
    if booking.reviewed_at is not None:
        done = "rejected" if booking.status == BookingStatus.REJECTED else "approved"
        if (done == "approved") == approve:
            return Reviewed(f"already {done}", booking_view(booking))
        raise ReviewRefused(
            f"booking #{booking.id} was already {done} by "
            f"{booking.reviewed_by or '?'} on {booking.reviewed_at:%Y-%m-%d}"
        )
    if booking.status == BookingStatus.CANCELLED:
        raise ReviewRefused(
            f"booking #{booking.id} was cancelled in {booking.source} before it "
            "was reviewed: nothing to approve or reject"
        )
    if booking.status == BookingStatus.RESCHEDULED and booking.next_key:
        raise ReviewRefused(
            f"booking #{booking.id} was rescheduled: review the new booking "
            "(bridge bookings --status held_for_review)"
        )
    raise ReviewRefused(f"booking #{booking.id} is {booking.status}, not held for review")


def review_booking(
    session: Session,
    booking_id: int,
    *,
    approve: bool,
    by: str,
    policy: BookingPolicy,
    reason: str = "",
    now: datetime | None = None,
) -> Reviewed:
    """Approve a booking held for review (it debits as a proven booking would have, once) or
    reject it (nothing is debited; it stays listed as rejected). The caller commits.

    Raises BookingNotFound for an unknown id, ReviewRefused when the booking is not held.
    """
    now = now or utcnow()
    for shown, text in (("the reviewer's name", by), ("the reason", reason)):
        problem = unstorable(text)
        if problem is not None:
            raise ReviewRefused(f"{shown} holds {problem}; type it again")
    peek = session.get(Booking, booking_id) if 0 < booking_id <= MAX_ROW_ID else None
    if peek is None:
        raise BookingNotFound(f"no booking has id {booking_id}")
    # The learner first, then the booking: the order every booking event takes its locks in.
    learner = lock_learner(session, peek.learner_id) if peek.learner_id is not None else None
    booking = _locked_by_id(session, booking_id)
    assert booking is not None
    if booking.status != BookingStatus.HELD_FOR_REVIEW or booking.learner_id != peek.learner_id:
        return _not_held(booking, approve)
    booking.reviewed_by, booking.reviewed_at = by.strip()[:254] or "unknown", now
    if not approve:
        booking.status = BookingStatus.REJECTED
        booking.note = (
            f"rejected by {booking.reviewed_by}" + (f": {reason.strip()}" if reason.strip() else "")
        )[:500]
        _save(session, booking, now=now)
        return Reviewed("rejected", booking_view(booking, learner))
    if learner is None or learner.id is None:
        raise ReviewRefused(f"booking #{booking.id} names no learner to debit; reject it")
    booking.matched_by = BY_OPERATOR
    if booking.credit_type:
        _fund(session, booking, learner, Charge(booking.credit_type, booking.amount), now)
        if (
            booking.status == BookingStatus.DEBITED
            and booking.attendance == Attendance.NO_SHOW
            and policy.no_show == RETURN
        ):
            _return(session, booking, now, "no-show; credits returned (BRIDGE_BOOKING_NO_SHOW)")
    else:
        booking.status = BookingStatus.UNFUNDED
        booking.note = "approved, but neither its length nor the catalogue says what it spends"
    _save(session, booking, now=now)
    balance = (
        balances(session, learner.id).get(booking.credit_type, 0) if booking.credit_type else None
    )
    return Reviewed("approved", booking_view(booking, learner), balance)


def process_booking_delivery(
    engine: Engine,
    source: str,
    envelope: Any,
    policy: Callable[[], BookingPolicy],
    *,
    now: Callable[[], datetime] = utcnow,
) -> str:
    """Apply every booking event of one delivery, each in its own transaction."""
    events = parse_delivery(source, envelope)
    if not events:
        return f"{source}: nothing to do"
    current = policy()
    done: list[str] = []
    for event in events:
        with unit_of_work(engine) as session:
            applied = apply_booking_event(session, event, current, now())
            session.commit()
        log.info(
            "booking %s: %s",
            applied.action,
            applied.status or "-",
            extra={"source": source, "trigger": event.trigger},
        )
        done.append(f"{applied.action}" + (f" ({applied.status})" if applied.status else ""))
    return f"{source} {events[0].trigger}: " + ", ".join(done)


# --- reading ----------------------------------------------------------------------------------


def booking_view(booking: Booking, learner: Learner | None = None) -> dict[str, Any]:
    """A booking as the CLI, the API and the console show it."""

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": booking.id,
        "source": booking.source,
        "booking": booking.external_id,
        "status": booking.status,
        "attendance": booking.attendance,
        "matched_by": booking.matched_by or None,
        "learner": (
            {"id": learner.id, "email": learner.email, "customer_id": learner.woo_customer_id}
            if learner
            else None
        ),
        "attendee_email": booking.attendee_email,
        "mentor": booking.mentor_email,
        "mentor_name": booking.mentor_name,
        "event_type": booking.event_type,
        "title": booking.title,
        "starts_at": iso(booking.starts_at),
        "ends_at": iso(booking.ends_at),
        "minutes": booking.minutes,
        "credit_type": booking.credit_type or None,
        "amount": booking.amount if booking.credit_type else None,
        "complimentary_minutes": booking.complimentary_minutes,
        "redemption_id": booking.redemption_id,
        "note": booking.note,
        "created_at": booking.created_at.isoformat(),
        "cancelled_at": iso(booking.cancelled_at),
        "held_at": iso(booking.held_at),
        "reviewed_by": booking.reviewed_by or None,
        "reviewed_at": iso(booking.reviewed_at),
    }


def list_bookings(
    session: Session,
    *,
    status: str | None = None,
    learner_id: int | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Bookings newest first, optionally of one status or one learner; ``offset`` pages."""
    statement = select(Booking, Learner).join(
        Learner, col(Learner.id) == col(Booking.learner_id), isouter=True
    )
    if status is not None:
        statement = statement.where(Booking.status == status)
    if learner_id is not None:
        statement = statement.where(Booking.learner_id == learner_id)
    rows = session.exec(
        statement.order_by(col(Booking.id).desc()).offset(offset).limit(limit)
    ).all()
    return [booking_view(booking, learner) for booking, learner in rows]


def booking_counts(engine: Engine) -> dict[str, int]:
    """Bookings by status, every status named (NEEDS_ATTENTION ones need the creator)."""
    try:
        with unit_of_work(engine) as session:
            rows = session.exec(select(Booking.status, func.count()).group_by(Booking.status)).all()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None
    counts: dict[str, int] = {status: 0 for status in STATUSES}
    counts.update({status: int(n) for status, n in rows})
    return counts
