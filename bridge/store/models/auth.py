"""Who may act: console operators, their sessions and login throttle, API tokens and
the responses replayed for their Idempotency-Keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class Operator(SQLModel, table=True):
    """A person who may use the console: an admin changes things, a viewer only looks."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    # argon2id, with its parameters and salt (PHC string format).
    password_hash: str = Field(max_length=255)
    role: str = Field(default="admin", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A logged-in console session; the cookie carries the id, only its SHA-256 is stored."""

    __tablename__ = "console_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    operator_id: int = Field(foreign_key="operator.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Moved on at most once a minute, so a page view does not always cost a write.
    last_seen_at: datetime = Field(default_factory=utcnow)


class LoginThrottle(SQLModel, table=True):
    """Login attempts counted in the current window for one client address or one account,
    shared by every worker. An attempt is counted before its password is evaluated; only a
    good password gives its count back (bridge.services.operations.login_throttle)."""

    __tablename__ = "login_throttle"

    # "address:<client address>" or "account:<sha256 of the normalised e-mail>".
    key: str = Field(primary_key=True, max_length=80)
    attempts: int = 0
    window_start: datetime = Field(default_factory=utcnow, index=True)
    last_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A bearer token for the API, stored only as its SHA-256; a name may be reused once revoked."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    # Scope names joined by commas (bridge.services.operations.SCOPES; write includes read).
    scope: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class IdempotencyRecord(SQLModel, table=True):
    """The first successful response given for an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_record"

    key: str = Field(primary_key=True, max_length=128)  # a token's as "token <name> <key>"
    operation: str = Field(max_length=32)
    # SHA-256 of the request's meaning, so a key reused for a different request is refused.
    fingerprint: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] | None = json_column()
    created_at: datetime = Field(default_factory=utcnow)
