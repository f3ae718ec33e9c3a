"""A queue as people read it, and retry-now: counts per status, a filtered page of rows, one row.

Rows come back as plain dicts of their columns (no ORM object per row), for the CLI's tables and
JSON and the console's pages alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Engine, func, select, update

from bridge.errors import PermanentError
from bridge.services.queue.queues import Queue
from bridge.store.db import unit_of_work

MAX_PAGE = 1000  # rows one listing returns at most


@dataclass(frozen=True)
class ListQuery:
    """Which rows a listing shows, and which page of them.

    ``statuses`` None: the queue's default (the outbox: what still waits; the inbox: all);
    ``filters``: equality on listed columns (``{"topic": "order.created"}``); ``sort``: a listed
    column, ``descending`` None: the queue's default order (the inbox newest first, the outbox
    oldest first). The id breaks ties, so pages never overlap.
    """

    statuses: Sequence[str] | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 100
    offset: int = 0
    sort: str = "id"
    descending: bool | None = None


@dataclass(frozen=True)
class Listing:
    """One page of a listing: its rows, how many match in all, and the whole queue's counts."""

    rows: list[dict[str, Any]]
    total: int
    counts: dict[str, int]
    query: ListQuery


def counts(engine: Engine, queue: Queue) -> dict[str, int]:
    """Rows per status (statuses without rows left out)."""
    table = queue.table
    with unit_of_work(engine, read_only=True) as session:
        rows = session.execute(select(table.c.status, func.count()).group_by(table.c.status)).all()
        return {str(status): int(n) for status, n in rows}


def list_rows(engine: Engine, queue: Queue, query: ListQuery | None = None) -> Listing:
    """One page of the rows matching ``query``: their listed columns, the total, the counts.

    An unknown status, filter or sort column is refused (PermanentError), never ignored.
    """
    query = query or ListQuery()
    table = queue.table
    statuses = queue.default_statuses if query.statuses is None else tuple(query.statuses)
    unknown = [s for s in statuses or () if s not in queue.statuses]
    if unknown:
        raise PermanentError(
            f"{queue.name} status {unknown[0]!r} is not one of {', '.join(queue.statuses)}"
        )
    for name in (*query.filters, query.sort):
        if name not in queue.listed:
            raise PermanentError(
                f"{queue.name} rows have no column {name!r}; one of {', '.join(queue.listed)}"
            )
    conditions = [table.c[name] == value for name, value in query.filters.items()]
    if statuses is not None:
        conditions.append(table.c.status.in_(statuses))
    descending = queue.newest_first if query.descending is None else query.descending
    order = [table.c[query.sort], table.c.id] if query.sort != "id" else [table.c.id]
    limit = max(0, min(query.limit, MAX_PAGE))
    with unit_of_work(engine, read_only=True) as session:
        rows = session.execute(
            select(*(table.c[name] for name in queue.listed))
            .where(*conditions)
            .order_by(*(column.desc() if descending else column.asc() for column in order))
            .limit(limit)
            .offset(max(0, query.offset))
        ).all()
        total = session.execute(
            select(func.count()).select_from(table).where(*conditions)
        ).scalar_one()
    return Listing([dict(row._mapping) for row in rows], int(total), counts(engine, queue), query)


def show_row(engine: Engine, queue: Queue, row_id: int) -> dict[str, Any] | None:
    """One row: its listed and shown columns; None when no row has this id."""
    table = queue.table
    with unit_of_work(engine, read_only=True) as session:
        row = session.execute(
            select(*(table.c[name] for name in (*queue.listed, *queue.shown))).where(
                table.c.id == row_id
            )
        ).first()
    return dict(row._mapping) if row is not None else None


def retry(
    engine: Engine,
    queue: Queue,
    now: datetime,
    *,
    ids: Sequence[int] | None = None,
    statuses: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[int]:
    """Give rows fresh attempts, due ``now``, in the queue's retry status; the ids changed.

    By ``ids`` (rows in a retryable status) or every row in ``statuses`` (say, the dead ones),
    oldest first, at most ``limit``.
    """
    table = queue.table
    condition: ColumnElement[bool]
    if ids is not None:
        condition = table.c.id.in_(sorted(set(ids))) & table.c.status.in_(queue.retryable)
    elif statuses is not None:
        condition = table.c.status.in_(tuple(statuses))
    else:
        raise ValueError("retry needs ids or statuses")
    with unit_of_work(engine) as session:
        picked = select(table.c.id).where(condition).order_by(table.c.id)
        if limit is not None:
            picked = picked.limit(limit)
        if engine.dialect.name == "postgresql":
            picked = picked.with_for_update()
        chosen = [int(i) for i in session.execute(picked).scalars().all()]
        if chosen:
            session.execute(
                update(table)
                .where(table.c.id.in_(chosen))
                .values(status=queue.retry_to, attempts=0, next_attempt_at=now, **queue.on_retry)
            )
        session.commit()
    return chosen


def make_due(engine: Engine, queue: Queue, now: datetime, *, statuses: Sequence[str]) -> int:
    """Bring the next try of every row in ``statuses`` forward to ``now`` (attempts kept)."""
    table = queue.table
    with unit_of_work(engine) as session:
        result = session.execute(
            update(table).where(table.c.status.in_(tuple(statuses))).values(next_attempt_at=now)
        )
        changed = result.rowcount if isinstance(result, CursorResult) else 0
        session.commit()
    return int(changed or 0)
