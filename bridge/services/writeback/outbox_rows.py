"""The outbox's rows as people see them: listed, shown, counted, and made due again.

The transport is ``outbox``; callers outside write-back take these from the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from bridge.errors import PermanentError
from bridge.store.db import unit_of_work
from bridge.store.models import OutboxItem, OutboxStatus, OutboxWritten, utcnow


class OutboxItemNotFound(PermanentError):
    """No outbox row has that id."""


def outbox_row(row: OutboxItem, *, with_payload: bool = False) -> dict[str, Any]:
    """An outbox row as plain data for the CLI."""
    shown: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "resource": row.resource,
        "operation": row.operation,
        "target_id": row.target_id,
        "target_key": row.target_key,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "in_doubt": row.in_doubt,
        "send_alone": row.send_alone,
    }
    if with_payload:
        shown["payload"] = row.payload
    return shown


def list_outbox(
    engine: Engine, statuses: Sequence[str] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows with these statuses (default: pending, sending, dead), oldest first."""
    wanted = list(statuses or (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.DEAD))
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxItem)
            .where(col(OutboxItem.status).in_(wanted))
            .order_by(col(OutboxItem.id))
            .limit(limit)
        ).all()
        return [outbox_row(row) for row in rows]


def outbox_counts(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
        ).all()
        return {status: int(count) for status, count in rows}


def show_outbox_item(engine: Engine, item_id: int) -> dict[str, Any]:
    """One row with its payload and what was last written to its target."""
    with unit_of_work(engine) as session:
        row = session.get(OutboxItem, item_id)
        if row is None:
            raise OutboxItemNotFound(
                f"no outbox row {item_id}; `bridge outbox --status all` lists them"
            )
        shown = outbox_row(row, with_payload=True)
        written = session.get(OutboxWritten, row.target_key)
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
    with unit_of_work(engine) as session:
        statement = select(OutboxItem).with_for_update()
        if all_dead:
            statement = statement.where(OutboxItem.status == OutboxStatus.DEAD)
        else:
            statement = statement.where(OutboxItem.id == item_id)
        rows = session.exec(statement).all()
        if item_id is not None and not rows:
            raise OutboxItemNotFound(f"no outbox row {item_id}")
        changed = 0
        for row in rows:
            if row.status not in (OutboxStatus.DEAD, OutboxStatus.PENDING):
                raise PermanentError(
                    f"outbox row {row.id} is {row.status}; only dead or pending rows can be retried"
                )
            row.status = OutboxStatus.PENDING
            row.attempts = 0
            row.next_attempt_at = now
            row.claimed_at = None
            session.add(row)
            changed += 1
        session.commit()
        return changed
