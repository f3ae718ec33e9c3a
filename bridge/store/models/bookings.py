"""Mentor bookings, the redemptions that spend credits on them, booking-link tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from bridge.rules.bookings.events import Attendance, RedemptionStatus
from bridge.store.models.columns import utcnow


class Booking(SQLModel, table=True):
    """A Cal.com or Calendly booking and what it spent; one row per booking ``key``.

    ``key`` is ``calcom:<uid>:<attendee e-mail>`` or ``calendly:<invitee URI>``. A debited
    booking points at its redemption; a reschedule moves that pointer to the new booking's row.
    Status (a BookingStatus): debited, returned, unfunded, unknown_learner, held_for_review (the
    attendee's e-mail alone named the learner: an operator approves or rejects), rejected,
    rescheduled (its debit moved on) or cancelled (nothing had been spent). Attendance (an
    Attendance): booked, held or no_show. ``learner_id`` of a held or rejected booking is the
    learner its e-mail named, no proof; ``matched_by`` says what the learner was found by.
    """

    __table_args__ = (Index("ix_booking_status_starts", "status", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=400, unique=True)
    source: str = Field(max_length=16)
    external_id: str = Field(default="", max_length=400)
    # Cal.com's numeric booking id: MEETING_ENDED names the booking by it alone.
    booking_number: int | None = Field(default=None, sa_type=BigInteger, index=True)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    attendee_email: str = Field(default="", max_length=254)
    # token (the booking link's), trusted_email, email (no proof: held), approved (by an
    # operator), legacy (matched before proofs were asked for), '' (no learner).
    matched_by: str = Field(default="", max_length=16)
    mentor_email: str = Field(default="", max_length=254)
    mentor_name: str = Field(default="", max_length=200)
    event_type: str = Field(default="", max_length=400)
    title: str = Field(default="", max_length=200)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    minutes: int | None = None
    credit_type: str = Field(default="", max_length=64)
    amount: int = 0
    # Minutes of the debit the learner's complimentary first call covered.
    complimentary_minutes: int = 0
    status: str = Field(max_length=16)
    attendance: str = Field(default=Attendance.BOOKED, max_length=16)
    redemption_id: int | None = Field(default=None, foreign_key="redemption.id")
    previous_id: int | None = Field(default=None, foreign_key="booking.id")
    # Calendly: the invitee that replaces this one (its created delivery may come later).
    next_key: str | None = Field(default=None, max_length=400, index=True)
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None
    held_at: datetime | None = None
    # Who approved or rejected a booking held for review, and when.
    reviewed_by: str = Field(default="", max_length=254)
    reviewed_at: datetime | None = None


class Redemption(SQLModel, table=True):
    """Credits spent on a booking; refunding it appends a reversal of its ledger row, once."""

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    credit_type: str = Field(max_length=64)
    amount: int
    reference: str = Field(max_length=200, index=True)
    mentor: str = Field(default="", max_length=200)
    # The Idempotency-Key; an API token's as "token <name> <key>" (redemptions.token_key).
    idempotency_key: str = Field(max_length=128, unique=True)
    ledger_entry_id: int = Field(foreign_key="ledger_entry.id")
    refund_entry_id: int | None = Field(default=None, foreign_key="ledger_entry.id")
    status: str = Field(default=RedemptionStatus.ACTIVE, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    refunded_at: datetime | None = None


class BookingToken(SQLModel, table=True):
    """A learner's booking-link token: only its SHA-256 and the nonce it was derived with.

    One active row per learner (``revoked_at`` empty); rotating revokes it and adds another.
    """

    __tablename__ = "booking_token"

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    nonce: str = Field(max_length=32)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
