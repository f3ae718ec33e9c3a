"""Credits and access: reconcile what is stored toward what orders confer now.

Grants are appended once per (source key, generation); what no longer holds gets a reversal
row, never an edit or a delete. Work on one order is serialised by locking its ``order_state``
row, work on one learner by locking the learner row (``learners``), and seat allocation by
locking the cohort (``seats``). On SQLite every write transaction starts with BEGIN IMMEDIATE
(see bridge.store.db), which serialises writers as a whole.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_
from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.entitlements import (
    Entitlement,
    OrderEntitlements,
    is_simulated,
    order_entitlements,
    qualifies_for_complimentary_call,
)
from bridge.rules.fingerprints import SUMMARY_KEY, order_fingerprint
from bridge.rules.periods import (
    DEFAULT_POLICY,
    BillingPeriod,
    Schedule,
    SubscriptionPolicy,
    SubscriptionTerms,
    schedule_of,
)
from bridge.services.ledger.learners import resolve_learner
from bridge.services.ledger.order_summary import SIMULATED_KEY, line_summary, refund_summary
from bridge.services.ledger.outcomes import Event, OrderOutcome
from bridge.services.ledger.page_state import add_new, flush_unless_paged, lock_row, page_state_of
from bridge.services.ledger.seats import reconcile_seats
from bridge.store.bulk import insert_ignore, insert_rows
from bridge.store.ids import id_of
from bridge.store.models import (
    Access,
    Learner,
    LedgerEntry,
    OrderState,
    Subscription,
    UnmappedLine,
    utcnow,
)

log = logging.getLogger(__name__)

GRANT_REASONS = ("grant", "complimentary")
# Written by bridge.services.ledger.expiry: reason and source-key suffix of the row that
# expires a grant.
EXPIRY_REASON = "expiry"
EXPIRY_SUFFIX = ":expiry"


def balances(session: Session, learner_id: int) -> dict[str, int]:
    """Credits by type: the sum of the learner's ledger rows."""
    rows = session.exec(
        select(LedgerEntry.credit_type, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.learner_id == learner_id)
        .group_by(LedgerEntry.credit_type)
        .order_by(LedgerEntry.credit_type)
    ).all()
    return {credit_type: int(total) for credit_type, total in rows}


