"""Seats in cohorts: claimed per order, released when no longer conferred, waitlist promoted.

A cohort is locked while its seats are counted; inside a page of orders it was locked and
counted when the page was read (bridge.services.ledger.page_state), and the counts are kept
current here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.cohorts import SeatStatus
from bridge.rules.entitlements import Entitlement
from bridge.services.ledger.outcomes import Event
from bridge.services.ledger.page_state import (
    CohortSeats,
    PageState,
    add_new,
    flush_unless_paged,
    lock_row,
    page_state_of,
)
from bridge.store.ids import id_of
from bridge.store.models import Cohort, Seat, utcnow

SEAT_HELD = (SeatStatus.ACTIVE, SeatStatus.WAITLISTED)


class UnknownCohort(PermanentError):
    """An offer names a cohort the database does not know (the catalogue was not synced)."""


def _lock_cohort(session: Session, code: str) -> Cohort:
    cohort = lock_row(session, Cohort, Cohort.code == code)
    if cohort is None:
        raise UnknownCohort(f"cohort {code!r} is not in the database; run `bridge catalog sync`")
    return cohort


def _count_active(session: Session, code: str) -> int:
    return session.exec(
        select(func.count())
        .select_from(Seat)
        .where(Seat.cohort_code == code, Seat.status == SeatStatus.ACTIVE)
    ).one()


def waitlist_position(session: Session, seat: Seat) -> int | None:
    """1-based place in the cohort's waitlist, or None when the seat is not waitlisted."""
    if seat.status != SeatStatus.WAITLISTED:
        return None
    ahead = session.exec(
        select(func.count())
        .select_from(Seat)
        .where(
            Seat.cohort_code == seat.cohort_code,
            Seat.status == SeatStatus.WAITLISTED,
            col(Seat.id) < id_of(seat),
        )
    ).one()
    return int(ahead) + 1


def _cohort_seats(session: Session, page: PageState | None, code: str) -> CohortSeats:
    """A cohort, locked, with its active count and waitlist: from the page, else read now."""
    if page is not None:
        held = page.cohorts.get(code)
        if held is None:
            raise UnknownCohort(
                f"cohort {code!r} is not in the database; run `bridge catalog sync`"
            )
        return held
    cohort = _lock_cohort(session, code)
    waiting = session.exec(
        select(Seat)
        .where(Seat.cohort_code == code, Seat.status == SeatStatus.WAITLISTED)
        .order_by(col(Seat.id))
    ).all()
    return CohortSeats(cohort, _count_active(session, code), list(waiting))


def _seat_data(page: PageState | None, seat: Seat, key: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cohort": seat.cohort_code,
        "seat_id": seat.id,
        "key": key,
        "source_key": seat.source_key,
    }
    if seat.id is None and page is not None:
        page.pending_ids.append((data, "seat_id", seat))
    return data


def _promote_waitlisted(page: PageState | None, held: CohortSeats) -> list[Event]:
    events: list[Event] = []
    free = held.cohort.capacity - held.active
    while free > 0 and held.waitlist:
        seat = held.waitlist.pop(0)
        seat.status = SeatStatus.ACTIVE
        seat.changed_at = utcnow()
        held.active += 1
        free -= 1
        events.append(
            Event(
                "seat_promoted",
                seat.learner_id,
                seat.order_id,
                _seat_data(page, seat, seat.grant_key),
            )
        )
    return events


def _seat_cohort(target: Entitlement) -> str:
    """A seat's cohort: the rules confer a seat only for an offer that names one."""
    if target.cohort is None:
        raise ValueError(f"seat {target.key} names no cohort")
    return target.cohort


def reconcile_seats(
    session: Session, learner_id: int, order_id: int, targets: Mapping[str, Entitlement]
) -> list[Event]:
    """Claim a seat (or a waitlist place) per target key; release seats no longer conferred.

    The cohorts are locked while their seats are counted; inside a page they were locked and
    counted when the page was read, and the counts are kept current here.
    """
    page = page_state_of(session)
    if page is not None and order_id in page.states:
        existing: Sequence[Seat] = page.seats[order_id]
    else:
        page = None
        existing = session.exec(select(Seat).where(Seat.order_id == order_id)).all()
    generations: dict[str, int] = defaultdict(int)
    held: dict[str, Seat] = {}
    for seat in existing:
        generations[seat.grant_key] += 1
        if seat.status in SEAT_HELD:
            held[seat.grant_key] = seat
    to_claim = sorted(set(targets) - set(held))
    to_release = sorted(set(held) - set(targets))
    codes = sorted(
        {_seat_cohort(targets[k]) for k in to_claim} | {held[k].cohort_code for k in to_release}
    )
    cohorts = {code: _cohort_seats(session, page, code) for code in codes if code}
    events: list[Event] = []
    for key in to_release:
        seat = held[key]
        was = seat.status
        seat.status = SeatStatus.RELEASED
        seat.changed_at = utcnow()
        session.add(seat)
        counted = cohorts[seat.cohort_code]
        if was == SeatStatus.ACTIVE:
            counted.active -= 1
        elif seat in counted.waitlist:
            counted.waitlist.remove(seat)
        events.append(
            Event(
                "seat_released",
                seat.learner_id,
                order_id,
                {**_seat_data(page, seat, key), "was": was},
            )
        )
    for key in to_claim:
        target = targets[key]
        counted = cohorts[_seat_cohort(target)]
        status = (
            SeatStatus.ACTIVE if counted.active < counted.cohort.capacity else SeatStatus.WAITLISTED
        )
        seat = Seat(
            cohort_code=counted.cohort.code,
            learner_id=learner_id,
            grant_key=key,
            source_key=f"{key}@{generations[key] + 1}",
            order_id=order_id,
            offer_sku=target.offer_sku,
            status=status,
            created_at=utcnow(),
            changed_at=utcnow(),
        )
        add_new(session, seat)
        if page is None:
            session.flush()  # the seat's id goes into the event
        data = _seat_data(page, seat, key)
        if status == SeatStatus.ACTIVE:
            counted.active += 1
        else:
            counted.waitlist.append(seat)
            data["position"] = len(counted.waitlist)
        events.append(Event(f"seat_{status}", learner_id, order_id, data))
    for counted in cohorts.values():
        events.extend(_promote_waitlisted(page, counted))
    flush_unless_paged(session)
    return events
