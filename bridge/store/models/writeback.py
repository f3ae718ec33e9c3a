"""Write-back to WooCommerce: the outbox, what was last written, personal coupons."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class OutboxStatus(StrEnum):
    """Where an outbox row stands (OutboxItem.status)."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a drain until ``next_attempt_at``
    SENT = "sent"
    UNCHANGED = "unchanged"  # equal to what was last written, so not sent
    DEAD = "dead"  # out of tries, or refused for good
    SUPERSEDED = "superseded"  # a newer value for its target replaced it
    HELD = "held"  # a note whose links need BRIDGE_PUBLIC_URL: worded and sent once it is set


class OutboxItem(SQLModel, table=True):
    """A pending write-back to WooCommerce; latest value wins per ``target_key``.

    Its status is an OutboxStatus.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    resource: str = Field(max_length=32)
    operation: str = Field(max_length=32)
    target_id: int | None = Field(default=None, sa_type=BigInteger)
    target_key: str = Field(max_length=200, index=True)
    payload: dict[str, Any] | None = json_column()
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    last_error: str = Field(default="", max_length=2000)
    next_attempt_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    claimed_at: datetime | None = None
    # A create may have reached the shop without its answer reaching us: look before resending.
    in_doubt: bool = False
    # WooCommerce refused this item inside a batch: retry it in a batch of its own.
    send_alone: bool = False


class OutboxWritten(SQLModel, table=True):
    """What the bridge last wrote to one WooCommerce target, so an unchanged value is not sent."""

    __tablename__ = "outbox_written"

    target_key: str = Field(primary_key=True, max_length=200)
    resource: str = Field(max_length=32)
    target_id: int | None = Field(default=None, sa_type=BigInteger)
    data: dict[str, Any] | None = json_column()
    written_at: datetime = Field(default_factory=utcnow)


class PersonalCoupon(SQLModel, table=True):
    """A personal coupon offered to a learner: one per learner and rule, ever."""

    __tablename__ = "personal_coupon"
    __table_args__ = (UniqueConstraint("learner_id", "rule", name="uq_personal_coupon_rule"),)

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    rule: str = Field(max_length=100)
    code: str = Field(max_length=64, unique=True)
    discount_type: str = Field(max_length=16)
    amount: str = Field(max_length=32)
    email: str = Field(max_length=254)
    product_ids: list[int] | None = json_column()
    offer_skus: list[str] | None = json_column()
    order_id: int | None = Field(default=None, sa_type=BigInteger)
    expires_at: datetime | None = None
    woo_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
