"""Reconciling (pure): the rows a learner holds + what an order confers now -> rows to add, rows
to change, and the events that say so.

Grants are appended once per (grant key, generation); what no longer holds gets a reversal row,
never an edit or a delete. The rows here are plain data (``CreditRow``, ``AccessRow``); the
ledger (bridge.services.ledger) reads them, hands them to these functions and writes what
they return. Functions that take rows accept any object with the same attributes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bridge.rules.entitlements import Entitlement

GRANT_REASONS = ("grant", "complimentary")
# Written by bridge.services.ledger.expiry: reason and source-key suffix of the row that
# expires a grant.
EXPIRY_REASON = "expiry"
EXPIRY_SUFFIX = ":expiry"


@dataclass
class Event:
    """Something that changed, worded later for order notes and summaries."""

    kind: str  # credit_granted, credit_reversed, seat_active, seat_waitlisted, seat_promoted, ...
    learner_id: int
    order_id: int | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CreditTarget:
    credit_type: str
    amount: int
    order_id: int | None
    offer_sku: str | None
    reason: str = "grant"
    expires_at: datetime | None = None
    sale_at: datetime | None = None  # when the order was paid (or created, unpaid)


@dataclass(eq=False)
class CreditRow:
    """A ledger row (``ledger_entry``) as plain data; ``id`` is None until it is inserted."""

    learner_id: int
    credit_type: str
    amount: int
    reason: str
    grant_key: str
    source_key: str
    id: int | None = None
    reverses_id: int | None = None
    order_id: int | None = None
    offer_sku: str | None = None
    expires_at: datetime | None = None
    sale_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(eq=False)
class AccessRow:
    """An access window (``access``) as plain data; ``id`` is None until it is inserted."""

    learner_id: int
    kind: str
    offer_sku: str
    grant_key: str
    source_key: str
    id: int | None = None
    order_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    revoked_at: datetime | None = None
    details: dict[str, Any] | None = None
    created_at: datetime | None = None


class HeldCredit(Protocol):
    """What reconciling reads of a ledger row (a CreditRow, or the ORM's LedgerEntry)."""

    id: int | None
    learner_id: int
    credit_type: str
    amount: int
    reason: str
    grant_key: str
    source_key: str
    reverses_id: int | None
    order_id: int | None
    offer_sku: str | None
    expires_at: datetime | None


class HeldAccess(Protocol):
    """What reconciling reads of an access window (an AccessRow, or the ORM's Access)."""

    id: int | None
    kind: str
    offer_sku: str
    grant_key: str
    source_key: str
    revoked_at: datetime | None


@dataclass
class Reconciled:
    """What reconciling decided: rows to insert (in order), held rows changed, events."""

    new: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # (event data, name, new row): the row's id goes into the event once it is inserted.
    pending_ids: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)

    def __iadd__(self, other: Reconciled) -> Reconciled:
        self.new += other.new
        self.changed += other.changed
        self.events += other.events
        self.pending_ids += other.pending_ids
        return self


