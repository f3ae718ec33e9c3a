"""Perks follow money: the complimentary call and the "after the first paid offer" coupon need
a paid line of a micro-SKU above zero; a fully refunded order takes back an unused call, as a
new reversal row (both databases)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bridge.services.ledger import adjust_credits, balances, find_learner
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, PersonalCoupon
from tests.support.sample_shop import make_order
from tests.support.writeback import shop_catalogue, store_shop


def _order(order_id: int, sku: str, price: str, **kw: Any) -> dict[str, Any]:
    order = make_order(order_id, [(sku, 1)], email="pia@example.com", customer_id=77, **kw)
    for line in order["line_items"]:
        line.update(total=price, subtotal=price)
    order["total"] = price
    return order


def _call_rows(engine: Any) -> list[tuple[int, str]]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(LedgerEntry)
            .where(col(LedgerEntry.grant_key).like("%:complimentary_call"))
            .order_by(col(LedgerEntry.id))
        ).all()
    return [(row.amount, row.reason) for row in rows]


def _coupons(engine: Any) -> list[str]:
    with unit_of_work(engine) as session:
        return [c.rule for c in session.exec(select(PersonalCoupon)).all()]


def test_a_free_preview_or_an_unmapped_line_earns_no_call_and_no_coupon(
    engine: Any, settings: Settings
) -> None:
    """A €0 preview and an order of only an unmapped SKU: no complimentary call, no coupon."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(engine, _order(801, "PREVIEW-DV", "0.00"), catalogue=catalogue, settings=settings)
    process_order(
        engine, _order(802, "NOT-AN-OFFER", "25.00"), catalogue=catalogue, settings=settings
    )
    assert _call_rows(engine) == []
    assert _coupons(engine) == []


def test_a_paid_offer_earns_the_call_and_the_coupon(engine: Any, settings: Settings) -> None:
    """One paid mentor hour: the call and the subscription coupon."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(engine, _order(811, "MENTOR-1H", "49.00"), catalogue=catalogue, settings=settings)
    assert _call_rows(engine) == [(30, "complimentary")]
    assert _coupons(engine) == ["coupon:subscribe-after-first-offer"]


def test_a_fully_refunded_order_takes_back_the_unused_call_as_a_new_row(
    engine: Any, settings: Settings
) -> None:
    """Refunded in full: the grant stays, a reversal row is added; the balance is 0."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(engine, _order(821, "MENTOR-1H", "49.00"), catalogue=catalogue, settings=settings)
    refunded = _order(821, "MENTOR-1H", "49.00", status="refunded", modified="2026-11-29T10:00:00")
    process_order(engine, refunded, catalogue=catalogue, settings=settings)
    rows = _call_rows(engine)
    assert rows[0] == (30, "complimentary") and rows[1][0] == -30 and len(rows) == 2
    with unit_of_work(engine) as session:
        learner = find_learner(session, "pia@example.com")
        assert learner is not None and learner.id is not None
        assert balances(session, learner.id).get("mentor_minutes", 0) == 0


def test_a_call_already_spent_stays_spent_after_the_refund(engine: Any, settings: Settings) -> None:
    """The learner used the call's minutes before the refund: it is not taken back."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(engine, _order(831, "MENTOR-1H", "49.00"), catalogue=catalogue, settings=settings)
    with unit_of_work(engine) as session:  # 90 minutes spent: the hour and the call
        learner = find_learner(session, "pia@example.com")
        assert learner is not None
        adjust_credits(session, learner, "mentor_minutes", -90, "mentor call", "call-1")
        session.commit()
    refunded = _order(831, "MENTOR-1H", "49.00", status="refunded", modified="2026-11-29T10:00:00")
    process_order(engine, refunded, catalogue=catalogue, settings=settings)
    assert _call_rows(engine) == [(30, "complimentary")]


def test_a_setting_lets_free_previews_earn_the_call(engine: Any, settings: Settings) -> None:
    """BRIDGE_PERKS_FOR_FREE_PREVIEWS=true: the €0 preview earns the call after all."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    generous = settings.replace(orders={"perks_for_free_previews": True})
    process_order(engine, _order(841, "PREVIEW-DV", "0.00"), catalogue=catalogue, settings=generous)
    assert _call_rows(engine) == [(30, "complimentary")]
