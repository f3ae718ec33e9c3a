"""Console operators: accounts with argon2id password hashes, and the wrong-password throttle.

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id, memory-hard, its own
salt per hash); a hash made with older parameters is replaced at the next good login. Wrong
passwords are counted per client address in the database, so every worker of a gunicorn
deployment sees the same count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bridge.errors import PermanentError
from bridge.rules.entitlements import normalise_email
from bridge.store.db import unit_of_work
from bridge.store.models import LoginFailure, Operator, utcnow

ROLES = ("admin", "viewer")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
# Wrong passwords from one address within the window before logins from it are refused.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so both cases take the same time; made at
    first use, not at import (an argon2 hash costs every CLI start ~0.1 s)."""
    return _hasher.hash("not-a-real-password-0123456789")


class OperatorError(PermanentError):
    """An operator command was refused: unknown operator, weak password, bad role."""


@dataclass(frozen=True)
class OperatorView:
    id: int
    email: str
    role: str
    created_at: datetime
    last_login_at: datetime | None
    # A digest of the password hash: sessions made before a password change stop working.
    session_tag: str

    @property
    def can_change(self) -> bool:
        return self.role == "admin"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role,
                "created_at": self.created_at.isoformat(),
                "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None}


def _view(row: Operator) -> OperatorView:
    tag = hashlib.sha256(row.password_hash.encode()).hexdigest()[:16]
    assert row.id is not None
    return OperatorView(row.id, row.email, row.role, row.created_at, row.last_login_at, tag)


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
    """Create an operator, or set the password and role of an existing one."""
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
        session.add(row)
        session.commit()
        session.refresh(row)
        return _view(row)


def list_operators(engine: Engine) -> list[OperatorView]:
    with unit_of_work(engine) as session:
        return [_view(row) for row in
                session.exec(select(Operator).order_by(col(Operator.email))).all()]


def remove_operator(engine: Engine, email: str) -> None:
    """Delete an operator; their sessions stop working at their next request."""
    with unit_of_work(engine) as session:
        row = session.exec(select(Operator).where(Operator.email == normalise_email(email))).first()
        if row is None:
            raise OperatorError(f"no operator {email!r}; `bridge operators list` shows them")
        session.delete(row)
        session.commit()


def get_operator(engine: Engine, operator_id: int) -> OperatorView | None:
    with unit_of_work(engine) as session:
        row = session.get(Operator, operator_id)
        return _view(row) if row is not None else None


def authenticate(engine: Engine, email: str, password: str,
                 now: datetime | None = None) -> OperatorView | None:
    """The operator when the password matches; None otherwise (same time either way)."""
    if not password or len(password) > MAX_PASSWORD:
        return None
    with unit_of_work(engine) as session:
        row = session.exec(
            select(Operator).where(Operator.email == normalise_email(email))
        ).first()
        try:
            _hasher.verify(row.password_hash if row is not None else _dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        row.last_login_at = now or utcnow()
        session.add(row)
        session.commit()
        session.refresh(row)
        return _view(row)


def throttled(engine: Engine, address: str, now: datetime | None = None) -> timedelta | None:
    """How long logins from this address stay refused, or None when they are allowed."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        row = session.get(LoginFailure, address[:64])
        if row is None or row.failures < MAX_FAILURES:
            return None
        left = row.first_at + FAILURE_WINDOW - now
        return left if left > timedelta(0) else None


def record_failure(engine: Engine, address: str, now: datetime | None = None) -> int:
    """Count a wrong password from this address; returns the count in the current window."""
    now = now or utcnow()
    for attempt in range(2):
        with unit_of_work(engine) as session:
            row = session.exec(select(LoginFailure).where(LoginFailure.address == address[:64])
                               .with_for_update()).first()
            if row is None:
                row = LoginFailure(address=address[:64], failures=0, first_at=now, last_at=now)
            if row.first_at + FAILURE_WINDOW <= now:
                row.failures, row.first_at = 0, now
            row.failures += 1
            row.last_at = now
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # a concurrent first failure inserted the row: count again
                if attempt:
                    raise
                continue
            return row.failures
    raise AssertionError("unreachable")


def clear_failures(engine: Engine, address: str) -> None:
    with unit_of_work(engine) as session:
        row = session.get(LoginFailure, address[:64])
        if row is not None:
            session.delete(row)
            session.commit()
