"""The one pipeline webhooks and sync jobs share: WooCommerce JSON in, reconciled state out.

Each call is one unit of work: fetch what the rules need from the shop first (refunds, the
current state of a deleted order), then apply and commit in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from bridge.errors import PermanentError
from bridge.rules.catalog import Catalogue
from bridge.rules.entitlements import needs_refund_lookup, order_facts
from bridge.rules.payloads import check_payload
from bridge.services.claims import reconcile_claims
from bridge.services.ledger import OrderOutcome, apply_customer, apply_order, stored_refunds
from bridge.services.order_pages import changed_orders
from bridge.services.subscriptions import subscription_policy
from bridge.services.watch import is_news, watch_since
from bridge.services.writeback.plan import enqueue_writebacks
from bridge.settings import Settings
from bridge.store.db import unit_of_work

log = logging.getLogger(__name__)


class OrderSource(Protocol):
    """What the pipeline needs from the shop (bridge.shop.client.WooClient provides it)."""

    def order_refunds(self, order_id: int) -> list[dict[str, Any]]: ...

    def get_order(self, order_id: int) -> dict[str, Any]: ...


class ShopNeeded(PermanentError):
    """The payload cannot be applied without asking the shop, and no shop is configured."""


def is_deletion(payload: Mapping[str, Any]) -> bool:
    """``*.deleted`` deliveries carry only ``{"id": N}``."""
    return set(payload) == {"id"}


def trashed_order(order_id: int) -> dict[str, Any]:
    return {"id": order_id, "status": "trash", "line_items": [], "refunds": []}


def current_order_after_deletion(order_id: int, shop: OrderSource | None) -> dict[str, Any]:
    """Ask the shop what a deleted order looks like now: a trashed order may be restored."""
    if shop is None:
        return trashed_order(order_id)
    try:
        return shop.get_order(order_id)
    except PermanentError as exc:
        if getattr(exc, "status", None) == 404:
            return trashed_order(order_id)
        raise


def process_order(
    engine: Engine,
    payload: Mapping[str, Any],
    *,
    catalogue: Catalogue,
    settings: Settings,
    shop: OrderSource | None = None,
    checked: bool = False,
    notify: bool | None = None,
    since: datetime | None = None,
) -> OrderOutcome:
    """Apply an order payload: refunds fetched only when they can change the outcome.

    A payload that would change nothing (the same as last applied) costs one read and no write;
    ``checked`` says the caller already looked (bridge.services.order_pages). Customers hear
    of the change (notes, coupons) only when it happened after the bridge started watching
    the shop (``since``, read when not given), unless ``notify`` says otherwise: True tells
    them of history on purpose, False tells them nothing. A payload that breaks the payload
    rules raises PayloadRejected before anything is read.
    """
    check_payload("order", payload, max_quantity=settings.max_line_quantity)
    if not checked and not changed_orders(engine, [payload], catalogue, settings):
        return OrderOutcome(int(payload["id"]), applied=True)
    if is_deletion(payload):
        payload = current_order_after_deletion(int(payload["id"]), shop)
    refunds: list[dict[str, Any]] = []
    if needs_refund_lookup(payload, settings.paid_statuses):
        facts = order_facts(payload)
        with unit_of_work(engine) as session:
            known = stored_refunds(session, facts.order_id, facts.refund_ids)
        if known is not None:
            refunds = known
        elif shop is None:
            raise ShopNeeded(
                f"order {facts.order_id} has refunds; set WOOCOMMERCE_URL so they can be read"
            )
        else:
            refunds = shop.order_refunds(facts.order_id)
    with unit_of_work(engine) as session:
        outcome = apply_order(
            session,
            payload,
            catalogue,
            paid_statuses=settings.paid_statuses,
            complimentary_minutes=settings.complimentary_call_minutes,
            refunds=refunds,
            subscription_policy=subscription_policy(settings),
        )
        # Team-pack places follow the order too, under the same lock and in the same commit.
        outcome.events += reconcile_claims(session, payload, outcome, catalogue=catalogue,
                                           settings=settings, refunds=refunds)
        if notify is None:
            watched = since if since is not None else watch_since(session, settings)
            notify = is_news(order_facts(payload).date_modified_gmt, watched)
        outcome.news = notify
        enqueue_writebacks(session, outcome, catalogue, settings, notify=notify)
        session.commit()
    log.debug(
        "order applied" if outcome.applied else "order skipped (stale)",
        extra={"order_id": outcome.order_id, "changes": len(outcome.events)},
    )
    return outcome


def process_customer(engine: Engine, payload: Mapping[str, Any]) -> int | None:
    """Apply a ``customer.*`` payload; returns the learner id, if the customer is a learner."""
    with unit_of_work(engine) as session:
        learner = apply_customer(session, payload)
        session.commit()
        return learner.id if learner else None
