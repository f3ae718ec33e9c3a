"""WooCommerce Subscriptions subscriptions as last seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class Subscription(SQLModel, table=True):
    """A WooCommerce Subscriptions subscription as last seen; locked to serialise work on it."""

    id: int = Field(primary_key=True, sa_type=BigInteger)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    status: str = Field(max_length=32)  # a SubscriptionStatus, as the shop said
    billing_period: str = Field(default="month", max_length=16)
    billing_interval: int = 1
    start_gmt: datetime | None = None
    next_payment_gmt: datetime | None = None
    last_payment_gmt: datetime | None = None
    end_gmt: datetime | None = None
    # When it was first seen cancelled (WooCommerce may leave cancelled_date_gmt empty).
    cancelled_gmt: datetime | None = None
    parent_order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    offer_skus: list[str] | None = json_column()
    # Perks of its offers when last applied, for readers without a catalogue.
    perks: list[str] | None = json_column()
    # Renewal and switch orders the shop lists for it (meta *_order_ids_cache).
    order_ids: list[int] | None = json_column()
    date_modified_gmt: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
