"""Seats in cohorts: claimed per order, released when no longer conferred, waitlist promoted.

Who gets a seat is decided by one pure rule, ``bridge.rules.seating.allocate_seats`` (first
paid, first served; a seat the customer was told of is never taken back): this
module hands it the cohorts' held seats (read and locked with the page, kept current while the
page's orders are applied), the order's seats it no longer confers and the seats it wants,
then records the decisions on the page and words them as events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from bridge.errors import PermanentError
from bridge.rules.cohorts import SeatDecision, SeatRow, SeatStatus, SeatWanted
from bridge.rules.entitlements import Entitlement, OrderFacts
from bridge.rules.seating import allocate_seats
from bridge.services.ledger.outcomes import Event
from bridge.services.ledger.page_state import Page
from bridge.store.ids import id_of
from bridge.store.models import Seat, seat_purchase_order

SEAT_HELD = (SeatStatus.ACTIVE, SeatStatus.WAITLISTED)


class UnknownCohort(PermanentError):
    """An offer names a cohort the database does not know (the catalogue was not synced)."""


def waitlist_position(session: Session, seat: Seat) -> int | None:
    """1-based place in the cohort's waitlist, or None when the seat is not waitlisted."""
    if seat.status != SeatStatus.WAITLISTED:
        return None
    waiting = session.exec(
        select(Seat.id)
        .where(Seat.cohort_code == seat.cohort_code, Seat.status == SeatStatus.WAITLISTED)
        .order_by(*seat_purchase_order())
    ).all()
    return list(waiting).index(id_of(seat)) + 1 if id_of(seat) in waiting else None


def _seat_cohort(target: Entitlement) -> str:
    """A seat's cohort: the rules confer a seat only for an offer that names one."""
    if target.cohort is None:
        raise ValueError(f"seat {target.key} names no cohort")
    return target.cohort


def _seat_data(page: Page, seat: SeatRow, key: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cohort": seat.cohort_code,
        "seat_id": seat.id,
        "key": key,
        "source_key": seat.source_key,
    }
    page.wait_for_id(data, "seat_id", seat)
    return data


def reconcile_seats(
    page: Page, learner_id: int, facts: OrderFacts, targets: Mapping[str, Entitlement]
) -> list[Event]:
    """Claim a seat (or a waitlist place) per target key; release seats no longer conferred."""
    order_id = facts.order_id
    existing = page.seats[order_id]
    generations: dict[str, int] = defaultdict(int)
    held: dict[str, SeatRow] = {}
    settled: set[str] = set()  # taken off the waitlist by an operator: not claimed again
    for seat in existing:
        generations[seat.grant_key] += 1
        if seat.status in SEAT_HELD:
            held[seat.grant_key] = seat
        elif seat.status == SeatStatus.REMOVED:
            settled.add(seat.grant_key)
    to_claim = sorted(set(targets) - set(held) - settled)
    to_release = sorted(set(held) - set(targets))
    if not to_claim and not to_release:
        return []
    codes = sorted(
        {_seat_cohort(targets[k]) for k in to_claim} | {held[k].cohort_code for k in to_release}
    )
    page.lock_cohorts(codes)
    missing = [code for code in codes if code not in page.cohorts]
    if missing:
        raise UnknownCohort(
            f"cohort {missing[0]!r} is not in the database; run `bridge catalog sync`"
        )
    cohorts = {code: page.cohorts[code] for code in codes}
    paid_at = facts.date_paid_gmt or facts.date_created_gmt
    decisions = allocate_seats(
        cohorts,
        [held[key] for key in to_release],
        [
            SeatWanted(
                cohort=_seat_cohort(targets[key]),
                grant_key=key,
                source_key=f"{key}@{generations[key] + 1}",
                learner_id=learner_id,
                order_id=order_id,
                offer_sku=targets[key].offer_sku,
                paid_at=paid_at,
            )
            for key in to_claim
        ],
        page.now,
    )
    return [_record(page, decision, order_id) for decision in decisions]


def _record(page: Page, decision: SeatDecision, order_id: int) -> Event:
    """Write one decision into the page's rows, and the event it makes."""
    seat = decision.seat
    cohort = page.cohorts[seat.cohort_code]
    if decision.was is None:
        page.add(seat)
        page.seats[order_id].append(seat)
        if decision.now in SEAT_HELD:
            cohort.held.append(seat)
        data = _seat_data(page, seat, seat.grant_key)
        if decision.position is not None:
            data["position"] = decision.position
        return Event(f"seat_{decision.now}", seat.learner_id, order_id, data)
    seat.status = decision.now
    seat.changed_at = page.now
    page.changed(seat)
    if decision.now not in SEAT_HELD and seat in cohort.held:
        cohort.held.remove(seat)
    if decision.now == SeatStatus.RELEASED:
        data = _seat_data(page, seat, seat.grant_key)
        data["was"] = decision.was
        return Event("seat_released", seat.learner_id, order_id, data)
    kind = "seat_promoted" if decision.now == SeatStatus.ACTIVE else f"seat_{decision.now}"
    data = _seat_data(page, seat, seat.grant_key)
    if decision.position is not None:  # an unconfirmed seat given to someone who paid earlier
        data["position"] = decision.position
        data["was"] = decision.was
    return Event(kind, seat.learner_id, seat.order_id, data)
