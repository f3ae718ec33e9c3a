"""Writing and reading the audit trail (``audit_event`` rows)."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, utcnow

OPERATOR_MAX = 200
REASON_MAX = 500


class Via(StrEnum):
    """Through what an operator acted."""

    CLI = "cli"
    CONSOLE = "console"
    API = "api"


def _clean(text: str, limit: int) -> str:
    """One line, no control characters, at most ``limit`` characters."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())[:limit]


def operator_of(by: str | None = None, configured: str | None = None) -> str:
    """Who runs a CLI command: ``--by`` when given, else ``BRIDGE_OPERATOR`` (``configured``),
    else the OS user; ``unknown`` when none of them says."""
    for candidate in (by, configured):
        if candidate and _clean(candidate, OPERATOR_MAX):
            return _clean(candidate, OPERATOR_MAX)
    try:
        return _clean(getpass.getuser(), OPERATOR_MAX) or "unknown"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a details value (datetimes as ISO text, the rest as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


def record_action(
    session: Session,
    *,
    operator: str,
    via: Via | str,
    action: str,
    subject: str = "",
    reason: str | None = "",
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one audit row in the caller's unit of work (the caller commits).

    ``action`` is ``area.verb`` (``credits.grant``, ``outbox.retry``, ``cohort.steer``);
    ``subject`` a reference such as ``learner:12`` or ``token:booking-tool``; ``reason`` the
    operator's why; ``details`` references and figures (ids, amounts), no personal data.
    """
    event = AuditEvent(
        at=at or utcnow(),
        operator=_clean(operator, OPERATOR_MAX) or "unknown",
        via=str(Via(via)),
        action=_clean(action, 64),
        subject=_clean(subject, 200),
        reason=_clean(reason or "", REASON_MAX),
        details=_plain(dict(details)) if details else None,
    )
    session.add(event)
    session.flush()
    return event


def record_action_after(engine: Engine, **fields: Any) -> AuditEvent:
    """``record_action`` in a unit of work of its own, for an action a service already
    committed (a retry, a token made): the row follows the action, never precedes it."""
    with unit_of_work(engine) as session:
        event = record_action(session, **fields)
        session.commit()
        return event


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page and ``bridge audit`` narrow the trail to (each optional)."""

    operator: str = ""
    action: str = ""  # an exact action, or an area (``credits`` matches ``credits.grant``)
    subject: str = ""  # an exact subject, e.g. learner:12
    via: str = ""
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def _where(query: Any, flt: AuditFilter) -> Any:
    if flt.operator:
        query = query.where(col(AuditEvent.operator) == flt.operator)
    if flt.action:
        query = query.where(
            (col(AuditEvent.action) == flt.action)
            | col(AuditEvent.action).startswith(flt.action + ".")
        )
    if flt.subject:
        query = query.where(col(AuditEvent.subject) == flt.subject)
    if flt.via:
        query = query.where(col(AuditEvent.via) == flt.via)
    if flt.since is not None:
        query = query.where(col(AuditEvent.at) >= flt.since)
    if flt.until is not None:
        query = query.where(col(AuditEvent.at) < flt.until)
    return query


def list_events(
    session: Session, flt: AuditFilter = AuditFilter(), *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """The rows that match, newest first, one page of them; and how many match in all."""
    total = session.exec(_where(select(func.count()).select_from(AuditEvent), flt)).one()
    rows = session.exec(
        _where(select(AuditEvent), flt)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total)


def known_actions(session: Session) -> list[str]:
    """The actions the trail holds, for a filter's choices."""
    return sorted(session.exec(select(AuditEvent.action).distinct()).all())


def event_data(event: AuditEvent) -> dict[str, Any]:
    """A row as ``--json`` and the CSV export show it."""
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "operator": event.operator,
        "via": event.via,
        "action": event.action,
        "subject": event.subject,
        "reason": event.reason,
        "details": event.details or {},
    }
