"""Who holds a cohort's seats and who waits (pure): first paid, first served.

Seats go in purchase order (the order's paid date, then the order id), whatever order the bridge
learns of the orders in. Two things are never undone by that order: a seat the customer was told
they hold (a confirmed seat), and a seat held when capacity went down (the cohort is over
capacity until seats free up). Everything else is allocated again, in purchase order, every time
a cohort's seats change, so history nobody was told about ends up as if it had arrived sorted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bridge.rules.cohorts import (
    CohortSeating,
    SeatDecision,
    SeatRow,
    SeatStatus,
    SeatWanted,
)

# An order without a paid date (never, for a seat a paid order confers) queues after the rest.
_UNPAID = datetime.max


@dataclass(frozen=True)
class SeatClaim:
    """One claim on a seat: an existing seat (``status`` held now) or a new one (None).

    ``key`` identifies it among the cohort's claims (a seat id or a grant key); ``confirmed``:
    the customer was told they hold an active seat, so it is never taken back.
    """

    key: str
    paid_at: datetime | None
    order_id: int
    status: SeatStatus | None = None
    confirmed: bool = False


def purchase_order(claim: SeatClaim) -> tuple[datetime, int, str]:
    """How claims queue: paid date, then order id, then the claim's key (lines of one order)."""
    paid = claim.paid_at
    if paid is None:
        paid = _UNPAID
    elif paid.tzinfo is not None:
        paid = paid.astimezone(UTC).replace(tzinfo=None)  # the store's naive UTC
    return (paid, claim.order_id, claim.key)


@dataclass(frozen=True)
class Seating:
    """A cohort's seats after allocation: keys of active claims and of the waitlist, in order."""

    capacity: int
    active: tuple[str, ...]
    waitlisted: tuple[str, ...]

    def status_of(self, key: str) -> SeatStatus:
        return SeatStatus.ACTIVE if key in self.active else SeatStatus.WAITLISTED

    def position_of(self, key: str) -> int | None:
        """1-based place on the waitlist, None for an active claim."""
        return self.waitlisted.index(key) + 1 if key in self.waitlisted else None

    @property
    def over_capacity(self) -> int:
        """Seats held beyond capacity (capacity went down while they were held)."""
        return max(len(self.active) - self.capacity, 0)

    @property
    def left(self) -> int:
        return max(self.capacity - len(self.active), 0)


def allocate(capacity: int, claims: Iterable[SeatClaim]) -> Seating:
    """Decide which claims hold a seat and the waitlist's order.

    Confirmed active seats stay. The other claims (unconfirmed active seats, the waitlist and new
    claims) take the remaining seats in purchase order and queue behind them in the same order.
    As many seats are active afterwards as capacity allows, and never fewer than were active
    before (lowering capacity evicts nobody; a seat frees up only when its claim is released).
    """
    claims = list(claims)
    keys = [claim.key for claim in claims]
    if len(set(keys)) != len(keys):
        raise ValueError("two claims share a key")
    held = [claim for claim in claims if claim.status == SeatStatus.ACTIVE]
    kept = [claim for claim in held if claim.confirmed]
    kept_keys = {claim.key for claim in kept}
    others = sorted((claim for claim in claims if claim.key not in kept_keys), key=purchase_order)
    seats = max(capacity, len(held)) - len(kept)
    active = sorted(kept + others[: max(seats, 0)], key=purchase_order)
    return Seating(
        capacity=capacity,
        active=tuple(claim.key for claim in active),
        waitlisted=tuple(claim.key for claim in others[max(seats, 0) :]),
    )


@dataclass(frozen=True)
class SeatChange:
    """What allocation did to one claim: its status before (None: new) and after."""

    key: str
    was: SeatStatus | None
    now: SeatStatus
    position: int | None = None

    @property
    def promoted(self) -> bool:
        return self.was == SeatStatus.WAITLISTED and self.now == SeatStatus.ACTIVE

    @property
    def deferred(self) -> bool:
        """An unconfirmed seat given to someone who paid earlier: back on the waitlist."""
        return self.was == SeatStatus.ACTIVE and self.now == SeatStatus.WAITLISTED


def changes(claims: Sequence[SeatClaim], seating: Seating) -> list[SeatChange]:
    """The claims whose status is new or different after ``seating``, in purchase order."""
    active = set(seating.active)
    places = {key: place for place, key in enumerate(seating.waitlisted, start=1)}
    out: list[SeatChange] = []
    for claim in sorted(claims, key=purchase_order):
        now = SeatStatus.ACTIVE if claim.key in active else SeatStatus.WAITLISTED
        if claim.status != now:
            out.append(SeatChange(claim.key, claim.status, now, places.get(claim.key)))
    return out


def _claim_of(seat: SeatRow) -> SeatClaim:
    return SeatClaim(
        key=seat.source_key,
        paid_at=seat.paid_at or seat.created_at,
        order_id=int(seat.order_id or 0),
        status=SeatStatus(seat.status),
        confirmed=seat.confirmed_at is not None,
    )


def allocate_seats(
    cohorts: Mapping[str, CohortSeating],
    release: Sequence[SeatRow],
    wanted: Sequence[SeatWanted],
    now: datetime,
) -> list[SeatDecision]:
    """The order path's seam: one order's change to its seats, decided first paid, first served.

    ``cohorts``: every cohort named by ``release`` or ``wanted``, with all its held seats;
    ``release``: held seats the order no longer confers; ``wanted``: seats it confers and does
    not hold. The released seats leave, then each cohort's claims (held and wanted) are
    allocated again in purchase order (``allocate``): a wanted seat may take a seat from an
    unconfirmed one that paid later, which goes back to the waitlist. Returns the decisions in
    the order customers hear of them: releases, new seats, then the other seats that moved
    (promotions, deferrals), each cohort in code order. Nothing is mutated.
    """
    decisions = [SeatDecision(seat, seat.status, SeatStatus.RELEASED) for seat in release]
    gone = {id(seat) for seat in release}
    new_rows: dict[str, list[SeatRow]] = {}
    for want in wanted:
        new_rows.setdefault(want.cohort, []).append(
            SeatRow(
                cohort_code=want.cohort,
                learner_id=want.learner_id,
                grant_key=want.grant_key,
                source_key=want.source_key,
                status=SeatStatus.WAITLISTED,
                order_id=want.order_id,
                offer_sku=want.offer_sku,
                created_at=now,
                changed_at=now,
                paid_at=want.paid_at,
            )
        )
    moved: list[SeatDecision] = []
    for code in sorted(cohorts):
        cohort = cohorts[code]
        held = [seat for seat in cohort.held if id(seat) not in gone]
        fresh = new_rows.get(code, [])
        claims = [_claim_of(seat) for seat in held]
        claims += [replace(_claim_of(seat), status=None) for seat in fresh]
        seating = allocate(cohort.capacity, claims)
        for seat in fresh:
            status = seating.status_of(seat.source_key)
            seat.status = status
            decisions.append(SeatDecision(seat, None, status, seating.position_of(seat.source_key)))
        for seat in held:
            status = seating.status_of(seat.source_key)
            if status != seat.status:
                moved.append(
                    SeatDecision(seat, seat.status, status, seating.position_of(seat.source_key))
                )
    return decisions + moved
