"""Which orders of a page changed: fingerprints, compared in one query before any write.

An order whose fingerprint (bridge.rules.fingerprints) equals the one stored when it was last
applied would change nothing: it comes back ``unchanged`` without a write, so re-reading an
unchanged shop costs one query per page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.fingerprints import SUMMARY_KEY, order_fingerprint
from bridge.rules.inbound.payloads import PayloadText
from bridge.settings import Settings
from bridge.store.bulk import among, built, listed, table_of
from bridge.store.models import OrderState


def fingerprint_of(
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    settings: Settings,
    text: PayloadText | None = None,
) -> str:
    """The order's fingerprint; ``text`` is ``payload_text(payload)`` if the caller has it."""
    return order_fingerprint(
        payload,
        catalogue,
        paid_statuses=settings.orders.paid_statuses,
        complimentary_minutes=settings.orders.complimentary_call_minutes,
        text=text,
    )


def applied_fingerprints(session: Session, order_ids: Iterable[int]) -> dict[int, str]:
    """The fingerprint each order was last applied with (orders never applied are absent)."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    table = table_of(OrderState)
    # The fingerprint alone, taken out of the summary by the database: the summaries are the
    # most of what a page's orders have stored, and reading them cost a re-run a third of its
    # time per page.
    statement = built(
        "applied fingerprints",
        lambda: select(table.c.order_id, table.c.summary[SUMMARY_KEY].as_string()).where(
            among(table.c.order_id, name="orders")
        ),
    )
    rows = session.execute(statement, {"orders": listed(ids)}).all()
    return {int(order_id): str(found) for order_id, found in rows if found}
