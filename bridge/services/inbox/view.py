"""The inbox as operators read it, on the durable queue's listing: deliveries by status, one with
its error, dead ones retried."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from bridge.errors import PermanentError
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.services.queue import INBOX, Listing, ListQuery, list_rows, retry, show_row
from bridge.store.models import utcnow

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


def list_deliveries(
    engine: Engine, status: str | None = None, limit: int = 100, *, offset: int = 0
) -> list[dict[str, Any]]:
    """Deliveries, newest first, in one status or all (the queue's listing: ``inbox_listing`` gives
    its total and counts too)."""
    return inbox_listing(
        engine, ListQuery(statuses=[status] if status else None, limit=limit, offset=offset)
    ).rows


def inbox_listing(engine: Engine, query: ListQuery | None = None) -> Listing:
    """A page of deliveries as the queue lists them (bridge.services.queue.ListQuery)."""
    return list_rows(engine, INBOX, query)


def show_delivery(
    engine: Engine, inbox_id: int, *, all_headers: bool = False, parsed_body: bool = False
) -> dict[str, Any]:
    """One delivery with its error, its harmless headers (``all_headers``: every one) and its
    body, pretty-printed (``parsed_body``: as the JSON value it holds)."""
    row = show_row(engine, INBOX, inbox_id)
    if row is None:
        raise DeliveryNotFound(f"no delivery #{inbox_id}; `bridge inbox` lists them")
    wanted = {name.lower() for name in SHOWN_HEADERS}
    stored = row.pop("headers") or {}
    row["headers"] = {k: v for k, v in stored.items() if all_headers or k.lower() in wanted}
    raw = row.pop("body")
    body: Any = None
    if raw is not None:
        text = bytes(raw).decode("utf-8", "replace")
        try:
            value = json.loads(text)
        except ValueError:
            body = text
        else:
            body = value if parsed_body else json.dumps(value, indent=2, sort_keys=True)
    row["body"] = body
    return row


def revive_dead(engine: Engine, limit: int = 500) -> list[int]:
    """Make up to ``limit`` dead deliveries failed, with fresh attempts, due now; their ids."""
    return retry(engine, INBOX, utcnow(), statuses=[DeliveryStatus.DEAD], limit=limit)
