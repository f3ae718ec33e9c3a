"""A stored row's id as an int.

SQLModel types a generated primary key ``int | None``: None until the row is inserted. Code
that holds a stored row (read from the database, or flushed) asks for its id here, so an
unsaved row fails loudly at once instead of passing None on into a query that then quietly
matches nothing.
"""

from __future__ import annotations

from typing import Protocol

# Row ids are INTEGER columns: an id past this is no row, and PostgreSQL refuses to compare one.
MAX_ROW_ID = 2**31 - 1


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


class NotStored(RuntimeError):
    """A row without an id was used as a stored one: a programming error (flush it first)."""


def id_of(row: _Row) -> int:
    """``row.id``, which must be set (the row is in the database, or at least flushed)."""
    if row.id is None:
        raise NotStored(f"{type(row).__name__} has no id yet: it was never inserted")
    return row.id
