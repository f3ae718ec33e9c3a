"""Lists that scale, over plain data: which page of how many, and CSV with the JSON's columns.

The console's lists (``?page=&per_page=&format=csv``) and the CLI's ``--csv`` share these, so
a list's CSV has the same columns, in the same order, as its JSON rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A header of ``columns``, then one line per row (nested values as JSON, text that a
    spreadsheet would take for a formula quoted with a leading apostrophe)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()
