"""Learners, every e-mail they were known by, and the outcomes the shop does not know."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import utcnow


class Learner(SQLModel, table=True):
    """A person who buys: a WooCommerce customer, or a guest known by billing e-mail."""

    id: int | None = Field(default=None, primary_key=True)
    woo_customer_id: int | None = Field(default=None, unique=True, sa_type=BigInteger)
    email: str = Field(max_length=254, unique=True)
    # Billing name of their latest order, so operators can find them by name.
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LearnerEmail(SQLModel, table=True):
    """Every e-mail address a learner has been known by, so history survives a change."""

    __tablename__ = "learner_email"

    email: str = Field(primary_key=True, max_length=254)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    seen_at: datetime = Field(default_factory=utcnow)


class OutcomeEvent(SQLModel, table=True):
    """A fact the shop does not know (project started or submitted, interview, placement).

    ``key`` makes recording idempotent: the API's Idempotency-Key, or a CSV line's key.
    """

    __tablename__ = "outcome_event"
    __table_args__ = (Index("ix_outcome_event_kind_time", "kind", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)  # a token's as "token <name> <key>"
    kind: str = Field(max_length=32)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    offer_sku: str = Field(max_length=100)
    occurred_at: datetime
    source: str = Field(default="api", max_length=16)  # api or csv
    # SHA-256 of the event's meaning, so a key reused for a different event is refused.
    fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
