"""What an order's state keeps beside the ledger: its lines and its refunds as last fetched.

Kept so that the report can count refunds in the period they happened and an order whose
refund list has not changed needs no refund request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bridge.rules.catalogue.catalog import Catalogue
from bridge.store.bulk import among, table_of
from bridge.store.models import OrderState

# The state summary's mark of an order `bridge simulate` made up (its meta _bridge_simulated).
SIMULATED_KEY = "simulated"


def refund_summary(refunds: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The refund lines kept on the order state, so an unchanged refund list needs no fetch."""
    kept = []
    for refund in refunds:
        kept.append(
            {
                "id": refund.get("id"),
                # When the refund was made: the report counts refunds in the period they happened.
                "date_created_gmt": refund.get("date_created_gmt"),
                "total": refund.get("amount") or refund.get("total"),
                "line_items": [
                    {
                        "quantity": line.get("quantity"),
                        "total": line.get("total"),
                        "meta_data": [
                            m
                            for m in line.get("meta_data") or []
                            if m.get("key") == "_refunded_item_id"
                        ],
                    }
                    for line in refund.get("line_items") or []
                ],
            }
        )
    return kept


def line_summary(payload: Mapping[str, Any], catalogue: Catalogue) -> list[dict[str, Any]]:
    lines = []
    for line in payload.get("line_items") or []:
        offer = catalogue.offer_for_line(line)
        lines.append(
            {
                "id": line.get("id"),
                "sku": offer.sku if offer else line.get("sku"),
                "offer": offer is not None,
                "quantity": line.get("quantity"),
                "total": line.get("total"),
                "product_id": line.get("product_id"),
                "variation_id": line.get("variation_id"),
            }
        )
    return lines


def simulated_orders(session: Session, order_ids: Iterable[int]) -> set[int]:
    """Which of these orders `bridge simulate` made up: no shop has them, so no write-back
    names them (no order meta, no note); one query, which reads only the summary's mark."""
    ids = sorted({int(order_id) for order_id in order_ids})
    if not ids:
        return set()
    table = table_of(OrderState)
    marked = table.c.summary[SIMULATED_KEY].as_boolean()
    rows = session.execute(
        select(table.c.order_id).where(among(table.c.order_id, ids), marked.is_(True))
    ).all()
    return {int(order_id) for (order_id,) in rows}


def stored_refunds_of(
    session: Session, orders: Mapping[int, Sequence[int]]
) -> dict[int, list[dict[str, Any]]]:
    """The refunds last fetched for each order (order id -> its refund ids now), where its
    refund list has not changed since; one query."""
    if not orders:
        return {}
    found: dict[int, list[dict[str, Any]]] = {}
    table = table_of(OrderState)
    for order_id, summary in session.execute(
        select(table.c.order_id, table.c.summary).where(among(table.c.order_id, sorted(orders)))
    ).all():
        summary = summary or {}
        refund_ids = orders[order_id]
        if list(summary.get("refund_ids") or []) != list(refund_ids):
            continue
        refunds = summary.get("refunds")
        if refunds is not None and len(refunds) == len(refund_ids):
            found[order_id] = list(refunds)
    return found
