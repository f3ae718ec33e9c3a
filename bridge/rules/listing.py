"""Lists that scale, over plain data: which page of how many, and CSV with the JSON's columns.

The console's lists (``?page=&per_page=&format=csv``) and the CLI's ``--csv`` share these, so
a list's CSV has the same columns, in the same order, as its JSON rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PER_PAGE = 50
MAX_PER_PAGE = 500
# A cell a spreadsheet would run as a formula (CSV injection) starts with one of these.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Page:
    """Page ``number`` (from 1) of ``per_page`` rows among ``total``."""

    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + self.per_page)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_number(text: str | None) -> int:
    """A page number as typed in a URL: a whole number from 1; anything else is page 1."""
    return int(text) if text and text.isdigit() and 0 < int(text) < 1_000_000 else 1


def per_page(text: str | None) -> int:
    """Rows per page as typed in a URL, 1 to MAX_PER_PAGE; anything else is PER_PAGE."""
    if text and text.isdigit() and 0 < int(text) <= MAX_PER_PAGE:
        return int(text)
    return PER_PAGE


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def every_row(
    fetch: Callable[[int], tuple[Sequence[Mapping[str, Any]], int]], most: int = 100_000
) -> list[Mapping[str, Any]]:
    """Every row of a paged listing: ``fetch(offset)`` gives a page and the total."""
    rows: list[Mapping[str, Any]] = []
    while len(rows) < most:
        page, total = fetch(len(rows))
        rows.extend(page)
        if not page or len(rows) >= total:
            break
    return rows[:most]


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header of ``columns``, then one line per row (nested values as JSON, text that a
    spreadsheet would take for a formula quoted with a leading apostrophe)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


@dataclass(frozen=True)
class ErrorCause:
    """Rows whose errors share a cause: the cause, how many, and the newest row's id."""

    cause: str
    count: int
    example_id: int


_NUMBER = re.compile(r"\b\d+\b|#\d+")


def error_cause(error: str) -> str:
    """What an error says once its particulars (ids, counts) are taken out: the part before
    the first colon when that names a code or status, else its first line; numbers as N."""
    line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    head, colon, _ = line.partition(":")
    text = head if colon and len(head) <= 80 else line[:120]
    status = re.match(r"[1-5]\d\d\b", text)  # an HTTP status leads: it is the cause
    kept = status.group(0) if status else ""
    return (kept + _NUMBER.sub("N", text[len(kept) :])).strip() or "(no error text)"


def group_errors(rows: Iterable[Mapping[str, Any]], key: str = "last_error") -> list[ErrorCause]:
    """Rows grouped by the cause of their error, most frequent first."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        if not row.get(key):
            continue
        ids = counts.setdefault(error_cause(str(row[key])), [])
        ids.append(int(row["id"]))
    return sorted(
        (ErrorCause(cause, len(ids), max(ids)) for cause, ids in counts.items()),
        key=lambda c: (-c.count, c.cause),
    )
