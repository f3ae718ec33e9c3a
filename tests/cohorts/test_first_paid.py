"""First paid, first served through the real order path: a full sync reads orders by
modification date, and the earliest payers still get the seats (both databases)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import responses
from sqlmodel import col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.orders import apply_orders, process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Learner, Seat, seat_purchase_order, utcnow
from sync.context import RunOptions
from sync.jobs import run_job
from tests.support.cohorts import notes_for
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.sync import HttpShop, make_ports

T0 = (utcnow() - timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
def orders_shop(http: responses.RequestsMock) -> HttpShop:
    return HttpShop(http)


def _seats(engine: Any) -> dict[str, list[str]]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(Seat, Learner)
            .join(Learner, col(Learner.id) == col(Seat.learner_id))
            .where(Seat.cohort_code == "DV-2027-01")
            .order_by(*seat_purchase_order())
        ).all()
    out: dict[str, list[str]] = {}
    for seat, learner in rows:
        out.setdefault(seat.status, []).append(learner.email.split("@")[0])
    return out


# The real shop: paid 08-14, 08-19 (refunded later), 08-24, 08-29, 09-03; the shop
# lists them newest payment first by modification date, the refund last.
PAID = {
    "aug14": ("2026-08-14T09:00:00", 5),
    "aug19": ("2026-08-19T09:00:00", 6),
    "aug24": ("2026-08-24T09:00:00", 3),
    "aug29": ("2026-08-29T09:00:00", 2),
    "sep03": ("2026-09-03T09:00:00", 1),
}


def test_a_full_sync_gives_the_seats_to_the_earliest_payers(
    engine: Any, settings: Settings, catalogue: Catalogue, orders_shop: HttpShop
) -> None:
    """3 seats: aug14, aug24 and aug29 hold them, sep03 waits first in line, whatever order
    the sync read them in."""
    for order_id, (name, (paid, minutes)) in enumerate(PAID.items(), start=1201):
        orders_shop.place(
            order_id,
            [("COHORT-DV-2027-01", 1)],
            T0 + timedelta(minutes=minutes),
            paid=paid,
            email=f"{name}@example.com",
            status="refunded" if name == "aug19" else "processing",
        )
    history = settings.replace(writeback={"notify_since": None})  # a first install: nobody told
    ports = make_ports(engine, history, catalogue)
    run_job("orders", ports, RunOptions(full=True))
    assert _seats(engine) == {"active": ["aug14", "aug24", "aug29"], "waitlisted": ["sep03"]}


def test_a_seat_a_customer_was_told_of_stays_with_them_when_an_earlier_payer_arrives(
    engine: Any, settings: Settings, catalogue: Catalogue
) -> None:
    """Live webhooks out of order: sep03's seat was confirmed in a note; aug14's delivery comes
    later and heads the waitlist, ahead of those who paid after it."""
    full = [("aug24", 1301), ("aug29", 1302), ("sep03", 1303), ("sep04", 1304), ("aug14", 1305)]
    for name, order_id in full:
        paid = PAID.get(name, ("2026-09-04T09:00:00", 0))[0]
        process_order(
            engine,
            make_order(
                order_id,
                [("COHORT-DV-2027-01", 1)],
                email=f"{name}@example.com",
                customer_id=order_id,
                paid=paid,
                modified=(T0 + timedelta(minutes=order_id - 1300)).strftime("%Y-%m-%dT%H:%M:%S"),
            ),
            catalogue=catalogue,
            settings=settings.replace(writeback={"notify_since": T0 - timedelta(days=1)}),
        )
    assert _seats(engine) == {
        "active": ["aug24", "aug29", "sep03"],
        "waitlisted": ["aug14", "sep04"],
    }


def test_in_one_page_the_earlier_payer_gets_the_seat_and_the_later_one_one_note(
    engine: Any, settings: Settings
) -> None:
    """A page of two live deliveries for the last seat, the later payer first: the earlier
    payer holds it, and the later one is told once, of their waitlist place, never of a seat."""
    catalogue = sample_catalogue(capacity=1)
    store_cohorts(engine, catalogue)
    page = [
        make_order(
            1401,
            [("COHORT-DV-2027-01", 1)],
            email="late@example.com",
            customer_id=1401,
            paid="2026-11-28T12:00:00",
        ),
        make_order(
            1402,
            [("COHORT-DV-2027-01", 1)],
            email="early@example.com",
            customer_id=1402,
            paid="2026-11-28T09:00:00",
        ),
    ]
    apply_orders(engine, page, catalogue=catalogue, settings=settings)
    assert _seats(engine) == {"active": ["early"], "waitlisted": ["late"]}
    late = notes_for(engine, 1401)
    assert len(late) == 1 and "waitlist, in place 1" in late[0] and "confirmed" not in late[0]
    assert "confirmed" in notes_for(engine, 1402)[0]