def reconcile_credits(
    existing: Iterable[HeldCredit],
    targets: Mapping[str, CreditTarget],
    learner_id: int,
    order_id: int | None,
    now: datetime,
) -> Reconciled:
    """A grant for each target key not held, a reversal for each held key no longer targeted."""
    grants: dict[str, list[HeldCredit]] = defaultdict(list)
    reversed_ids: set[int] = set()
    # What the expiry job already wrote off per grant (source key -> negative amount): a
    # reversal takes back only the rest, so expired credits are not taken twice.
    expired: dict[str, int] = defaultdict(int)
    for row in existing:
        if row.reverses_id is not None:
            reversed_ids.add(row.reverses_id)
        elif row.reason in GRANT_REASONS:
            grants[row.grant_key].append(row)
        elif row.reason == EXPIRY_REASON:
            expired[row.source_key.removesuffix(EXPIRY_SUFFIX)] += row.amount
    held = {key: row for key, rows in grants.items() for row in rows if row.id not in reversed_ids}
    out = Reconciled()
    for key in sorted(set(targets) - set(held)):
        target = targets[key]
        source_key = f"{key}@{len(grants[key]) + 1}"
        out.new.append(
            CreditRow(
                learner_id=learner_id,
                credit_type=target.credit_type,
                amount=target.amount,
                reason=target.reason,
                grant_key=key,
                source_key=source_key,
                order_id=target.order_id,
                offer_sku=target.offer_sku,
                expires_at=target.expires_at,
                sale_at=target.sale_at,
                created_at=now,
            )
        )
        out.events.append(
            Event(
                "credit_granted",
                learner_id,
                order_id,
                {
                    "key": key,
                    "credit_type": target.credit_type,
                    "amount": target.amount,
                    "sku": target.offer_sku,
                    "source_key": source_key,
                },
            )
        )
    for key in sorted(set(held) - set(targets)):
        row = held[key]
        source_key = f"{row.source_key}:reversal"
        out.new.append(
            CreditRow(
                learner_id=row.learner_id,
                credit_type=row.credit_type,
                amount=-(row.amount + expired[row.source_key]),
                reason="reversal",
                grant_key=key,
                source_key=source_key,
                reverses_id=row.id,
                order_id=row.order_id,
                offer_sku=row.offer_sku,
                created_at=now,
            )
        )
        out.events.append(
            Event(
                "credit_reversed",
                row.learner_id,
                order_id,
                {
                    "key": key,
                    "credit_type": row.credit_type,
                    "amount": row.amount,
                    "sku": row.offer_sku,
                    "source_key": source_key,
                },
            )
        )
    return out


def correct_expiries(
    rows: Iterable[HeldCredit], expiries: Mapping[str, datetime | None], now: datetime
) -> list[HeldCredit]:
    """Move the expiry of held grants to what their period and the policy say now.

    Only the date moves, never an amount; a grant already past its expiry is left alone (the
    expiry job may have acted on it). Returns the rows moved (their ``expires_at`` is set).
    """
    rows = list(rows)
    reversed_ids = {row.reverses_id for row in rows if row.reverses_id is not None}
    moved: list[HeldCredit] = []
    for row in rows:
        target = expiries.get(row.grant_key)
        if (
            target is None
            or row.reason not in GRANT_REASONS
            or row.reverses_id is not None
            or row.id in reversed_ids
            or row.expires_at == target
            or (row.expires_at is not None and row.expires_at <= now)
        ):
            continue
        row.expires_at = target
        moved.append(row)
    return moved


def reconcile_access(
    existing: Sequence[HeldAccess],
    targets: Mapping[str, Entitlement],
    learner_id: int,
    order_id: int | None,
    now: datetime,
) -> Reconciled:
    """Open an access window per target key; revoke the windows no longer conferred."""
    generations: dict[str, int] = defaultdict(int)
    held: dict[str, HeldAccess] = {}
    for access in existing:
        generations[access.grant_key] += 1
        if access.revoked_at is None:
            held[access.grant_key] = access
    out = Reconciled()
    for key in sorted(set(held) - set(targets)):
        access = held[key]
        access.revoked_at = now
        out.changed.append(access)
        out.events.append(
            Event(
                "access_revoked",
                learner_id,
                order_id,
                {
                    "kind": access.kind,
                    "sku": access.offer_sku,
                    "key": key,
                    "access_id": access.id,
                    "source_key": access.source_key,
                },
            )
        )
    for key in sorted(set(targets) - set(held)):
        target = targets[key]
        row = AccessRow(
            learner_id=learner_id,
            kind=target.access_kind or "",
            offer_sku=target.offer_sku,
            grant_key=key,
            source_key=f"{key}@{generations[key] + 1}",
            order_id=order_id,
            starts_at=target.starts_at,
            ends_at=target.ends_at,
            details=dict(target.details),
            created_at=now,
        )
        out.new.append(row)
        data: dict[str, Any] = {
            "kind": target.access_kind,
            "sku": target.offer_sku,
            "key": key,
            "source_key": row.source_key,
        }
        out.events.append(Event("access_granted", learner_id, order_id, data))
        # Known once the row is inserted; write-back keys notes by it.
        out.pending_ids.append((data, "access_id", row))
    return out
