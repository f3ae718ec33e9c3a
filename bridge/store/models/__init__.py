"""Tables, one module per domain. Every datetime is timezone-aware UTC (SQLModel's UTCDateTime
rejects naive ones).

Ledger rows are append-only; balances are sums.

Importing this package registers every table on ``SQLModel.metadata`` (Alembic's env and the
schema test rely on it), and every table is importable from here: ``from bridge.store.models
import Seat``.

Changing a model needs a migration: ``python scripts/new_migration.py "what changed"``;
a test fails when the models and the migrations disagree.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from bridge.store.models.auth import (
    ApiToken,
    ConsoleSession,
    IdempotencyRecord,
    LoginThrottle,
    Operator,
)
from bridge.store.models.bookings import Booking, BookingToken, Redemption
from bridge.store.models.catalogue import CatalogueVersion, Offer, ProductBinding
from bridge.store.models.cohorts import Cohort, Seat, seat_purchase_order
from bridge.store.models.columns import utcnow
from bridge.store.models.credentials import Credential, CredentialKey, StatusList
from bridge.store.models.inbox import InboxDelivery
from bridge.store.models.learners import (
    CalendarEntry,
    Learner,
    LearnerEmail,
    LearnerPageLink,
    OutcomeEvent,
)
from bridge.store.models.operations import (
    AlertIncident,
    AlertState,
    AuditEvent,
    Counter,
    JobLease,
    JobRun,
    JobRunStatus,
    SyncCursor,
    WatchState,
)
from bridge.store.models.orders import Access, LedgerEntry, OrderState, UnmappedLine
from bridge.store.models.privacy import ErasedIdentity
from bridge.store.models.subscriptions import Subscription
from bridge.store.models.team_packs import ClaimPlace
from bridge.store.models.wallets import (
    WalletClient,
    WalletCode,
    WalletCredential,
    WalletToken,
)
from bridge.store.models.writeback import OutboxItem, OutboxStatus, OutboxWritten, PersonalCoupon

__all__ = [
    "Access",
    "AlertIncident",
    "AlertState",
    "ApiToken",
    "AuditEvent",
    "Booking",
    "BookingToken",
    "CalendarEntry",
    "CatalogueVersion",
    "ClaimPlace",
    "Cohort",
    "ConsoleSession",
    "Counter",
    "Credential",
    "CredentialKey",
    "ErasedIdentity",
    "IdempotencyRecord",
    "InboxDelivery",
    "JobLease",
    "JobRun",
    "JobRunStatus",
    "Learner",
    "LearnerEmail",
    "LearnerPageLink",
    "LedgerEntry",
    "LoginThrottle",
    "Offer",
    "Operator",
    "OrderState",
    "OutboxItem",
    "OutboxStatus",
    "OutboxWritten",
    "OutcomeEvent",
    "PersonalCoupon",
    "ProductBinding",
    "Redemption",
    "SQLModel",
    "Seat",
    "StatusList",
    "Subscription",
    "SyncCursor",
    "UnmappedLine",
    "WalletClient",
    "WalletCode",
    "WalletCredential",
    "WalletToken",
    "WatchState",
    "seat_purchase_order",
    "utcnow",
]
