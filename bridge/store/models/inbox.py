"""Webhook deliveries, stored before they are trusted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.store.models.columns import json_column, utcnow


class InboxDelivery(SQLModel, table=True):
    """One webhook delivery, stored before it is trusted to be processed."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("business_key", name="uq_inbox_business_key"),
        Index("ix_inbox_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=64)
    resource: str = Field(default="", max_length=32)
    event: str = Field(default="", max_length=32)
    resource_id: int | None = Field(default=None, sa_type=BigInteger)
    webhook_id: str = Field(default="", max_length=32)
    delivery_id: str = Field(default="", max_length=64)
    business_key: str = Field(max_length=200)
    headers: dict[str, Any] | None = json_column()
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(default=DeliveryStatus.RECEIVED, max_length=16)
    attempts: int = 0
    last_error: str = Field(default="", max_length=2000)
    next_attempt_at: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow, index=True)
    processed_at: datetime | None = None
