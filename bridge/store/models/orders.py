"""Orders as last applied, and what they granted: the credit ledger and access windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class OrderState(SQLModel, table=True):
    """The last applied state of a WooCommerce order; locked to serialise work on one order."""

    __tablename__ = "order_state"

    order_id: int = Field(primary_key=True, sa_type=BigInteger)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    status: str = Field(max_length=32)  # an OrderStatus, or a status a plugin added
    date_modified_gmt: datetime | None = None
    date_paid_gmt: datetime | None = None
    date_created_gmt: datetime | None = None
    total: str = Field(default="0", max_length=32)
    currency: str = Field(default="", max_length=8)
    summary: dict[str, Any] | None = json_column()
    updated_at: datetime = Field(default_factory=utcnow)


class UnmappedLine(SQLModel, table=True):
    """A paid order line that sells no micro-SKU (and is not marked as no offer), kept visible."""

    __tablename__ = "unmapped_line"

    order_id: int = Field(primary_key=True, sa_type=BigInteger)
    line_item_id: int = Field(primary_key=True, sa_type=BigInteger)
    sku: str = Field(default="", max_length=100, index=True)
    product_id: int = Field(default=0, sa_type=BigInteger)
    variation_id: int = Field(default=0, sa_type=BigInteger)
    name: str = Field(default="", max_length=200)
    quantity: int = 0
    total: str = Field(default="0", max_length=32)
    seen_at: datetime = Field(default_factory=utcnow)


class LedgerEntry(SQLModel, table=True):
    """One signed movement of credits; reversals are new rows pointing at what they reverse."""

    __tablename__ = "ledger_entry"
    __table_args__ = (Index("ix_ledger_learner_type", "learner_id", "credit_type"),)

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id")
    credit_type: str = Field(max_length=64)
    amount: int
    reason: str = Field(max_length=32)
    # grant_key names what is conferred (stable across re-grants); source_key is that plus a
    # generation, unique, so a grant reversed and conferred again is stored exactly once more.
    grant_key: str = Field(max_length=200, index=True)
    source_key: str = Field(max_length=220, unique=True)
    reverses_id: int | None = Field(default=None, foreign_key="ledger_entry.id")
    order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    offer_sku: str | None = Field(default=None, max_length=100)
    expires_at: datetime | None = None
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # When the sale happened (the order paid, or created when unpaid): the report dates by it,
    # while created_at stays the moment the row was written, for the audit.
    sale_at: datetime | None = None
    # Who made a manual adjustment (``--by``, default the OS user); empty for order grants.
    actor: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})


class Access(SQLModel, table=True):
    """A window of access to a project, assessment or preview, granted by one order unit."""

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    kind: str = Field(max_length=32)
    offer_sku: str = Field(max_length=100)
    grant_key: str = Field(max_length=200, index=True)
    source_key: str = Field(max_length=220, unique=True)
    order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    revoked_at: datetime | None = None
    details: dict[str, Any] | None = json_column()
    created_at: datetime = Field(default_factory=utcnow)
