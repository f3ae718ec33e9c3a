"""Claiming due rows with a lease: one statement on both databases, two workers never share a row.

The due rows are picked in id order, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a row another
worker is claiming is passed over, not waited for), and stamped in the same UPDATE with the
lease (``next_attempt_at = now + lease``) and the claim's own values (the outbox's 'sending').
On SQLite the write transaction begins IMMEDIATE (bridge.store.db): claimers take turns for the
whole statement, so the second one sees the first one's lease. A row whose worker died is due
again when its lease ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, or_, select, update

from bridge.services.queue.queues import Queue
from bridge.store.db import unit_of_work


def due_condition(queue: Queue, now: datetime) -> ColumnElement[bool]:
    """Rows a claim may take at ``now``: a due status, and no lease or backoff still running."""
    table = queue.table
    return table.c.status.in_(queue.due) & or_(
        table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now
    )


def due_select(
    queue: Queue,
    dialect: str,
    now: datetime,
    *,
    entity: Any = None,
    limit: int | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    lock: bool = True,
) -> Select[Any]:
    """SELECT the due rows (``entity``: the ids unless given), oldest first; locked rows skipped
    on PostgreSQL when ``lock``."""
    table = queue.table
    statement = (
        select(entity if entity is not None else table.c.id)
        .where(due_condition(queue, now), *where)
        .order_by(table.c.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    if lock and dialect == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return statement


def claim(
    engine: Engine,
    queue: Queue,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    ids: Sequence[int] | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> list[int]:
    """Claim up to ``limit`` due rows (only these ``ids``, when given) for ``lease``; their ids,
    oldest first. One transaction, one statement."""
    table = queue.table
    conditions = list(where)
    if ids is not None:
        if not ids:
            return []
        conditions.append(table.c.id.in_(sorted(set(ids))))
    pick = due_select(queue, engine.dialect.name, now, limit=limit, where=conditions)
    with unit_of_work(engine) as session:
        claimed = (
            session.execute(
                update(table)
                .where(table.c.id.in_(pick.scalar_subquery()))
                .values(next_attempt_at=now + lease, **dict(values or {}))
                .returning(table.c.id)
            )
            .scalars()
            .all()
        )
        session.commit()
    return sorted(int(i) for i in claimed)


def due_ids(engine: Engine, queue: Queue, now: datetime, *, limit: int = 500) -> list[int]:
    """The rows a claim would take now (nothing is claimed), oldest first."""
    with unit_of_work(engine, read_only=True) as session:
        statement = due_select(queue, engine.dialect.name, now, limit=limit, lock=False)
        return [int(i) for i in session.execute(statement).scalars().all()]


def due_count(engine: Engine, queue: Queue, now: datetime) -> int:
    """How many rows a claim could take now."""
    with unit_of_work(engine, read_only=True) as session:
        found = session.execute(
            select(func.count()).select_from(queue.table).where(due_condition(queue, now))
        ).scalar_one()
        return int(found)


def newest_id(engine: Engine, queue: Queue) -> int:
    """The id of the newest row of the queue (0 when it is empty): a drain compares it between
    batches to tell whether rows are still arriving."""
    with unit_of_work(engine, read_only=True) as session:
        found = session.execute(select(func.max(queue.table.c.id))).scalar()
        return int(found or 0)
