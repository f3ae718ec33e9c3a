"""Cohorts and their seats: who holds a seat, who waits for one, who gave one back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, nulls_last
from sqlmodel import Field, SQLModel, col

from bridge.store.models.columns import utcnow


class Cohort(SQLModel, table=True):
    """A timed cohort; capacity comes from its real limits (see bridge.rules.catalogue.catalog)."""

    code: str = Field(primary_key=True, max_length=64)
    title: str = Field(default="", max_length=200)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str = Field(default="UTC", max_length=64)
    capacity: int = 0
    waitlist: bool = True
    # The limits capacity comes from, so pages can say why (None: stored before they were kept).
    mentors: int | None = None
    learners_per_mentor: int | None = None
    assessment_slots: int | None = None
    # The catalogue file's ``public_outcomes``: the cohort appears on /outcomes.
    public_outcomes: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class Seat(SQLModel, table=True):
    """A claim on a cohort seat; its status (a SeatStatus): active, waitlisted (in purchase
    order: ``paid_at``, then order id), released, or removed by an operator."""

    __table_args__ = (Index("ix_seat_cohort_status", "cohort_code", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    cohort_code: str = Field(foreign_key="cohort.code", max_length=64)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    grant_key: str = Field(max_length=200, index=True)
    source_key: str = Field(max_length=220, unique=True)
    order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    offer_sku: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)
    # When the order that claims it was paid (else created): seats go in this order.
    paid_at: datetime | None = None
    # When the customer was told they hold the seat (a customer note): it is never taken back.
    confirmed_at: datetime | None = None
    # Why an operator wrote this row ("moved from DV-1 by ops@example.com"); None: the order.
    reason: str | None = Field(default=None, max_length=200)


def seat_purchase_order() -> tuple[Any, ...]:
    """ORDER BY for seats in purchase order (the waitlist's order): paid date, order, row.

    The same order as bridge.rules.seating.purchase_order, in SQL.
    """
    return (nulls_last(col(Seat.paid_at)), col(Seat.order_id), col(Seat.id))
