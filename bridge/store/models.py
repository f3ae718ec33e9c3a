"""Tables. Every datetime is timezone-aware UTC (SQLModel's UTCDateTime rejects naive ones).

Ledger rows are append-only; balances are sums.

Changing a model needs a migration: ``python scripts/new_migration.py "what changed"``;
a test fails when the models and the migrations disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the one time representation stored in the database."""
    return datetime.now(UTC)


def _json_column() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Cohort(SQLModel, table=True):
    """A timed cohort; capacity comes from its real limits (see bridge.rules.catalog)."""

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


class Offer(SQLModel, table=True):
    """A micro-SKU as last read from the catalogue file or product meta."""

    sku: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=32)
    title: str = Field(default="", max_length=200)
    source: str = Field(default="file", max_length=16)
    active: bool = True
    definition: dict[str, Any] | None = _json_column()
    updated_at: datetime = Field(default_factory=utcnow)


class ProductBinding(SQLModel, table=True):
    """A WooCommerce product or variation id bound to a micro-SKU, with its sync date."""

    __tablename__ = "product_binding"

    woo_id: int = Field(primary_key=True, sa_type=BigInteger)
    parent_id: int = Field(default=0, sa_type=BigInteger)
    sku: str = Field(default="", max_length=100, index=True)
    offer_sku: str | None = Field(default=None, max_length=100, index=True)
    woo_type: str = Field(default="simple", max_length=32)
    woo_status: str = Field(default="publish", max_length=32)
    name: str = Field(default="", max_length=200)
    price: str = Field(default="", max_length=32)
    active: bool = True
    date_modified_gmt: datetime | None = None
    meta: dict[str, Any] | None = _json_column()
    updated_at: datetime = Field(default_factory=utcnow)


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


class Seat(SQLModel, table=True):
    """A claim on a cohort seat: active, waitlisted (FIFO by id) or released."""

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
    details: dict[str, Any] | None = _json_column()
    created_at: datetime = Field(default_factory=utcnow)


class OrderState(SQLModel, table=True):
    """The last applied state of a WooCommerce order; locked to serialise work on one order."""

    __tablename__ = "order_state"

    order_id: int = Field(primary_key=True, sa_type=BigInteger)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    status: str = Field(max_length=32)
    date_modified_gmt: datetime | None = None
    date_paid_gmt: datetime | None = None
    date_created_gmt: datetime | None = None
    total: str = Field(default="0", max_length=32)
    currency: str = Field(default="", max_length=8)
    summary: dict[str, Any] | None = _json_column()
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


class WatchState(SQLModel, table=True):
    """When the bridge started watching the shop: what happened before is history, told nobody."""

    __tablename__ = "watch_state"

    key: str = Field(primary_key=True, max_length=32)
    since: datetime
    source: str = Field(default="", max_length=32)  # init, first sync, first delivery
    created_at: datetime = Field(default_factory=utcnow)


class Subscription(SQLModel, table=True):
    """A WooCommerce Subscriptions subscription as last seen; locked to serialise work on it."""

    id: int = Field(primary_key=True, sa_type=BigInteger)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    status: str = Field(max_length=32)
    billing_period: str = Field(default="month", max_length=16)
    billing_interval: int = 1
    start_gmt: datetime | None = None
    next_payment_gmt: datetime | None = None
    last_payment_gmt: datetime | None = None
    end_gmt: datetime | None = None
    # When it was first seen cancelled (WooCommerce may leave cancelled_date_gmt empty).
    cancelled_gmt: datetime | None = None
    parent_order_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    offer_skus: list[str] | None = _json_column()
    # Perks of its offers when last applied, for readers without a catalogue.
    perks: list[str] | None = _json_column()
    # Renewal and switch orders the shop lists for it (meta *_order_ids_cache).
    order_ids: list[int] | None = _json_column()
    date_modified_gmt: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


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
    headers: dict[str, Any] | None = _json_column()
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(default="received", max_length=16)
    attempts: int = 0
    last_error: str = Field(default="", max_length=2000)
    next_attempt_at: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow, index=True)
    processed_at: datetime | None = None


