"""What every table module shares: the one time representation, and nullable JSON columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the one time representation stored in the database."""
    return datetime.now(UTC)


def json_column() -> Any:
    """A nullable JSON column (a dict or a list), None by default."""
    return Field(default=None, sa_column=Column(JSON, nullable=True))
