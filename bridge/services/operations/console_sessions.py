"""Console sessions kept in the database, so that logging out really ends them.

The cookie carries a random session id (256 bits); the database keeps only its SHA-256, the
operator, when it began and when it was last used. A session ends on logout, when its operator
is removed or given a new password, after ``idle`` without a request, and ``max_age`` after it
began however active it is. Each login makes a new id (an id known before the login is worth
nothing after it). The last-used time moves at most once a minute, so reading pages does not
cost a write per request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_, update
from sqlmodel import col, select

from bridge.services.operations.operators import OperatorView, operator_view
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import ConsoleSession, Operator

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    max_age: timedelta
    touch_every: timedelta = TOUCH_EVERY

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=settings.console.session_idle_minutes),
            max_age=timedelta(hours=settings.console.session_max_hours),
        )

    def ended(self, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        return now - last_seen_at >= self.idle or now - created_at >= self.max_age


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def start_session(
    engine: Engine,
    operator_id: int,
    now: datetime,
    policy: SessionPolicy,
    *,
    replaces: str | None = None,
) -> str:
    """A new session for the operator; returns its id (for the cookie, never stored).

    ``replaces``: the id the browser held before, ended now. Ended sessions of everyone are
    deleted on the way.
    """
    session_id = secrets.token_urlsafe(32)
    with unit_of_work(engine) as session:
        if replaces:
            session.execute(
                delete(ConsoleSession).where(col(ConsoleSession.id_hash) == _digest(replaces))
            )
        session.add(
            ConsoleSession(
                id_hash=_digest(session_id),
                operator_id=operator_id,
                created_at=now,
                last_seen_at=now,
            )
        )
        session.commit()
    end_expired_sessions(engine, now, policy)
    return session_id


def session_operator(
    engine: Engine, session_id: str, now: datetime, policy: SessionPolicy
) -> OperatorView | None:
    """The operator of a live session, or None (unknown, ended, or past a lifetime: deleted)."""
    digest = _digest(session_id)
    with unit_of_work(engine) as session:
        found = session.exec(
            select(ConsoleSession, Operator)
            .join(Operator, col(Operator.id) == col(ConsoleSession.operator_id))
            .where(col(ConsoleSession.id_hash) == digest)
        ).first()
        if found is None:
            return None
        row, operator = found
        if policy.ended(row.created_at, row.last_seen_at, now):
            session.execute(delete(ConsoleSession).where(col(ConsoleSession.id_hash) == digest))
            session.commit()
            return None
        if now - row.last_seen_at >= policy.touch_every:
            session.execute(
                update(ConsoleSession)
                .where(col(ConsoleSession.id_hash) == digest)
                .values(last_seen_at=now)
            )
            session.commit()
        return operator_view(operator)


def end_session(engine: Engine, session_id: str) -> bool:
    """Log out: the session is gone; True when there was one."""
    with unit_of_work(engine) as session:
        gone = session.exec(
            delete(ConsoleSession).where(col(ConsoleSession.id_hash) == _digest(session_id))
        ).rowcount
        session.commit()
        return bool(gone)


def end_expired_sessions(engine: Engine, now: datetime, policy: SessionPolicy) -> int:
    """Delete the sessions past their idle or absolute lifetime; returns how many."""
    with unit_of_work(engine) as session:
        gone = session.exec(
            delete(ConsoleSession).where(
                or_(
                    col(ConsoleSession.last_seen_at) <= now - policy.idle,
                    col(ConsoleSession.created_at) <= now - policy.max_age,
                )
            )
        ).rowcount
        session.commit()
        return int(gone or 0)
