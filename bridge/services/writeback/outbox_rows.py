"""The outbox's rows as people see them: listed, shown, counted, and made due again, on the
durable queue's listing and retry (bridge.services.queue).

The transport is ``outbox``; callers outside write-back take these from the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.errors import PermanentError
from bridge.services.queue import (
    OUTBOX,
    Listing,
    ListQuery,
    counts,
    list_rows,
    retry,
    show_row,
)
from bridge.store.db import unit_of_work
from bridge.store.models import OutboxStatus, OutboxWritten, utcnow


class OutboxItemNotFound(PermanentError):
    """No outbox row has that id."""


def list_outbox(
    engine: Engine,
    statuses: Sequence[str] | None = None,
    limit: int = 100,
    *,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows with these statuses (default: pending, sending, dead), oldest first."""
    return outbox_listing(
        engine, ListQuery(statuses=statuses or None, limit=limit, offset=offset)
    ).rows


def outbox_listing(engine: Engine, query: ListQuery | None = None) -> Listing:
    """A page of outbox rows as the queue lists them (bridge.services.queue.ListQuery)."""
    return list_rows(engine, OUTBOX, query)


def outbox_counts(engine: Engine) -> dict[str, int]:
    return counts(engine, OUTBOX)


def show_outbox_item(engine: Engine, item_id: int) -> dict[str, Any]:
    """One row with its payload and what was last written to its target."""
    shown = show_row(engine, OUTBOX, item_id)
    if shown is None:
        raise OutboxItemNotFound(
            f"no outbox row {item_id}; `bridge outbox --status all` lists them"
        )
    with unit_of_work(engine, read_only=True) as session:
        written = session.get(OutboxWritten, shown["target_key"])
        shown["last_written"] = (
            {"data": written.data, "written_at": written.written_at} if written else None
        )
    return shown


def retry_outbox(
    engine: Engine,
    item_id: int | None = None,
    *,
    all_dead: bool = False,
    now: datetime | None = None,
) -> int:
    """Make a dead (or waiting) row due now with fresh attempts, or every dead row; how many.

    ``in_doubt`` is kept, so a note that may have reached the shop is still looked for first.
    """
    if (item_id is None) == (not all_dead):
        raise PermanentError("name one outbox row id, or --all-dead")
    now = now or utcnow()
    if item_id is None:
        return len(retry(engine, OUTBOX, now, statuses=[OutboxStatus.DEAD]))
    row = show_row(engine, OUTBOX, item_id)
    if row is None:
        raise OutboxItemNotFound(f"no outbox row {item_id}")
    if row["status"] == OutboxStatus.HELD:
        raise PermanentError(
            f"outbox row {item_id} is held: it waits for BRIDGE_PUBLIC_URL, and the next drain "
            "with it set words and sends it"
        )
    if row["status"] not in OUTBOX.retryable:
        raise PermanentError(
            f"outbox row {item_id} is {row['status']}; only dead or pending rows can be retried"
        )
    return len(retry(engine, OUTBOX, now, ids=[item_id]))