def balances_of(session: Session, learner_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """``balances`` of several learners in one query (learners with no rows are absent)."""
    if not learner_ids:
        return {}
    held: dict[int, dict[str, int]] = defaultdict(dict)
    for learner_id, credit_type, total in session.exec(
        select(LedgerEntry.learner_id, LedgerEntry.credit_type, func.sum(LedgerEntry.amount))
        .where(col(LedgerEntry.learner_id).in_(sorted(set(learner_ids))))
        .group_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
        .order_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
    ).all():
        held[int(learner_id)][credit_type] = int(total)
    return dict(held)


def owes(session: Session) -> list[tuple[Learner, str, int]]:
    """Learners whose balance went negative (a refund reversed credits already spent)."""
    total = func.sum(LedgerEntry.amount)
    rows = session.exec(
        select(LedgerEntry.learner_id, LedgerEntry.credit_type, total)
        .group_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
        .having(total < 0)
        .order_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
    ).all()
    owed: list[tuple[Learner, str, int]] = []
    for learner_id, credit_type, amount in rows:
        learner = session.get(Learner, learner_id)
        assert learner is not None  # the ledger row's foreign key
        owed.append((learner, credit_type, int(amount)))
    return owed


def adjust_credits(
    session: Session,
    learner: Learner,
    credit_type: str,
    amount: int,
    reason_text: str,
    reference: str,
    actor: str = "",
) -> LedgerEntry:
    """A manual grant (positive) or revocation (negative), audited as its own ledger row."""
    key = f"manual:{reference}"
    now = utcnow()
    entry = LedgerEntry(
        learner_id=id_of(learner),
        credit_type=credit_type,
        amount=amount,
        reason="manual",
        grant_key=key,
        source_key=key,
        note=reason_text[:500],
        actor=actor[:100],
        created_at=now,
        sale_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


# --- reconciliation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditTarget:
    credit_type: str
    amount: int
    order_id: int | None
    offer_sku: str | None
    reason: str = "grant"
    expires_at: datetime | None = None
    sale_at: datetime | None = None  # when the order was paid (or created, unpaid)


def reconcile_credits(
    session: Session,
    learner_id: int,
    existing: Iterable[LedgerEntry],
    targets: Mapping[str, CreditTarget],
    order_id: int | None,
) -> list[Event]:
    """Append grants for target keys not held, and reversals for held keys no longer targeted."""
    grants: dict[str, list[LedgerEntry]] = defaultdict(list)
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
    events: list[Event] = []
    for key in sorted(set(targets) - set(held)):
        target = targets[key]
        generation = len(grants[key]) + 1
        add_new(
            session,
            LedgerEntry(
                learner_id=learner_id,
                credit_type=target.credit_type,
                amount=target.amount,
                reason=target.reason,
                grant_key=key,
                source_key=f"{key}@{generation}",
                order_id=target.order_id,
                offer_sku=target.offer_sku,
                expires_at=target.expires_at,
                sale_at=target.sale_at,
                created_at=utcnow(),  # given: pydantic's factory call is slow
            ),
        )
        events.append(
            Event(
                "credit_granted",
                learner_id,
                order_id,
                {
                    "key": key,
                    "credit_type": target.credit_type,
                    "amount": target.amount,
                    "sku": target.offer_sku,
                    "source_key": f"{key}@{generation}",
                },
            )
        )
    for key in sorted(set(held) - set(targets)):
        row = held[key]
        add_new(
            session,
            LedgerEntry(
                learner_id=row.learner_id,
                credit_type=row.credit_type,
                amount=-(row.amount + expired[row.source_key]),
                reason="reversal",
                grant_key=key,
                source_key=f"{row.source_key}:reversal",
                reverses_id=row.id,
                order_id=row.order_id,
                offer_sku=row.offer_sku,
                created_at=utcnow(),
            ),
        )
        events.append(
            Event(
                "credit_reversed",
                row.learner_id,
                order_id,
                {
                    "key": key,
                    "credit_type": row.credit_type,
                    "amount": row.amount,
                    "sku": row.offer_sku,
                    "source_key": f"{row.source_key}:reversal",
                },
            )
        )
    flush_unless_paged(session)
    return events


def correct_expiries(
    session: Session,
    rows: Iterable[LedgerEntry],
    expiries: Mapping[str, datetime | None],
    now: datetime | None = None,
) -> int:
    """Move the expiry of held grants to what their period and the policy say now.

    Only the date moves, never an amount; a grant already past its expiry is left alone (the
    expiry job may have acted on it). Returns how many grants moved.
    """
    now = now or utcnow()
    rows = list(rows)
    reversed_ids = {row.reverses_id for row in rows if row.reverses_id is not None}
    moved = 0
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
        session.add(row)
        moved += 1
    flush_unless_paged(session)
    return moved


def stored_schedule(subscription: Subscription, policy: SubscriptionPolicy) -> Schedule:
    """A stored subscription's billing schedule under the creator's policy."""
    return schedule_of(
        subscription.id,
        BillingPeriod(subscription.billing_period, subscription.billing_interval),
        subscription.offer_skus or [],
        subscription.status,
        subscription.cancelled_gmt,
        policy,
    )


def order_subscription_terms(
    session: Session, order_id: int, subscription_ids: Iterable[int], policy: SubscriptionPolicy
) -> SubscriptionTerms:
    """The stored subscriptions an order pays for: as their parent, a renewal or a switch."""
    condition = col(Subscription.parent_order_id) == order_id
    ids = sorted(set(subscription_ids))
    if ids:
        condition = or_(condition, col(Subscription.id).in_(ids))
    rows = session.exec(select(Subscription).where(condition).order_by(col(Subscription.id))).all()
    return SubscriptionTerms(policy, tuple(stored_schedule(row, policy) for row in rows))


def reconcile_access(
    session: Session,
    learner_id: int,
    order_id: int | None,
    targets: Mapping[str, Entitlement],
    existing: Sequence[Access] | None = None,
) -> list[Event]:
    """Open an access window per target key; revoke windows no longer conferred.

    ``existing`` are the windows to compare with (default: the order's own).
    """
    page = page_state_of(session)
    if existing is None:
        if page is not None and order_id in page.states:
            existing = page.access[order_id]
        else:
            existing = session.exec(select(Access).where(Access.order_id == order_id)).all()
    generations: dict[str, int] = defaultdict(int)
    held: dict[str, Access] = {}
    for access in existing:
        generations[access.grant_key] += 1
        if access.revoked_at is None:
            held[access.grant_key] = access
    events: list[Event] = []
    for key in sorted(set(held) - set(targets)):
        access = held[key]
        access.revoked_at = utcnow()
        session.add(access)
        events.append(
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
    opened: list[tuple[Event, Access]] = []
    for key in sorted(set(targets) - set(held)):
        target = targets[key]
        access = Access(
            learner_id=learner_id,
            kind=target.access_kind or "",
            offer_sku=target.offer_sku,
            grant_key=key,
            source_key=f"{key}@{generations[key] + 1}",
            order_id=order_id,
            starts_at=target.starts_at,
            ends_at=target.ends_at,
            details=dict(target.details),
            created_at=utcnow(),
        )
        add_new(session, access)
        event = Event(
            "access_granted",
            learner_id,
            order_id,
            {
                "kind": target.access_kind,
                "sku": target.offer_sku,
                "key": key,
                "source_key": access.source_key,
            },
        )
        events.append(event)
        opened.append((event, access))
    if page is not None:
        # Known once the page is flushed; write-back keys notes by it.
        page.pending_ids.extend((event.data, "access_id", access) for event, access in opened)
        return events
    session.flush()
    for event, access in opened:
        event.data["access_id"] = access.id  # known once flushed; write-back keys notes by it
    return events


def complimentary_key(learner_id: int) -> str:
    return f"learner:{learner_id}:complimentary_call"


def reconcile_complimentary_call(
    session: Session,
    learner_id: int,
    minutes: int,
    paid_statuses: Iterable[str],
    sale_at: datetime | None = None,
) -> list[Event]:
    """Hold one complimentary mentor call per learner while any order is or was paid."""
    return reconcile_complimentary_calls(
        session, {learner_id: sale_at}, minutes, paid_statuses
    ).get(learner_id, [])


def reconcile_complimentary_calls(
    session: Session,
    learners: Mapping[int, datetime | None],
    minutes: int,
    paid_statuses: Iterable[str],
) -> dict[int, list[Event]]:
    """The complimentary call of several learners (learner id -> the sale it would date from),
    in two queries; returns the events by learner."""
    if not learners:
        return {}
    ids = sorted(learners)
    paid_statuses = tuple(paid_statuses)
    orders: dict[int, list[Any]] = defaultdict(list)
    for learner_id, status, date_paid in session.exec(
        select(OrderState.learner_id, OrderState.status, OrderState.date_paid_gmt).where(
            col(OrderState.learner_id).in_(ids)
        )
    ).all():
        assert learner_id is not None  # matched by the IN above
        orders[learner_id].append((status, date_paid))
    keys = {learner_id: complimentary_key(learner_id) for learner_id in ids}
    existing: dict[str, list[LedgerEntry]] = defaultdict(list)
    for row in session.exec(
        select(LedgerEntry)
        .where(col(LedgerEntry.grant_key).in_(sorted(keys.values())))
        .order_by(col(LedgerEntry.id))
    ).all():
        existing[row.grant_key].append(row)
    events: dict[int, list[Event]] = {}
    for learner_id in ids:
        key = keys[learner_id]
        targets: dict[str, CreditTarget] = {}
        if minutes > 0 and qualifies_for_complimentary_call(orders[learner_id], paid_statuses):
            targets[key] = CreditTarget(
                "mentor_minutes",
                minutes,
                None,
                None,
                reason="complimentary",
                sale_at=learners[learner_id],
            )
        events[learner_id] = reconcile_credits(session, learner_id, existing[key], targets, None)
    return events


def is_stale(state: OrderState, facts: Any) -> bool:
    """The payload is older than the one last applied to this order."""
    return (
        state.date_modified_gmt is not None
        and facts.date_modified_gmt is not None
        and facts.date_modified_gmt < state.date_modified_gmt
    )


def needs_learner(result: OrderEntitlements, paid_statuses: Sequence[str]) -> bool:
    """An order not yet tied to a learner needs one when it confers or was ever paid."""
    facts = result.facts
    return bool(result.entitlements or facts.status in paid_statuses or facts.date_paid_gmt)


def _lock_order_state(session: Session, order_id: int, status: str) -> OrderState:
    insert_ignore(
        session,
        OrderState,
        {"order_id": order_id, "status": status, "updated_at": utcnow()},
        ["order_id"],
    )
    state = lock_row(session, OrderState, OrderState.order_id == order_id)
    assert state is not None
    return state


def apply_order(
    session: Session,
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    *,
    paid_statuses: Sequence[str],
    complimentary_minutes: int,
    refunds: Sequence[Mapping[str, Any]] = (),
    subscription_policy: SubscriptionPolicy = DEFAULT_POLICY,
    rules: OrderEntitlements | None = None,
    fingerprint: str | None = None,
) -> OrderOutcome:
    """Reconcile the ledger, seats and access toward what the order confers now.

    A payload older than the last one applied is skipped. Nothing is committed here: the caller
    owns the transaction, so a failure leaves no partial state. ``rules`` (what the pure rules
    made of this payload and these refunds) and ``fingerprint``: when the caller has them.
    """
    result: OrderEntitlements = rules or order_entitlements(
        payload, catalogue, paid_statuses=paid_statuses, refunds=refunds
    )
    facts = result.facts
    page = page_state_of(session)
    if page is not None and facts.order_id not in page.resolved:
        page = None  # not one of the page's orders (never the case today): read as usual
    state = (
        page.states[facts.order_id]
        if page is not None
        else _lock_order_state(session, facts.order_id, facts.status)
    )
    if is_stale(state, facts):
        log.debug("stale order payload skipped", extra={"order_id": facts.order_id})
        return OrderOutcome(facts.order_id, applied=False, learner_id=state.learner_id)

    unmapped = [vars(line) for line in result.unmapped]
    learner: Learner | None = None
    if page is not None:
        learner = page.resolved[facts.order_id]  # resolved and locked with the page
    elif state.learner_id is not None:
        learner = lock_row(session, Learner, Learner.id == state.learner_id)
    elif needs_learner(result, paid_statuses):
        learner = resolve_learner(session, facts.customer_id, facts.email)

    if learner is not None and facts.name and learner.name != facts.name:
        learner.name = facts.name  # written only when it changed: no statement otherwise
        session.add(learner)
    outcome = OrderOutcome(
        facts.order_id, applied=True, unmapped=unmapped, learner_id=learner.id if learner else None
    )
    if learner is not None:
        if any(e.expires_at is not None for e in result.entitlements):
            # Subscriptions are read under the learner lock, the lock apply_subscription holds
            # while it corrects expiries: neither can miss what the other wrote.
            terms = order_subscription_terms(
                session, facts.order_id, facts.renewal_of + facts.switch_of, subscription_policy
            )
            result = order_entitlements(
                payload,
                catalogue,
                paid_statuses=paid_statuses,
                refunds=refunds,
                subscription_terms=terms,
            )
        sale_at = facts.date_paid_gmt or facts.date_created_gmt
        by_kind: dict[str, dict[str, Entitlement]] = defaultdict(dict)
        for entitlement in result.entitlements:
            by_kind[entitlement.kind][entitlement.key] = entitlement
        credit_targets = {
            key: CreditTarget(
                e.credit_type or "",
                e.amount,
                e.order_id,
                e.offer_sku,
                expires_at=e.expires_at,
                sale_at=sale_at,
            )
            for key, e in by_kind["credit"].items()
        }
        existing = (
            page.ledger[facts.order_id]
            if page is not None
            else session.exec(
                select(LedgerEntry).where(LedgerEntry.order_id == facts.order_id)
            ).all()
        )
        correct_expiries(
            session, existing, {key: target.expires_at for key, target in credit_targets.items()}
        )
        outcome.events += reconcile_credits(
            session, id_of(learner), existing, credit_targets, facts.order_id
        )
        outcome.events += reconcile_seats(session, id_of(learner), facts.order_id, by_kind["seat"])
        outcome.events += reconcile_access(
            session, id_of(learner), facts.order_id, by_kind["access"]
        )

    state.learner_id = learner.id if learner else None
    state.status = facts.status
    state.date_modified_gmt = facts.date_modified_gmt or state.date_modified_gmt
    state.date_paid_gmt = facts.date_paid_gmt or state.date_paid_gmt
    state.date_created_gmt = facts.date_created_gmt or state.date_created_gmt
    state.total = facts.total
    state.currency = facts.currency
    if refunds:
        refund_rows = [dict(r) for r in refund_summary(refunds)]
    else:
        # Refunds are not fetched for an order that confers nothing (refunded, cancelled):
        # keep the ones read earlier, so their dates and lines survive for the report.
        earlier = (state.summary or {}).get("refunds") or []
        refund_rows = [r for r in earlier if r.get("id") in facts.refund_ids]
    listed_before = bool((state.summary or {}).get("unmapped"))
    state.summary = {
        "refund_ids": list(facts.refund_ids),
        "refunds": refund_rows,
        "renewal_of": list(facts.renewal_of),
        "switch_of": list(facts.switch_of),
        "lines": line_summary(payload, catalogue),
        "unmapped": unmapped,
        # What this application depended on: the same again is skipped (services.order_pages).
        SUMMARY_KEY: fingerprint
        or order_fingerprint(
            payload,
            catalogue,
            paid_statuses=paid_statuses,
            complimentary_minutes=complimentary_minutes,
        ),
        # Made up by `bridge simulate`: the write-back planners send nothing about it.
        **({SIMULATED_KEY: True} if is_simulated(payload) else {}),
    }
    state.updated_at = utcnow()
    session.add(state)
    flush_unless_paged(session)
    if unmapped or listed_before:
        paid = facts.status in paid_statuses
        _record_unmapped(session, facts.order_id, unmapped if paid else [])
    if learner is not None and page is None:
        # A page settles the complimentary call once per learner, after all its orders.
        outcome.events += reconcile_complimentary_call(
            session,
            id_of(learner),
            complimentary_minutes,
            paid_statuses,
            sale_at=state.date_paid_gmt or state.date_created_gmt,
        )
    if unmapped:
        log.warning(
            "order has lines that sell no micro-SKU",
            extra={
                "order_id": facts.order_id,
                "skus": ",".join(line["sku"] or "?" for line in unmapped),
            },
        )
    return outcome


def _record_unmapped(session: Session, order_id: int, lines: Sequence[Mapping[str, Any]]) -> None:
    """The order's paid lines that sell no micro-SKU, as they are now (kept visible, counted).

    Inside a page they are written with the page's (one DELETE and one INSERT for it).
    """
    rows = [
        {
            "order_id": order_id,
            "line_item_id": line["line_item_id"],
            "sku": str(line["sku"] or "")[:100],
            "product_id": line["product_id"],
            "variation_id": line["variation_id"],
            "name": str(line["name"] or "")[:200],
            "quantity": line["quantity"],
            "total": str(line["total"])[:32],
            "seen_at": utcnow(),
        }
        for line in lines
    ]
    page = page_state_of(session)
    if page is not None:
        page.unmapped[order_id] = rows
        return
    session.execute(delete(UnmappedLine).where(col(UnmappedLine.order_id) == order_id))
    insert_rows(session, UnmappedLine, rows)
