"""Open Badges credentials, the issuer's public keys, the revocation status list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class Credential(SQLModel, table=True):
    """An Open Badges 3.0 credential issued to a learner for one micro-SKU, signed as a VC-JWT.

    ``uuid`` is its public identity, derived from ``source_key`` (the outcome event's key, or a
    manual award), so issuing again from the same source finds it instead of making another.
    """

    __table_args__ = (Index("ix_credential_learner_sku", "learner_id", "offer_sku"),)

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True)
    source_key: str = Field(max_length=200, unique=True)
    learner_id: int = Field(foreign_key="learner.id")
    offer_sku: str = Field(max_length=100)
    event_key: str | None = Field(default=None, max_length=128)
    order_id: int | None = Field(default=None, sa_type=BigInteger)  # the order that sold the SKU
    # Position of its bit in the revocation status list: random, so neighbours say nothing.
    status_index: int = Field(unique=True)
    salt: str = Field(max_length=64)
    document: dict[str, Any] | None = json_column()
    jwt: str = Field(sa_column=Column(Text, nullable=False))
    key_thumbprint: str = Field(max_length=64)
    issued_at: datetime = Field(default_factory=utcnow, index=True)
    revoked_at: datetime | None = None
    revocation_reason: str = Field(default="", max_length=500)
    # "achievement": an OB 3.0 credential for one SKU; "record": a CLR 2.0 ClrCredential for a
    # pathway (its offer_sku is "pathway:<code>"), carrying the credentials listed in ``parts``.
    kind: str = Field(
        default="achievement", max_length=20, sa_column_kwargs={"server_default": "achievement"}
    )
    parts: list[str] | None = json_column()  # a record's inner credentials, by UUID


class CredentialKey(SQLModel, table=True):
    """A public signing key the issuer has used; kept after rotation so old credentials verify."""

    __tablename__ = "credential_key"

    thumbprint: str = Field(primary_key=True, max_length=64)  # RFC 7638, the kid's last segment
    public_jwk: dict[str, Any] | None = json_column()
    created_at: datetime = Field(default_factory=utcnow)
    retired_at: datetime | None = None


class StatusList(SQLModel, table=True):
    """A signed Bitstring Status List credential, re-signed whenever a bit in it changes."""

    __tablename__ = "status_list"

    id: int = Field(primary_key=True)
    size: int
    encoded: str = Field(sa_column=Column(Text, nullable=False))
    jwt: str = Field(sa_column=Column(Text, nullable=False))
    revoked: int = 0
    updated_at: datetime = Field(default_factory=utcnow)
