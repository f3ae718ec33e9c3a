"""Team packs: the places of a pack, each claimed with its own code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from bridge.rules.claims import ClaimPlaceStatus
from bridge.store.models.columns import json_column, utcnow


class ClaimPlace(SQLModel, table=True):
    """One place of a team pack, claimed with a code of which only the SHA-256 is kept.

    Status (a ClaimPlaceStatus): open (claimable), claimed (``learner_id`` holds what it confers) or
    void (the order no longer confers it; a claimant's holdings were reversed). ``confers`` is
    what one place conferred when it was sold: the offer and the offers it includes, as
    definitions.
    """

    __tablename__ = "claim_place"

    id: int | None = Field(default=None, primary_key=True)
    place_key: str = Field(max_length=200, unique=True)
    code_hash: str = Field(max_length=64, unique=True)
    order_id: int = Field(sa_type=BigInteger, index=True)
    line_item_id: int = Field(sa_type=BigInteger)
    unit: int
    place: int
    offer_sku: str = Field(max_length=100, index=True)
    status: str = Field(default=ClaimPlaceStatus.OPEN, max_length=16)
    confers: dict[str, Any] | None = json_column()
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    claimant_name: str = Field(default="", max_length=200)
    first_viewed_at: datetime | None = None
    claimed_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)
