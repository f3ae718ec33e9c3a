"""First paid, first served (bridge.rules.seating): who holds a cohort's seats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.rules.cohorts import SeatStatus
from bridge.rules.seating import SeatClaim, allocate, changes

ACTIVE, WAITLISTED = SeatStatus.ACTIVE, SeatStatus.WAITLISTED
DAY = datetime(2026, 8, 14)


def _claim(order: int, day: int, status: SeatStatus | None = None, **kw: object) -> SeatClaim:
    return SeatClaim(
        key=f"o{order}",
        paid_at=DAY + timedelta(days=day),
        order_id=order,
        status=status,
        confirmed=bool(kw.get("confirmed", False)),
    )


def _arrive(capacity: int, arrivals: list[SeatClaim], told: bool = False) -> dict[str, SeatStatus]:
    """Apply claims one at a time, as the bridge learns of them; ``told``: each pass tells."""
    held: dict[str, SeatClaim] = {}
    for new in arrivals:
        claims = [*held.values(), new]
        seating = allocate(capacity, claims)
        for claim in claims:
            status = seating.status_of(claim.key)
            confirmed = claim.confirmed or (told and status == ACTIVE)
            held[claim.key] = SeatClaim(claim.key, claim.paid_at, claim.order_id, status, confirmed)
    return {key: claim.status for key, claim in held.items() if claim.status}


def test_seats_go_to_the_earliest_payers_whatever_order_they_arrive_in() -> None:
    """The issue's shop: orders paid 08-14, 08-24, 08-29, 09-03 read newest first, 3 seats."""
    orders = [_claim(5, 20), _claim(4, 15), _claim(3, 10), _claim(1, 0)]
    seats = _arrive(3, orders)
    assert seats == {"o1": ACTIVE, "o3": ACTIVE, "o4": ACTIVE, "o5": WAITLISTED}


def test_a_confirmed_seat_is_never_taken_back_by_an_earlier_payer_arriving_later() -> None:
    """The later arrival heads the waitlist instead, ahead of those who paid after it."""
    orders = [_claim(2, 5), _claim(3, 6), _claim(1, 0)]
    seats = _arrive(1, orders, told=True)
    assert seats == {"o2": ACTIVE, "o3": WAITLISTED, "o1": WAITLISTED}
    seating = allocate(
        1, [_claim(2, 5, ACTIVE, confirmed=True), _claim(3, 6, WAITLISTED), _claim(1, 0)]
    )
    assert seating.waitlisted == ("o1", "o3")


def test_lowering_capacity_evicts_nobody_and_says_how_far_over_it_is() -> None:
    """Three held seats, capacity 1: all stay, over capacity by 2, newcomers wait."""
    held = [_claim(n, n, ACTIVE) for n in (1, 2, 3)]
    seating = allocate(1, [*held, _claim(4, 4)])
    assert seating.active == ("o1", "o2", "o3")
    assert seating.over_capacity == 2
    assert seating.waitlisted == ("o4",)


def test_raising_capacity_promotes_the_waitlist_in_purchase_order() -> None:
    """Capacity 3 -> 4 with three waiting: the one who paid first is promoted, not a newcomer."""
    claims = [
        *(_claim(n, n, ACTIVE, confirmed=True) for n in (1, 2, 3)),
        _claim(6, 9, WAITLISTED),
        _claim(4, 7, WAITLISTED),
        _claim(5, 8, WAITLISTED),
    ]
    seating = allocate(4, claims)
    moved = changes(claims, seating)
    assert [(c.key, c.promoted) for c in moved] == [("o4", True)]
    assert seating.waitlisted == ("o5", "o6")
    later = allocate(
        4, [*(c for c in claims if c.key != "o4"), _claim(4, 7, ACTIVE), _claim(9, 30)]
    )
    assert later.waitlisted == ("o5", "o6", "o9")


def test_an_unconfirmed_seat_given_to_an_earlier_payer_is_a_deferral() -> None:
    """History nobody was told about is allocated strictly in purchase order."""
    claims = [_claim(5, 20, ACTIVE), _claim(1, 0)]
    moved = changes(claims, allocate(1, claims))
    assert [(c.key, c.was, c.now, c.deferred) for c in moved] == [
        ("o1", None, ACTIVE, False),
        ("o5", ACTIVE, WAITLISTED, True),
    ]


def test_aware_and_naive_paid_dates_compare_as_utc() -> None:
    """A paid date with a zone sorts with the store's naive UTC ones."""
    aware = SeatClaim("a", datetime(2026, 8, 14, 10, tzinfo=UTC), 9)
    naive = SeatClaim("b", datetime(2026, 8, 14, 11), 1)
    assert allocate(1, [naive, aware]).active == ("a",)


# Paid days (repeats: two orders paid the same day queue by order id).
_orders = st.lists(st.integers(min_value=0, max_value=40), min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=0, max_value=6),
    orders=_orders,
    data=st.data(),
)
def test_any_arrival_order_gives_the_same_seats_when_nobody_was_told(
    capacity: int, orders: list[int], data: st.DataObject
) -> None:
    """The property: seats depend on who paid when, never on when the bridge heard of it."""
    ids = data.draw(st.permutations(range(100, 100 + len(orders))))
    claims = [SeatClaim(f"k{n}", DAY + timedelta(days=day), ids[n]) for n, day in enumerate(orders)]
    arrival = data.draw(st.permutations(claims))
    expected = allocate(capacity, claims)
    assert _arrive(capacity, list(arrival)) == {
        key: expected.status_of(key) for key in (c.key for c in claims)
    }
    sorted_seats = allocate(capacity, claims)
    assert list(sorted_seats.active) == [c.key for c in sorted(claims, key=_by_purchase)][:capacity]


def _by_purchase(claim: SeatClaim) -> tuple[datetime, int, str]:
    assert claim.paid_at is not None
    return (claim.paid_at, claim.order_id, claim.key)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=0, max_value=5),
    orders=_orders,
    data=st.data(),
)
def test_confirmed_seats_stay_whatever_arrives_later(
    capacity: int, orders: list[int], data: st.DataObject
) -> None:
    """Told passes: every seat told active stays active through every later arrival."""
    claims = [SeatClaim(f"k{n}", DAY + timedelta(days=day), n) for n, day in enumerate(orders)]
    arrival = list(data.draw(st.permutations(claims)))
    held: dict[str, SeatClaim] = {}
    ever_told: set[str] = set()
    for new in arrival:
        seating = allocate(capacity, [*held.values(), new])
        assert ever_told <= set(seating.active)
        assert len(seating.active) <= max(capacity, 0)
        for claim in [*held.values(), new]:
            status = seating.status_of(claim.key)
            if status == ACTIVE:
                ever_told.add(claim.key)
            held[claim.key] = SeatClaim(
                claim.key, claim.paid_at, claim.order_id, status, status == ACTIVE
            )
