"""The shop's stock tells the truth: after every seat change the bridge learns of, a cohort
product's stock is set back to the seats actually free, whatever WooCommerce did by itself."""

from __future__ import annotations

from typing import Any

from bridge.services.orders import process_order
from bridge.services.writeback import drain_outbox, refresh_catalogue_writebacks
from bridge.settings import Settings
from tests.support.sample_shop import make_order
from tests.support.writeback import FakeShop, shop_catalogue, shop_client, store_shop

COHORT_PRODUCT = 22  # sells COHORT-DV-2027-01 in the real sample shop


def _buy(engine: Any, settings: Settings, shop: FakeShop, order_id: int, **kw: Any) -> None:
    """A paid order for one seat; WooCommerce reduces the product's stock as it takes it."""
    shop.adjust_stock(COHORT_PRODUCT, -1)
    process_order(
        engine,
        make_order(
            order_id,
            [("COHORT-DV-2027-01", 1)],
            customer_id=order_id,
            email=f"learner{order_id}@example.com",
            **kw,
        ),
        catalogue=shop_catalogue(3),
        settings=settings,
    )


def test_a_refund_that_promotes_the_waitlist_leaves_no_seat_for_sale(
    engine: Any, shop_settings: Settings, shop: FakeShop
) -> None:
    """3 seats, 4 buyers; a full refund restocks the product in WooCommerce (stock 1), and
    the bridge, which promoted the waitlisted buyer, writes 0 back although its figure did
    not change."""
    store_shop(engine, shop_catalogue(3))
    shop.adjust_stock(COHORT_PRODUCT, 3 - int(shop.stock(COHORT_PRODUCT) or 0))
    client = shop_client(shop_settings)
    for order_id in (901, 902, 903, 904):
        _buy(engine, shop_settings, shop, order_id, paid=f"2026-11-0{order_id - 900}T10:00:00")
        drain_outbox(engine, client, shop_settings)
    assert shop.stock(COHORT_PRODUCT) == 0
    shop.adjust_stock(COHORT_PRODUCT, +1)  # WooCommerce restocks the refunded item
    process_order(
        engine,
        make_order(
            902,
            [("COHORT-DV-2027-01", 1)],
            status="refunded",
            customer_id=902,
            email="learner902@example.com",
            modified="2026-11-29T10:00:00",
            paid="2026-11-02T10:00:00",
        ),
        catalogue=shop_catalogue(3),
        settings=shop_settings,
    )
    drain_outbox(engine, client, shop_settings)
    assert shop.stock(COHORT_PRODUCT) == 0


def test_the_catalogue_sync_sets_back_stock_changed_in_the_shop(
    engine: Any, shop_settings: Settings, shop: FakeShop
) -> None:
    """Someone sets the stock to 5 in WP admin; the next catalogue sync reads it and the
    bridge writes the seats free (here 2) back."""
    catalogue = shop_catalogue(3)
    store_shop(engine, catalogue)
    client = shop_client(shop_settings)
    _buy(engine, shop_settings, shop, 911)
    drain_outbox(engine, client, shop_settings)
    assert shop.stock(COHORT_PRODUCT) == 2
    shop.adjust_stock(COHORT_PRODUCT, +3)
    seen = {"id": COHORT_PRODUCT, "parent_id": 0, "manage_stock": True, "stock_quantity": 5}
    refresh_catalogue_writebacks(engine, catalogue, shop_stock=[seen])
    drain_outbox(engine, client, shop_settings)
    assert shop.stock(COHORT_PRODUCT) == 2
    again = refresh_catalogue_writebacks(
        engine, catalogue, shop_stock=[{**seen, "stock_quantity": 2, "backorders": "notify"}]
    )
    assert not [key for key in again if key.endswith(":stock")]  # right already: nothing sent
