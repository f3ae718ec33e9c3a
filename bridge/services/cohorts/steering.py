"""Steering a cohort by hand: promote out of turn, take off the waitlist, move to another cohort.

Each action writes seat rows, never rewrites one: the learner's seat row ends (released, or
removed for a learner taken off the waitlist, so the order does not claim it again) and a new
row of the same claim (the next generation of its source key) starts where the operator put it,
naming who did it. It is audited with the operator, told to the learner once in a customer note,
and both cohorts' stock is written back. Moving takes the learner's paid date along: in the
other cohort they hold a seat if one is free, else their place in its waitlist by purchase order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.cohorts import SeatStatus
from bridge.services.audit import Via, record_action
from bridge.services.cohorts.seating import held_seats, lock_cohorts, rebalance, seat_event
from bridge.services.ledger import Event, OrderOutcome, find_learner
from bridge.services.writeback import enqueue_cohort_stock, enqueue_writebacks_for
from bridge.settings import Settings
from bridge.store.ids import id_of
from bridge.store.models import AuditEvent, Cohort, Learner, Seat, utcnow

ACTIONS = ("promote", "remove", "move")


class SteeringError(PermanentError):
    """The action cannot be done as asked (unknown learner, no such seat, same cohort...)."""


class AlreadySteered(SteeringError):
    """This confirmation (its reference) was already carried out: nothing is done twice."""


@dataclass
class Steered:
    """What one steering action did (or, in a dry run, would do)."""

    action: str
    cohort: str
    learner: str
    learner_id: int
    order_id: int | None
    was: str  # active or waitlisted, in ``cohort``
    now: str  # active, waitlisted or removed (in ``to`` for a move)
    to: str | None = None
    position: int | None = None  # in the waitlist, when ``now`` is waitlisted
    seat_id: int | None = None  # the new row (None for a removal)
    over_capacity: int = 0  # of the cohort the learner now holds a seat in
    promoted: list[str] = field(default_factory=list)  # others moved up by a freed seat
    writebacks: list[str] = field(default_factory=list)
    dry_run: bool = False

    def describe(self) -> str:
        verb = "would be" if self.dry_run else "was"
        if self.action == "promote":
            text = f"{self.learner} {verb} promoted out of turn in {self.cohort}"
        elif self.action == "remove":
            text = f"{self.learner} {verb} taken off the waitlist of {self.cohort}"
        else:
            where = "a seat" if self.now == SeatStatus.ACTIVE else f"waitlist place {self.position}"
            text = f"{self.learner} {verb} moved from {self.cohort} to {self.to}: {where}"
        if self.over_capacity:
            text += f" ({self.to or self.cohort} over capacity by {self.over_capacity})"
        if self.promoted:
            text += f"; freed seat goes to {', '.join(self.promoted)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "cohort": self.cohort,
            "to": self.to,
            "learner": self.learner,
            "learner_id": self.learner_id,
            "order_id": self.order_id,
            "was": self.was,
            "now": self.now,
            "position": self.position,
            "seat_id": self.seat_id,
            "over_capacity": self.over_capacity,
            "promoted": self.promoted,
            "writebacks": len(self.writebacks),
            "dry_run": self.dry_run,
        }


def _learner(session: Session, ref: str) -> Learner:
    learner = find_learner(session, ref)
    if learner is None:
        raise SteeringError(f"no learner {ref!r}; `bridge learners --search` finds them")
    return learner


def _their_seat(session: Session, code: str, learner: Learner, wanted: Sequence[str]) -> Seat:
    seats = [s for s in held_seats(session, code) if s.learner_id == learner.id]
    for status in wanted:
        for seat in seats:
            if seat.status == status:
                return seat
    if not seats:
        raise SteeringError(f"{learner.email} holds no seat and no waitlist place in {code}")
    raise SteeringError(f"{learner.email} is not on the waitlist of {code} (they hold a seat)")


def _next_source_key(session: Session, seat: Seat) -> str:
    generations = session.exec(select(Seat.id).where(Seat.grant_key == seat.grant_key)).all()
    return f"{seat.grant_key}@{len(generations) + 1}"


def _successor(
    session: Session, seat: Seat, cohort: str, status: SeatStatus, reason: str, now: datetime
) -> Seat:
    row = Seat(
        cohort_code=cohort,
        learner_id=seat.learner_id,
        grant_key=seat.grant_key,
        source_key=_next_source_key(session, seat),
        order_id=seat.order_id,
        offer_sku=seat.offer_sku,
        status=status,
        created_at=now,
        changed_at=now,
        paid_at=seat.paid_at or seat.created_at,
        reason=reason[:200],
    )
    session.add(row)
    session.flush()
    return row


def _end(session: Session, seat: Seat, status: SeatStatus, now: datetime) -> None:
    seat.status = status
    seat.changed_at = now
    session.add(seat)
    session.flush()


def steer(
    session: Session,
    action: str,
    code: str,
    learner_ref: str,
    *,
    catalogue: Catalogue,
    settings: Settings,
    operator: str,
    via: Via | str,
    to: str | None = None,
    reason: str = "",
    now: datetime | None = None,
    reference: str | None = None,
) -> Steered:
    """Do one steering action inside the caller's unit of work (the caller commits).

    ``reference`` names one confirmation (the console's review form makes one): the same
    reference again raises AlreadySteered instead of acting or failing on the changed seats.
    """
    if action not in ACTIONS:
        raise SteeringError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if action == "move" and not to:
        raise SteeringError("move needs --to CODE: the cohort to move the learner to")
    if action != "move" and to:
        raise SteeringError(f"--to goes with move, not with {action}")
    if to is not None and to == code:
        raise SteeringError(f"{code} is the cohort the learner is in; --to names another")
    now = now or utcnow()
    cohorts = lock_cohorts(session, [code, *([to] if to else [])])
    if reference and _done_before(session, action, code, reference):
        raise AlreadySteered(f"this {action} was already confirmed; nothing was done twice")
    learner = _learner(session, learner_ref)
    if action == "move":
        assert to is not None
        _check_move(cohorts[to], now)
        seat = _their_seat(session, code, learner, (SeatStatus.ACTIVE, SeatStatus.WAITLISTED))
    else:
        seat = _their_seat(session, code, learner, (SeatStatus.WAITLISTED,))
    result = Steered(action, code, learner.email, id_of(learner), seat.order_id, seat.status, "")
    events: list[Event] = []
    if action == "promote":
        _end(session, seat, SeatStatus.RELEASED, now)
        new = _successor(
            session, seat, code, SeatStatus.ACTIVE, f"promoted out of turn by {operator}", now
        )
        new.confirmed_at = now  # the note tells them: allocation never takes it back
        result.now, result.seat_id = SeatStatus.ACTIVE, new.id
        events.append(seat_event("seat_promoted", new))
        after = rebalance(session, cohorts[code], now=now)
        events += after.events
        result.over_capacity = after.seating.over_capacity
    elif action == "remove":
        _end(session, seat, SeatStatus.REMOVED, now)
        seat.reason = f"taken off the waitlist by {operator}"[:200]
        events.append(seat_event("seat_removed", seat))
        events += rebalance(session, cohorts[code], now=now).events
        result.now = SeatStatus.REMOVED
    else:
        assert to is not None
        was_active = seat.status == SeatStatus.ACTIVE
        _end(session, seat, SeatStatus.RELEASED, now)
        new = _successor(
            session, seat, to, SeatStatus.WAITLISTED, f"moved from {code} by {operator}", now
        )
        placed = rebalance(session, cohorts[to], now=now)
        mine = next((e for e in placed.events if e.data.get("seat_id") == new.id), None)
        events += [e for e in placed.events if e is not mine]
        result.to, result.seat_id, result.now = to, new.id, new.status
        result.position = placed.seating.position_of(f"{id_of(new):012d}")
        result.over_capacity = placed.seating.over_capacity
        events.append(seat_event("seat_moved", new, position=result.position))
        if new.status == SeatStatus.WAITLISTED:
            events.append(seat_event("seat_waitlisted", new, position=result.position))
        if was_active:
            events += rebalance(session, cohorts[code], now=now).events
    others = {e.learner_id for e in events if e.kind == "seat_promoted"} - {learner.id}
    result.promoted = sorted(
        row.email
        for row in session.exec(select(Learner).where(col(Learner.id).in_(sorted(others)))).all()
    )
    outcomes: dict[int, OrderOutcome] = {}
    for event in events:
        order = int(event.order_id or 0)
        outcomes.setdefault(order, OrderOutcome(order, True, event.learner_id, [])).events.append(
            event
        )
    result.writebacks = enqueue_writebacks_for(
        session, [(outcome, True) for outcome in outcomes.values()], catalogue, settings, now=now
    )
    result.writebacks += enqueue_cohort_stock(session, catalogue, sorted(cohorts), always=True)
    record_action(
        session,
        operator=operator,
        via=via,
        action=f"cohort.{action}",
        subject=f"cohort:{code}",
        reason=reason,
        details={
            "learner_id": result.learner_id,
            "order_id": result.order_id,
            "seat_id": id_of(seat),
            "new_seat_id": result.seat_id,
            "to": to,
            "was": result.was,
            "now": result.now,
            **({"reference": reference} if reference else {}),
        },
        at=now,
    )
    return result


def _done_before(session: Session, action: str, code: str, reference: str) -> bool:
    """Whether a steering of this cohort was audited with this confirmation's reference (read
    after the cohorts' lock, so a double submit waits for the first and then sees it)."""
    rows = session.exec(
        select(AuditEvent.details).where(
            AuditEvent.action == f"cohort.{action}", AuditEvent.subject == f"cohort:{code}"
        )
    ).all()
    return any(isinstance(d, dict) and d.get("reference") == reference for d in rows)


def _check_move(target: Cohort, now: datetime) -> None:
    ends = target.ends_at
    if ends is not None and ends.replace(tzinfo=None) <= now.replace(tzinfo=None):
        raise SteeringError(f"{target.code} has ended; move the learner to a cohort still to come")
