"""Credit expiry: what is left of a grant past its ``expires_at`` leaves the balance, once.

Spending is not tied to grants in the ledger, so which credits a debit used is decided here:
the soonest-expiring credits available at the time go first (credits without an expiry last),
which is what a learner expects. Replaying a learner's ledger in order with that rule gives
each grant's unspent remainder; an expired grant's remainder is written off by one ``expiry``
row keyed ``<grant source_key>:expiry`` (unique), so it happens exactly once. A grant fully
spent still gets its row, with amount 0, so that it is settled and never looked at again.

An expiry row deliberately has no ``reverses_id``: the order pipeline reads ``reverses_id`` as
"this grant was reversed" and would confer it again.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bridge.rules.reconcile import EXPIRY_REASON, EXPIRY_SUFFIX, GRANT_REASONS
from bridge.services.ledger.learners import lock_learner
from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, utcnow

log = logging.getLogger(__name__)

EXPIRY = EXPIRY_REASON

# Called inside the learner's transaction after expiry rows were added (e.g. to queue the
# customer's new balances for write-back).
AfterExpiry = Callable[[Session, int], Any]


@dataclass(frozen=True)
class Expiry:
    """One expired grant and the credits still left of it."""

    grant_id: int
    learner_id: int
    credit_type: str
    remainder: int
    grant_key: str
    source_key: str
    order_id: int | None
    offer_sku: str | None
    expires_at: datetime


@dataclass
class ExpiryResult:
    """What one expiry run did (or, in a rolled-back transaction, would do)."""

    learners: int = 0
    grants: int = 0  # expired grants settled by this run
    expired: dict[str, int] = field(default_factory=dict)  # credits written off, by type
    rows: list[Expiry] = field(default_factory=list)

    @property
    def credits(self) -> int:
        return sum(self.expired.values())


@dataclass
class _Lot:
    row_id: int
    remaining: int
    expires_at: datetime | None

    def order_key(self) -> tuple[int, datetime | None, int]:
        # Soonest expiry first; credits that never expire are spent last.
        return (1 if self.expires_at is None else 0, self.expires_at, self.row_id)


def _take(lots: dict[int, _Lot], amount: int) -> list[tuple[int, int]]:
    """Take ``amount`` from the lots, soonest expiry first; returns (lot id, taken) pairs."""
    taken: list[tuple[int, int]] = []
    heap = [(lot.order_key(), lot.row_id) for lot in lots.values() if lot.remaining > 0]
    heapq.heapify(heap)
    while amount > 0 and heap:
        _, lot_id = heapq.heappop(heap)
        lot = lots[lot_id]
        used = min(lot.remaining, amount)
        lot.remaining -= used
        amount -= used
        taken.append((lot_id, used))
    return taken


def expired_remainders(rows: Sequence[LedgerEntry], now: datetime) -> list[Expiry]:
    """Expired, unsettled grants in ``rows`` (one learner, one credit type) with what is left.

    ``rows`` are that learner's ledger rows of that credit type, in the order they were written.
    """
    lots: dict[int, _Lot] = {}
    lot_by_source: dict[str, int] = {}
    spent: dict[int, list[tuple[int, int]]] = {}  # debit row id -> what it took from which lot
    settled: set[int] = set()
    grants: dict[int, LedgerEntry] = {}
    for row in rows:
        assert row.id is not None
        if row.reason == EXPIRY:
            lot_id = lot_by_source.get(row.source_key.removesuffix(EXPIRY_SUFFIX))
            if lot_id is not None:
                settled.add(lot_id)
                lots[lot_id].remaining -= min(lots[lot_id].remaining, -row.amount)
        elif row.amount > 0 and row.reverses_id is None:
            lots[row.id] = _Lot(row.id, row.amount, row.expires_at)
            lot_by_source[row.source_key] = row.id
            if row.reason in GRANT_REASONS:
                grants[row.id] = row
        elif row.amount > 0 and row.reverses_id is not None:
            # A debit given back (a cancelled booking) returns to the lots it was taken from.
            back = row.amount
            for lot_id, used in reversed(spent.pop(row.reverses_id, [])):
                returned = min(used, back)
                lots[lot_id].remaining += returned
                back -= returned
            if back > 0:
                lots[row.id] = _Lot(row.id, back, None)
        elif row.amount < 0:
            need = -row.amount
            own = lots.get(row.reverses_id) if row.reverses_id is not None else None
            taken: list[tuple[int, int]] = []
            if own is not None:
                # A reversed grant takes back its own credits first, then the excess from others;
                # a booking's debit names the complimentary call it spends first the same way.
                used = min(own.remaining, need)
                own.remaining -= used
                need -= used
                taken.append((own.row_id, used))
            spent[row.id] = taken + _take(lots, need)
    due = []
    for lot_id, grant in grants.items():
        lot = lots[lot_id]
        if lot.expires_at is None or lot.expires_at > now or lot_id in settled:
            continue
        due.append(
            Expiry(
                grant_id=lot_id,
                learner_id=grant.learner_id,
                credit_type=grant.credit_type,
                remainder=max(lot.remaining, 0),
                grant_key=grant.grant_key,
                source_key=grant.source_key,
                order_id=grant.order_id,
                offer_sku=grant.offer_sku,
                expires_at=lot.expires_at,
            )
        )
    return due


def learners_with_expired_credits(session: Session, now: datetime) -> list[int]:
    """Learners holding a grant past its expiry that no expiry row settles yet."""
    grant = aliased(LedgerEntry)
    settled = aliased(LedgerEntry)
    statement = (
        select(grant.learner_id)
        .distinct()
        .where(
            col(grant.expires_at).is_not(None),
            col(grant.expires_at) <= now,
            grant.amount > 0,
            col(grant.reason).in_(GRANT_REASONS),
            ~exists().where(and_(col(settled.source_key) == col(grant.source_key) + EXPIRY_SUFFIX)),
        )
        .order_by(col(grant.learner_id))
    )
    return list(session.exec(statement).all())


def expire_learner(session: Session, learner_id: int, now: datetime) -> list[Expiry]:
    """Write the expiry rows of one learner (locked); the caller commits."""
    lock_learner(session, learner_id)
    rows = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.learner_id == learner_id)
        .order_by(col(LedgerEntry.id))
    ).all()
    by_type: dict[str, list[LedgerEntry]] = {}
    for row in rows:
        by_type.setdefault(row.credit_type, []).append(row)
    written = []
    for credit_type in sorted(by_type):
        for expiry in expired_remainders(by_type[credit_type], now):
            inserted = insert_ignore(
                session,
                LedgerEntry,
                {
                    "learner_id": learner_id,
                    "credit_type": credit_type,
                    "amount": -expiry.remainder,
                    "reason": EXPIRY,
                    "grant_key": expiry.grant_key,
                    "source_key": expiry.source_key + EXPIRY_SUFFIX,
                    "reverses_id": None,
                    "order_id": expiry.order_id,
                    "offer_sku": expiry.offer_sku,
                    "note": f"expired {expiry.expires_at:%Y-%m-%d %H:%M} UTC"
                    + ("" if expiry.remainder else ": nothing left, all spent"),
                    "created_at": now,
                },
                ["source_key"],
            )
            if inserted:
                written.append(expiry)
    return written


def expire_credits(
    engine: Engine,
    *,
    now: datetime | None = None,
    after_expiry: AfterExpiry | None = None,
    learner_ids: Iterable[int] | None = None,
) -> ExpiryResult:
    """Write off what is left of every expired grant: one transaction per learner."""
    now = now or utcnow()
    if learner_ids is None:
        with unit_of_work(engine) as session:
            learner_ids = learners_with_expired_credits(session, now)
    result = ExpiryResult()
    for learner_id in learner_ids:
        with unit_of_work(engine) as session:
            written = expire_learner(session, learner_id, now)
            if written and after_expiry is not None:
                after_expiry(session, learner_id)
            session.commit()
        if not written:
            continue
        result.learners += 1
        result.grants += len(written)
        result.rows += written
        for expiry in written:
            result.expired[expiry.credit_type] = (
                result.expired.get(expiry.credit_type, 0) + expiry.remainder
            )
    if result.grants:
        log.info(
            "credits expired",
            extra={"learners": result.learners, "grants": result.grants, "credits": result.credits},
        )
    return result
