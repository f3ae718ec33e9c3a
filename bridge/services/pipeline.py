"""The one pipeline webhooks and sync jobs share: WooCommerce JSON in, reconciled state out.

A page of orders is one unit of work (bridge.services.page_apply): what the rules need from the
shop (refunds, the current state of a deleted order) is fetched first, then the page is applied
and committed in one transaction. A single webhook is a page of one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.rules.catalog import Catalogue
from bridge.services.ledger import OrderOutcome, apply_customer
from bridge.services.page_apply import (
    OrderResult,
    OrderSource,
    ShopNeeded,
    current_order_after_deletion,
    is_deletion,
    process_orders,
    trashed_order,
)
from bridge.settings import Settings
from bridge.store.db import unit_of_work

__all__ = ["OrderResult", "OrderSource", "ShopNeeded", "current_order_after_deletion",
           "is_deletion", "process_customer", "process_order", "process_orders",
           "trashed_order"]


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
    rules raises PayloadRejected before anything is read; any other PermanentError it earns
    is raised too.
    """
    [result] = process_orders(engine, [payload], catalogue=catalogue, settings=settings,
                              shop=shop, checked=checked, notify=notify, since=since)
    if result.error is not None:
        raise result.error
    assert result.outcome is not None
    return result.outcome


def process_customer(engine: Engine, payload: Mapping[str, Any]) -> int | None:
    """Apply a ``customer.*`` payload; returns the learner id, if the customer is a learner."""
    with unit_of_work(engine) as session:
        learner = apply_customer(session, payload)
        session.commit()
        return learner.id if learner else None
