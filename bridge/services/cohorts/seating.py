"""A cohort's seats allocated again after its capacity changed, first paid first served.

Capacity changes when a catalogue is applied (mentors, learners per mentor, assessment slots):
raising it promotes the waitlist in purchase order; lowering it evicts nobody (the cohort is
over capacity until seats free up). The decision is bridge.rules.seating's; this module reads
the cohort's seats, locked, and writes what changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.cohorts import SeatStatus
from bridge.rules.seating import SeatClaim, Seating, allocate, changes
from bridge.services.ledger import SEAT_HELD, Event
from bridge.store.ids import id_of
from bridge.store.models import Cohort, Seat, seat_purchase_order, utcnow


class UnknownCohortCode(PermanentError):
    """No cohort has this code."""


def seat_claim(seat: Seat) -> SeatClaim:
    """A held seat as the rule sees it (its id, zero-padded, breaks ties in row order)."""
    return SeatClaim(
        key=f"{id_of(seat):012d}",
        paid_at=seat.paid_at or seat.created_at,
        order_id=int(seat.order_id or 0),
        status=SeatStatus(seat.status),
        confirmed=seat.confirmed_at is not None,
    )


def lock_cohorts(session: Session, codes: Iterable[str]) -> dict[str, Cohort]:
    """The cohorts, locked in code order (the order every writer takes them in)."""
    found: dict[str, Cohort] = {}
    for code in sorted(set(codes)):
        row = session.exec(select(Cohort).where(Cohort.code == code).with_for_update()).first()
        if row is None:
            raise UnknownCohortCode(f"no cohort {code!r}; `bridge cohort` lists the cohorts")
        found[code] = row
    return found


def held_seats(session: Session, code: str) -> list[Seat]:
    """The cohort's active and waitlisted seats, in purchase order."""
    return list(
        session.exec(
            select(Seat)
            .where(Seat.cohort_code == code, col(Seat.status).in_(SEAT_HELD))
            .order_by(*seat_purchase_order())
        ).all()
    )


def seat_event(kind: str, seat: Seat, **data: object) -> Event:
    """An event about one seat, worded as an order note like the order path's."""
    return Event(
        kind,
        seat.learner_id,
        seat.order_id,
        {
            "cohort": seat.cohort_code,
            "seat_id": seat.id,
            "key": seat.grant_key,
            "source_key": seat.source_key,
            **data,
        },
    )


@dataclass
class Rebalanced:
    """What allocating a cohort again did: its seating and the events of the seats it moved."""

    code: str
    seating: Seating
    events: list[Event] = field(default_factory=list)

    @property
    def promoted(self) -> int:
        return sum(1 for event in self.events if event.kind == "seat_promoted")


def rebalance(
    session: Session, cohort: Cohort, *, now: datetime | None = None, capacity: int | None = None
) -> Rebalanced:
    """Allocate a locked cohort's held seats again at its capacity (or ``capacity``).

    Promoted seats are ``seat_promoted`` events (the "seat freed up" note); an unconfirmed
    seat given to someone who paid earlier goes back to the waitlist (``seat_waitlisted``).
    """
    now = now or utcnow()
    seats = held_seats(session, cohort.code)
    by_key = {f"{id_of(seat):012d}": seat for seat in seats}
    claims = [seat_claim(seat) for seat in seats]
    seating = allocate(cohort.capacity if capacity is None else capacity, claims)
    result = Rebalanced(cohort.code, seating)
    for change in changes(claims, seating):
        seat = by_key[change.key]
        seat.status = change.now
        seat.changed_at = now
        session.add(seat)
        if change.promoted:
            result.events.append(seat_event("seat_promoted", seat))
        elif change.deferred:
            result.events.append(
                seat_event("seat_waitlisted", seat, position=change.position, was="active")
            )
    session.flush()
    return result
