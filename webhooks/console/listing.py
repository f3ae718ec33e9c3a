"""What every console list shares: the CSV download (``?format=csv``, the JSON's columns,
bridge.rules.listing), how many rows an export may hold, and a queue's list (inbox, outbox:
bridge.services.queue) paged, sorted, exported and its errors grouped by cause."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, request
from sqlalchemy import Engine

from bridge.errors import PermanentError
from bridge.rules.listing import (
    ErrorCause,
    Page,
    csv_text,
    every_row,
    group_errors,
    page_number,
    per_page,
)
from bridge.services.queue import Listing, ListQuery

CSV_MAX_ROWS = 100_000
CHUNK = 1000  # rows a listing returns at most (bridge.services.queue)
ListingFn = Callable[[Engine, ListQuery], Listing]


def csv_download(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], name: str) -> Response:
    """A list as a CSV file (UTF-8 with a byte-order mark, which spreadsheets need)."""
    response = Response("\ufeff" + csv_text(rows, columns), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dataclass(frozen=True)
class QueueList:
    """One page of a queue's list, its paging, and its errors grouped by cause."""

    rows: list[dict[str, Any]]
    counts: dict[str, int]
    page: Page
    causes: list[ErrorCause]
    query: dict[str, str]
    sorts: tuple[str, ...]


def _every_row(listing: ListingFn, engine: Engine, query: ListQuery) -> list[dict[str, Any]]:
    """Every row a query matches, a CHUNK at a time (exports and error grouping)."""

    def fetch(offset: int) -> tuple[list[dict[str, Any]], int]:
        chunk = listing(engine, dataclasses.replace(query, limit=CHUNK, offset=offset))
        return chunk.rows, chunk.total

    return [dict(row) for row in every_row(fetch, CSV_MAX_ROWS)]


def queue_list(
    listing: ListingFn,
    engine: Engine,
    statuses: Sequence[str] | None,
    columns: Sequence[str],
    error_statuses: Sequence[str],
    name: str,
) -> QueueList | Response:
    """A queue's list as the request asks: ``?page=&per_page=&sort=&order=asc|desc``, or every
    matching row as CSV with ``?format=csv``. A bad sort column or status is a 400."""
    args = request.args
    sort = args.get("sort", "id")
    if sort not in columns:
        abort(400, description=f"sort is one of {', '.join(columns)}")
    order = args.get("order", "")
    if order not in ("", "asc", "desc"):
        abort(400, description="order is asc or desc")
    base = ListQuery(
        statuses=statuses, sort=sort, descending=None if not order else order == "desc"
    )
    try:
        if args.get("format") == "csv":
            return csv_download(_every_row(listing, engine, base), columns, name)
        count = per_page(args.get("per_page"))
        first = listing(engine, dataclasses.replace(base, limit=0))
        page = Page(page_number(args.get("page")), count, first.total)
        listed = listing(engine, dataclasses.replace(base, limit=count, offset=page.offset))
        failing = _every_row(listing, engine, ListQuery(statuses=list(error_statuses)))
    except PermanentError as exc:
        abort(400, description=str(exc))
    return QueueList(
        rows=listed.rows,
        counts=listed.counts,
        page=page,
        causes=group_errors(failing),
        query={key: value for key, value in args.items() if key not in ("page", "format")},
        sorts=tuple(columns),
    )