class OutboxItem(SQLModel, table=True):
    """A pending write-back to WooCommerce; latest value wins per ``target_key``.

    Status: pending, sending (claimed by a drain until ``next_attempt_at``), sent, unchanged
    (equal to what was last written, so not sent), dead, superseded (a newer value replaced it).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    resource: str = Field(max_length=32)
    operation: str = Field(max_length=32)
    target_id: int | None = Field(default=None, sa_type=BigInteger)
    target_key: str = Field(max_length=200, index=True)
    payload: dict[str, Any] | None = _json_column()
    status: str = Field(default="pending", max_length=16)
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
    data: dict[str, Any] | None = _json_column()
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
    product_ids: list[int] | None = _json_column()
    offer_skus: list[str] | None = _json_column()
    order_id: int | None = Field(default=None, sa_type=BigInteger)
    expires_at: datetime | None = None
    woo_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class SyncCursor(SQLModel, table=True):
    """How far a resource has been reconciled (WooCommerce ``date_modified_gmt``)."""

    __tablename__ = "sync_cursor"

    resource: str = Field(primary_key=True, max_length=32)
    modified_after: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class JobLease(SQLModel, table=True):
    """One runner per job across processes; an expired lease may be taken over."""

    __tablename__ = "job_lease"

    job: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Counter(SQLModel, table=True):
    """Named counters (e.g. rejected webhook signatures) that outlive a process."""

    name: str = Field(primary_key=True, max_length=64)
    value: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A bearer token for the API, stored only as its SHA-256; a name may be reused once revoked."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    # Scope names joined by commas (bridge.services.api_tokens.SCOPES; write includes read).
    scope: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


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
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    refunded_at: datetime | None = None


class IdempotencyRecord(SQLModel, table=True):
    """The first successful response given for an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_record"

    key: str = Field(primary_key=True, max_length=128)  # a token's as "token <name> <key>"
    operation: str = Field(max_length=32)
    # SHA-256 of the request's meaning, so a key reused for a different request is refused.
    fingerprint: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] | None = _json_column()
    created_at: datetime = Field(default_factory=utcnow)


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


class ClaimPlace(SQLModel, table=True):
    """One place of a team pack, claimed with a code of which only the SHA-256 is kept.

    Status: open (claimable), claimed (``learner_id`` holds what it confers) or void (the
    order no longer confers it; a claimant's holdings were reversed). ``confers`` is what one
    place conferred when it was sold: the offer and the offers it includes, as definitions.
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
    status: str = Field(default="open", max_length=16)
    confers: dict[str, Any] | None = _json_column()
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    claimant_name: str = Field(default="", max_length=200)
    first_viewed_at: datetime | None = None
    claimed_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)


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
    document: dict[str, Any] | None = _json_column()
    jwt: str = Field(sa_column=Column(Text, nullable=False))
    key_thumbprint: str = Field(max_length=64)
    issued_at: datetime = Field(default_factory=utcnow, index=True)
    revoked_at: datetime | None = None
    revocation_reason: str = Field(default="", max_length=500)


class CredentialKey(SQLModel, table=True):
    """A public signing key the issuer has used; kept after rotation so old credentials verify."""

    __tablename__ = "credential_key"

    thumbprint: str = Field(primary_key=True, max_length=64)  # RFC 7638, the kid's last segment
    public_jwk: dict[str, Any] | None = _json_column()
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


class Booking(SQLModel, table=True):
    """A Cal.com or Calendly booking and what it spent; one row per booking ``key``.

    ``key`` is ``calcom:<uid>:<attendee e-mail>`` or ``calendly:<invitee URI>``. A debited
    booking points at its redemption; a reschedule moves that pointer to the new booking's row.
    Status: debited, returned, unfunded, unknown_learner, held_for_review (the attendee's
    e-mail alone named the learner: an operator approves or rejects), rejected, rescheduled
    (its debit moved on) or cancelled (nothing had been spent). Attendance: booked, held or
    no_show. ``learner_id`` of a held or rejected booking is the learner its e-mail named, no
    proof; ``matched_by`` says what the learner was found by.
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
    attendance: str = Field(default="booked", max_length=16)
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


class Operator(SQLModel, table=True):
    """A person who may use the console: an admin changes things, a viewer only looks."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    # argon2id, with its parameters and salt (PHC string format).
    password_hash: str = Field(max_length=255)
    role: str = Field(default="admin", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class LoginThrottle(SQLModel, table=True):
    """Login attempts counted in the current window for one client address or one account,
    shared by every worker. An attempt is counted before its password is evaluated; only a
    good password gives its count back (bridge.services.login_throttle)."""

    __tablename__ = "login_throttle"

    # "address:<client address>" or "account:<sha256 of the normalised e-mail>".
    key: str = Field(primary_key=True, max_length=80)
    attempts: int = 0
    window_start: datetime = Field(default_factory=utcnow, index=True)
    last_at: datetime = Field(default_factory=utcnow)


class ConsoleSession(SQLModel, table=True):
    """A logged-in console session; the cookie carries the id, only its SHA-256 is stored."""

    __tablename__ = "console_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    operator_id: int = Field(foreign_key="operator.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    # Moved on at most once a minute, so a page view does not always cost a write.
    last_seen_at: datetime = Field(default_factory=utcnow)


class JobRun(SQLModel, table=True):
    """How the last run of each sync job ended, for the console."""

    __tablename__ = "job_run"

    job: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)
    reason: str = Field(default="", max_length=500)
    started_at: datetime
    finished_at: datetime
    summary: dict[str, Any] | None = _json_column()
