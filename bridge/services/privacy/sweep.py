"""The last pass of an erasure: every text, JSON and binary column of every table, searched for
what named the learner (their e-mails and name), the matches replaced by the pseudonym.

The services erase the fields they know; this pass catches copies nobody listed (an operator's
note, an API client's idempotency key, a write-back's payload). SQL's LIKE only narrows the rows
read; a match must stand alone (``ann@example.com`` is not part of ``joann@example.com``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, LargeBinary, Table, Text, cast, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

# What may stand around an e-mail address or a name without making it part of a longer one.
_EMAIL_BEFORE = r"(?<![A-Za-z0-9._%+\-])"
_EMAIL_AFTER = r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
_WORD_BEFORE = r"(?<!\w)"
_WORD_AFTER = r"(?!\w)"
# A name this short is a word of other people's data too: only the known fields lose it.
MIN_NAME = 4


@dataclass(frozen=True)
class Needle:
    """One thing to find (an e-mail or a name) and what replaces it."""

    text: str
    replacement: str
    is_email: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        before, after = (
            (_EMAIL_BEFORE, _EMAIL_AFTER) if self.is_email else (_WORD_BEFORE, _WORD_AFTER)
        )
        return re.compile(before + re.escape(self.text) + after, re.IGNORECASE)

    def stored_forms(self) -> set[str]:
        """The needle as text columns hold it, and as JSON escapes it (non-ASCII as \\uXXXX)."""
        return {self.text, json.dumps(self.text)[1:-1]}


def needles(emails: Iterable[str], names: Iterable[str], email: str, name: str) -> list[Needle]:
    """Needles for these e-mails (replaced by ``email``) and names (by ``name``)."""
    found = [Needle(e, email, True) for e in sorted({e for e in emails if e and "@" in e})]
    found += [
        Needle(n, name, False)
        for n in sorted({" ".join(n.split()) for n in names if n})
        if len(n) >= MIN_NAME
    ]
    return found


def _replace_text(text: str, found: Sequence[Needle]) -> str:
    for needle in found:
        text = needle.pattern.sub(needle.replacement, text)
    return text


def _replace_json(value: Any, found: Sequence[Needle]) -> Any:
    if isinstance(value, str):
        return _replace_text(value, found)
    if isinstance(value, list):
        return [_replace_json(item, found) for item in value]
    if isinstance(value, dict):
        return {
            _replace_text(str(key), found): _replace_json(item, found)
            for key, item in value.items()
        }
    return value


def _binary_mentions(value: bytes, found: Sequence[Needle]) -> bool:
    text = value.decode("utf-8", errors="replace")
    return any(n.pattern.search(text) or n.pattern.search(_unescape(text)) for n in found)


def _unescape(text: str) -> str:
    """JSON's \\uXXXX and \\/ escapes undone, so an escaped name is found too."""
    return re.sub(
        r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text.replace("\\/", "/")
    )


def _kind(column: Any) -> str | None:
    if isinstance(column.type, JSON):
        return "json"
    if isinstance(column.type, LargeBinary):
        return "binary"
    try:
        return "text" if column.type.python_type is str else None
    except NotImplementedError:
        return None


def _as_text(session: Session, column: Any, kind: str) -> ColumnElement[Any]:
    if kind == "binary" and session.get_bind().dialect.name == "postgresql":
        return func.encode(column, "escape")
    return cast(column, Text)


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def sweep(
    session: Session,
    found: Sequence[Needle],
    *,
    only: Callable[[Table], ColumnElement[bool] | None] | None = None,
) -> dict[str, int]:
    """Replace the needles in every table (binary values that mention one are dropped: they
    are raw payloads, personal as a whole); rows changed per table. ``only`` may narrow the
    rows of a table (a condition, or None for all of them)."""
    changed: dict[str, int] = {}
    if not found:
        return changed
    forms = sorted({form for needle in found for form in needle.stored_forms()})
    for table in SQLModel.metadata.sorted_tables:
        narrowed = only(table) if only is not None else None
        keys = list(table.primary_key.columns)
        for column in table.columns:
            kind = _kind(column)
            if kind is None or column in keys and kind != "text":
                continue
            text = _as_text(session, column, kind)
            matching = or_(*(text.ilike(_like(form), escape="\\") for form in forms))
            statement = select(*keys, column).where(matching)
            if narrowed is not None:
                statement = statement.where(narrowed)
            rows = session.execute(statement).all()
            for row in rows:
                value = row[-1]
                if kind == "binary":
                    new: Any = None if _binary_mentions(value, found) else value
                elif kind == "json":
                    new = _replace_json(value, found)
                else:
                    new = _replace_text(value, found)
                if new == value:
                    continue
                where = [key == row[index] for index, key in enumerate(keys)]
                session.execute(update(table).where(*where).values({column.name: new}))
                changed[table.name] = changed.get(table.name, 0) + 1
    return changed
