"""Wallets and other apps a learner connects through the Open Badges 3.0 API (OAuth 2.0).

Only hashes of secrets are stored: the client secret, authorization codes and tokens are kept
as their SHA-256 (hex), so a copy of the database gives no access.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class WalletClient(SQLModel, table=True):
    """An app registered by RFC 7591 dynamic client registration; ``metadata_`` is what it
    registered (names, URLs, redirect URIs, scope), as the registration answered it."""

    __tablename__ = "wallet_client"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=64)
    client_name: str = Field(default="", max_length=200)
    client_uri: str = Field(default="", max_length=500)
    scope: str = Field(default="", max_length=500)
    client_metadata: dict[str, Any] | None = json_column()
    registered_at: datetime = Field(default_factory=utcnow)
    # Blocked by an operator: no authorization, token or API call of the client succeeds.
    blocked_at: datetime | None = None
    blocked_by: str = Field(default="", max_length=254)


class WalletCode(SQLModel, table=True):
    """An authorization code a learner granted on the consent page; used once, then kept so a
    second use is seen (and the tokens issued from it revoked)."""

    __tablename__ = "wallet_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    client_id: str = Field(max_length=64, index=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    redirect_uri: str = Field(max_length=500)
    scope: str = Field(max_length=500)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=10)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class WalletToken(SQLModel, table=True):
    """An access token and its refresh token for one learner and one client. Refreshing revokes
    the row and adds another; a learner disconnecting the app revokes all of its rows."""

    __tablename__ = "wallet_token"

    id: int | None = Field(default=None, primary_key=True)
    access_hash: str = Field(max_length=64, unique=True)
    refresh_hash: str | None = Field(default=None, max_length=64, unique=True)
    client_id: str = Field(max_length=64, index=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    code_id: int | None = Field(default=None, foreign_key="wallet_code.id")
    scope: str = Field(max_length=500)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    refresh_expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class WalletCredential(SQLModel, table=True):
    """A credential an app stored for a learner by upsertCredential (issued by someone else),
    kept as sent (``form`` ``jws`` or ``json``, ``content`` the text) and found again by ``key``
    (the hash of its issuer id and id, the spec's equality): a second upsert replaces it. The
    learner's own data: exported with them, deleted when they are erased."""

    __tablename__ = "wallet_credential"
    __table_args__ = (UniqueConstraint("learner_id", "key", name="uq_wallet_credential_key"),)

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    key: str = Field(max_length=64)
    credential_id: str = Field(max_length=500)
    issuer_id: str = Field(max_length=500)
    client_id: str = Field(max_length=64)  # the app that stored (or last replaced) it
    form: str = Field(max_length=10)
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
