"""Build the per-resource handlers that webhooks and sync jobs hand WooCommerce JSON to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bridge.rules.bookings.events import CALCOM, CALENDLY
from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.bookings import BookingPolicy, process_booking_delivery
from bridge.services.inbox import Handler, Warned, one_at_a_time
from bridge.services.ledger import OrderOutcome, apply_customer
from bridge.services.orders.page_apply import ValidatedOrder, apply_orders
from bridge.services.subscriptions import process_subscription
from bridge.settings import Settings
from bridge.store.db import unit_of_work


class ShopClients:
    """One WooCommerce client per thread (a requests.Session is not shared across threads)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()

    def get(self) -> Any:
        if not self.settings.shop.configured:
            return None
        client = getattr(self._local, "client", None)
        if client is None:
            from bridge.shop.client import WooClient

            client = self._local.client = WooClient(self.settings)
        return client


def store_file_catalogue(engine: Engine, catalogue: Catalogue) -> None:
    """Store the file's cohorts and offers, so seats can be sold before any product sync."""
    from bridge.services.catalogue import store_cohorts, store_offers

    with unit_of_work(engine) as session:
        store_cohorts(session, catalogue)
        store_offers(session, catalogue)
        session.commit()


def catalogue_loader(engine: Engine, settings: Settings) -> Callable[[], Catalogue]:
    """The current catalogue: the one applied (`bridge catalog apply`; a newer one is seen on
    the next call) merged with the shop's synced products."""
    from bridge.services.catalogue import AppliedCatalogue, load_catalogue

    file_catalogue = AppliedCatalogue(engine, Path(settings.catalogue.file))

    def load() -> Catalogue:
        return load_catalogue(engine, file_catalogue.get())

    return load


def describe_order(outcome: OrderOutcome) -> str:
    """A delivery's result line; a Warned one when lines sell no micro-SKU."""
    if not outcome.applied:
        return f"order {outcome.order_id}: stale, skipped"
    if outcome.unmapped:
        lines = "; ".join(
            f"line {line['line_item_id']} SKU {line['sku'] or '(none)'}"
            + (
                f" (product {product})"
                if (product := line["variation_id"] or line["product_id"])
                else ""
            )
            for line in outcome.unmapped
        )
        return Warned(
            f"processed with warnings: order {outcome.order_id} sells no "
            f"micro-SKU on {lines}; see `bridge catalog --check`"
        )
    return f"order {outcome.order_id}: {len(outcome.events)} changes"


class OrderHandler:
    """Order deliveries, a page at a time (bridge.services.inbox drains them in pages)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        catalogue: Callable[[], Catalogue],
        shop: Callable[[], Any],
    ) -> None:
        self.engine, self.settings, self.catalogue, self.shop = engine, settings, catalogue, shop

    def __call__(self, payloads: Sequence[Any]) -> list[Any]:
        """One answer per payload: its result line, or the PermanentError it earned."""
        # The inbox classified each payload (the payload rules) before handing it over.
        results = apply_orders(
            self.engine,
            [ValidatedOrder(payload) for payload in payloads],
            catalogue=self.catalogue(),
            settings=self.settings,
            shop=self.shop(),
        )
        answers: list[Any] = []
        for result in results:
            if result.error is not None:
                answers.append(result.error)
            else:
                assert result.outcome is not None  # every payload has an outcome or an error
                answers.append(describe_order(result.outcome))
        return answers


def process_customer(engine: Engine, payload: Mapping[str, Any]) -> int | None:
    """Apply a ``customer.*`` payload; returns the learner id, if the customer is a learner."""
    with unit_of_work(engine) as session:
        learner = apply_customer(session, payload)
        session.commit()
        return learner.id if learner else None


def build_handlers(
    engine: Engine,
    settings: Settings,
    *,
    catalogue: Callable[[], Catalogue] | None = None,
    shop: Callable[[], Any] | None = None,
) -> dict[str, Handler]:
    """resource -> handler (a page of payloads -> one answer each): order, customer, product,
    subscription, Cal.com, Calendly."""
    load_catalogue = catalogue or catalogue_loader(engine, settings)
    shop = shop or ShopClients(settings).get
    from bridge.services.catalogue import AppliedCatalogue

    file_catalogue = AppliedCatalogue(engine, Path(settings.catalogue.file))

    order = OrderHandler(engine, settings, load_catalogue, shop)

    def customer(payload: Any) -> str:
        learner_id = process_customer(engine, payload)
        return f"customer {payload.get('id')}: learner {learner_id}"

    def product(payload: Any) -> str:
        from bridge.services.catalogue import apply_product_payload

        with unit_of_work(engine) as session:
            outcome = apply_product_payload(session, payload, file_catalogue.get())
            session.commit()
        return f"product {outcome.woo_id}: {outcome.action}"

    def subscription(payload: Any) -> str:
        outcome = process_subscription(
            engine, payload, load_catalogue(), settings=settings, shop=shop()
        )
        if outcome.subscription_id is None:
            return f"subscription: {outcome.note}"
        if not outcome.applied:
            return f"subscription {outcome.subscription_id}: {outcome.note or 'skipped'}"
        return (
            f"subscription {outcome.subscription_id}: {outcome.status}, "
            f"{outcome.expiries_moved} expiries moved"
        )

    def booking_policy() -> BookingPolicy:
        return BookingPolicy(
            no_show=settings.bookings.no_show,
            booking_types=load_catalogue().booking_types,
            trust_email=settings.bookings.trust_email,
        )

    def calcom(payload: Any) -> str:
        return process_booking_delivery(engine, CALCOM, payload, booking_policy)

    def calendly(payload: Any) -> str:
        return process_booking_delivery(engine, CALENDLY, payload, booking_policy)

    return {
        "order": order,
        "customer": one_at_a_time(customer),
        "product": one_at_a_time(product),
        "subscription": one_at_a_time(subscription),
        CALCOM: one_at_a_time(calcom),
        CALENDLY: one_at_a_time(calendly),
    }


def build_outbox_drainer(engine: Engine, settings: Settings) -> Callable[[], None] | None:
    """Push queued write-backs right after a delivery is processed (None without a shop)."""
    if not settings.shop.configured:
        return None
    # One attempt only: this runs on a web worker thread, and a shop that is down must not hold
    # it for the whole retry budget; the scheduler's outbox job retries with backoff.
    clients = ShopClients(settings.replace(http={"max_attempts": 1}))

    def drain() -> None:
        from bridge.services.writeback import drain_outbox

        drain_outbox(engine, clients.get(), settings)

    return drain
