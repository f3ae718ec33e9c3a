"""Learners, every e-mail they were known by, and the outcomes the shop does not know."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint
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
    # When the learner was erased (bridge.services.privacy): e-mail and name hold a pseudonym
    # from then on, and nothing the shop sends brings them back.
    erased_at: datetime | None = None


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


class LearnerPageLink(SQLModel, table=True):
    """A learner's personal page link (``/me/<token>``): only the token's SHA-256 and the nonce
    it was derived with (bridge.rules.learner_page), never the token.

    One active row per learner (``revoked_at`` empty); a new link revokes it and adds another.
    ``note_key`` is the outbox key of the customer note that first carried a link to the
    learner (set once, on the row active then), ``opened_at`` when the page was last opened.
    """

    __tablename__ = "learner_page_link"

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    nonce: str = Field(max_length=32)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    opened_at: datetime | None = None
    note_key: str | None = Field(default=None, max_length=300)


class CalendarEntry(SQLModel, table=True):
    """What a learner's calendar feed last said of one event (``uid``), so ``SEQUENCE`` rises
    exactly when the event changes (its time, place, title or status)."""

    __tablename__ = "calendar_entry"
    __table_args__ = (UniqueConstraint("learner_id", "uid"),)

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    uid: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)
    sequence: int = 0
    changed_at: datetime = Field(default_factory=utcnow)
