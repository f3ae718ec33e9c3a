"""The inbox as operators read it: deliveries by status, one with its error, dead ones retried."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import col, select

from bridge.errors import PermanentError
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, utcnow

# Headers that carry nothing secret but help tell deliveries apart.
SHOWN_HEADERS = (
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
    "X-WC-Webhook-Source",
    "User-Agent",
    "Content-Type",
)


class DeliveryNotFound(PermanentError):
    """No inbox row has this id."""


def delivery_summary(row: InboxDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "topic": row.topic,
        "resource_id": row.resource_id,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "received_at": row.received_at,
        "next_attempt_at": row.next_attempt_at,
        "processed_at": row.processed_at,
        "delivery_id": row.delivery_id,
    }


def list_deliveries(
    engine: Engine, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Deliveries, newest first, in one status or all."""
    with unit_of_work(engine) as session:
        query = select(InboxDelivery).order_by(col(InboxDelivery.id).desc()).limit(limit)
        if status:
            query = query.where(InboxDelivery.status == status)
        return [delivery_summary(row) for row in session.exec(query).all()]


def show_delivery(engine: Engine, inbox_id: int) -> dict[str, Any]:
    """One delivery with its error, its harmless headers and its body pretty-printed."""
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, inbox_id)
        if row is None:
            raise DeliveryNotFound(f"no delivery #{inbox_id}")
        wanted = {name.lower() for name in SHOWN_HEADERS}
        headers = {k: v for k, v in (row.headers or {}).items() if k.lower() in wanted}
        body = None
        if row.body is not None:
            text = row.body.decode("utf-8", "replace")
            try:
                body = json.dumps(json.loads(text), indent=2, sort_keys=True)
            except ValueError:
                body = text
        return delivery_summary(row) | {
            "headers": headers,
            "business_key": row.business_key,
            "body": body,
        }


def revive_dead(engine: Engine, limit: int = 500) -> list[int]:
    """Make up to ``limit`` dead deliveries failed, with fresh attempts, due now; their ids."""
    with unit_of_work(engine) as session:
        dead = col(InboxDelivery.status) == DeliveryStatus.DEAD
        ids = list(
            session.exec(
                select(InboxDelivery.id).where(dead).order_by(col(InboxDelivery.id)).limit(limit)
            ).all()
        )
        if ids:
            session.execute(
                update(InboxDelivery)
                .where(col(InboxDelivery.id).in_(ids), dead)
                .values(status=DeliveryStatus.FAILED, attempts=0, next_attempt_at=utcnow())
            )
            session.commit()
        return [int(i) for i in ids if i is not None]
