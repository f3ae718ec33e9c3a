"""Pages of orders: what a page needs from storage, read in one query, before any write.

An order whose fingerprint (bridge.rules.fingerprints) equals the one stored when it was last
applied would change nothing: it is left out without a write, so re-reading an unchanged shop
costs one query per page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.fingerprints import SUMMARY_KEY, order_fingerprint
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import OrderState


def fingerprint_of(payload: Mapping[str, Any], catalogue: Catalogue, settings: Settings) -> str:
    return order_fingerprint(
        payload,
        catalogue,
        paid_statuses=settings.orders.paid_statuses,
        complimentary_minutes=settings.orders.complimentary_call_minutes,
    )


def applied_fingerprints(session: Session, order_ids: Iterable[int]) -> dict[int, str]:
    """The fingerprint each order was last applied with (orders never applied are absent)."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(OrderState.order_id, OrderState.summary).where(col(OrderState.order_id).in_(ids))
    ).all()
    return {
        int(order_id): str(summary[SUMMARY_KEY])
        for order_id, summary in rows
        if summary and summary.get(SUMMARY_KEY)
    }


def changed_orders(
    engine: Engine,
    payloads: Sequence[Mapping[str, Any]],
    catalogue: Catalogue,
    settings: Settings,
    fingerprints: dict[int, str] | None = None,
) -> list[Mapping[str, Any]]:
    """The payloads that would change something, in their order; one query for the page.

    Deletions (``{"id": N}``) and payloads without an integer id always count as changed: the
    pipeline decides what they mean. ``fingerprints`` receives those computed, by
    ``id(payload)``, so applying the page does not compute them again.
    """
    ids = [p["id"] for p in payloads if isinstance(p.get("id"), int) and len(p) > 1]
    if not ids:
        return list(payloads)
    with unit_of_work(engine) as session:
        stored = applied_fingerprints(session, ids)
    if not stored:
        return list(payloads)
    memo = {} if fingerprints is None else fingerprints
    changed = []
    for payload in payloads:
        if isinstance(payload.get("id"), int) and len(payload) > 1:
            memo[id(payload)] = fingerprint_of(payload, catalogue, settings)
            if stored.get(payload["id"]) == memo[id(payload)]:
                continue
        changed.append(payload)
    return changed
