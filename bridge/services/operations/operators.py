"""Console operators: accounts with argon2id password hashes.

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id, memory-hard, its own
salt per hash); a hash made with older parameters is replaced at the next good login. Giving
an operator a new password or removing them ends their console sessions at once. The login
throttle is in bridge.services.operations.login_throttle, the sessions in
bridge.services.operations.console_sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.entitlements import normalise_email
from bridge.store.db import unit_of_work
from bridge.store.models import ConsoleSession, Operator, utcnow

ROLES = ("admin", "viewer")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
# (hasher, its hash of a password nobody has): made at first use, not at import (an argon2
# hash costs every CLI start ~0.1 s), and again if the hasher is replaced (tests do).
_dummy: list[tuple[PasswordHasher, str]] = []


def dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so both cases take the same time (made
    with the parameters real hashes are made with)."""
    if not _dummy or _dummy[0][0] is not _hasher:
        _dummy[:] = [(_hasher, _hasher.hash("not-a-real-password-0123456789"))]
    return _dummy[0][1]


class OperatorError(PermanentError):
    """An operator command was refused: unknown operator, weak password, bad role."""


@dataclass(frozen=True)
class OperatorView:
    id: int
    email: str
    role: str
    created_at: datetime
    last_login_at: datetime | None

    @property
    def can_change(self) -> bool:
        return self.role == "admin"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


def operator_view(row: Operator) -> OperatorView:
    assert row.id is not None
    return OperatorView(row.id, row.email, row.role, row.created_at, row.last_login_at)


def _end_sessions(session: Session, operator_id: int | None) -> None:
    """End every console session of the operator (in the caller's transaction)."""
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.operator_id) == operator_id))


def check_password(password: str) -> None:
    """Refuse a password too short or too long to be worth hashing."""
    if len(password) < MIN_PASSWORD:
        raise OperatorError(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise OperatorError(f"the password must be at most {MAX_PASSWORD} characters long")


def _email(email: str) -> str:
    normal = normalise_email(email)
    if "@" not in normal or normal.startswith("@") or normal.endswith("@") or " " in normal:
        raise OperatorError(f"{email!r} is not an e-mail address")
    return normal


def add_operator(engine: Engine, email: str, password: str, role: str = "admin") -> OperatorView:
    """Create an operator, or set the password and role of an existing one (ending their
    console sessions: whoever held one must log in with the new password)."""
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    check_password(password)
    address = _email(email)
    digest = _hasher.hash(password)
    with unit_of_work(engine) as session:
        row = session.exec(select(Operator).where(Operator.email == address)).first()
        if row is None:
            row = Operator(email=address, password_hash=digest, role=role)
        else:
            row.password_hash, row.role = digest, role
            _end_sessions(session, row.id)
        session.add(row)
        session.commit()
        session.refresh(row)
        return operator_view(row)


def list_operators(engine: Engine) -> list[OperatorView]:
    with unit_of_work(engine) as session:
        return [
            operator_view(row)
            for row in session.exec(select(Operator).order_by(col(Operator.email))).all()
        ]


def remove_operator(engine: Engine, email: str) -> None:
    """Delete an operator and end their console sessions."""
    with unit_of_work(engine) as session:
        row = session.exec(select(Operator).where(Operator.email == normalise_email(email))).first()
        if row is None:
            raise OperatorError(f"no operator {email!r}; `bridge operators list` shows them")
        _end_sessions(session, row.id)
        session.delete(row)
        session.commit()


def authenticate(
    engine: Engine, email: str, password: str, now: datetime | None = None
) -> OperatorView | None:
    """The operator when the password matches; None otherwise (same time either way).

    The hash is evaluated outside any transaction: on SQLite a transaction holds the write
    lock, which webhook deliveries wait for.
    """
    if not password or len(password) > MAX_PASSWORD:
        return None
    with unit_of_work(engine) as session:
        row = session.exec(select(Operator).where(Operator.email == normalise_email(email))).first()
    stored = row.password_hash if row is not None else dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    with unit_of_work(engine) as session:
        current = session.get(Operator, row.id)
        if current is None or current.password_hash != stored:
            return None  # removed, or given another password, while the hash was evaluated
        if _hasher.check_needs_rehash(stored):
            current.password_hash = _hasher.hash(password)
        current.last_login_at = now or utcnow()
        session.add(current)
        session.commit()
        session.refresh(current)
        return operator_view(current)
