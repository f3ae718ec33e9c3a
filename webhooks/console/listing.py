"""What every console list shares: the CSV download (``?format=csv``, the JSON's columns,
bridge.rules.listing) and how many rows an export may hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response

from bridge.rules.listing import csv_text

CSV_MAX_ROWS = 100_000


def csv_download(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], name: str) -> Response:
    """A list as a CSV file (UTF-8 with a byte-order mark, which spreadsheets need)."""
    response = Response("\ufeff" + csv_text(rows, columns), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
