"""Credits and access: reconcile what is stored toward what orders confer now.

Grants are appended once per (grant key, generation); what no longer holds gets a reversal
row, never an edit or a delete (the pure rules in bridge.rules.reconcile decide; this module
reads and writes). An order is applied as part of a page (bridge.services.ledger.page_state):
its ``order_state`` row, its learner and the cohorts it claims seats in are locked when the
page reads them. On SQLite every write transaction starts with BEGIN IMMEDIATE (see
bridge.store.db), which serialises writers as a whole.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.entitlements import (
    Entitlement,
    OrderEntitlements,
    is_simulated,
    order_entitlements,
    qualifies_for_complimentary_call,
)
from bridge.rules.fingerprints import SUMMARY_KEY
from bridge.rules.periods import (
    BillingPeriod,
    Schedule,
    SubscriptionPolicy,
    SubscriptionTerms,
    schedule_of,
)
from bridge.rules.reconcile import (
    CreditRow,
    CreditTarget,
    Reconciled,
    reconcile_access,
    reconcile_credits,
)
from bridge.rules.reconcile import correct_expiries as expiries_to_correct
from bridge.services.ledger.order_summary import SIMULATED_KEY, line_summary, refund_summary
from bridge.services.ledger.outcomes import Event, OrderOutcome
from bridge.services.ledger.page_state import LearnerRow, Page, StateRow, read_rows
from bridge.services.ledger.seats import reconcile_seats
from bridge.store.bulk import among, built, listed, table_of
from bridge.store.ids import id_of
from bridge.store.models import Learner, LedgerEntry, OrderState, Subscription, utcnow

log = logging.getLogger(__name__)


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
    table = table_of(LedgerEntry)
    statement = built(
        "balances",
        lambda: (
            select(table.c.learner_id, table.c.credit_type, func.sum(table.c.amount))
            .where(among(table.c.learner_id, name="learners"))
            .group_by(table.c.learner_id, table.c.credit_type)
            .order_by(table.c.learner_id, table.c.credit_type)
        ),
    )
    for learner_id, credit_type, total in session.execute(
        statement, {"learners": listed(sorted(set(learner_ids)))}
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


def correct_expiries(
    session: Session,
    rows: Iterable[LedgerEntry],
    expiries: Mapping[str, datetime | None],
    now: datetime | None = None,
) -> int:
    """Move the expiry of stored grants to what their period and the policy say now
    (bridge.rules.reconcile.correct_expiries); returns how many moved."""
    moved = expiries_to_correct(rows, expiries, now or utcnow())
    for row in moved:
        session.add(row)
    session.flush()
    return len(moved)


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


def complimentary_key(learner_id: int) -> str:
    return f"learner:{learner_id}:complimentary_call"


def reconcile_complimentary_calls(
    page: Page,
    learners: Mapping[int, datetime | None],
    minutes: int,
    paid_statuses: Iterable[str],
    *,
    free_counts: bool = False,
) -> dict[int, list[Event]]:
    """Hold one complimentary mentor call per learner while any of their orders is paid and
    pays for a micro-SKU (``free_counts``: a free one counts too), and keep one they spent
    (learner id -> the sale it would date from), in three queries at most; the events by
    learner.

    Call after the page's orders are flushed: the orders of learners none of whose orders in
    the page earns the call are read as stored.
    """
    if not learners:
        return {}
    session = page.session
    ids = sorted(learners)
    paid_statuses = tuple(paid_statuses)
    # A learner one of whose orders in the page earns the call earns it, whatever their other
    # orders say: only the others' orders are read.
    in_page: dict[int, list[Any]] = defaultdict(list)
    for state in page.states.values():
        if state.learner_id is not None and state.learner_id in learners:
            in_page[state.learner_id].append(
                (state.status, (state.summary or {}).get("lines") or [])
            )
    earned = {
        learner_id
        for learner_id in ids
        if minutes > 0
        and qualifies_for_complimentary_call(
            in_page[learner_id], paid_statuses, free_counts=free_counts
        )
    }
    unsure = [learner_id for learner_id in ids if learner_id not in earned]
    states = table_of(OrderState)
    orders: dict[int, list[Any]] = defaultdict(list)
    if unsure and minutes > 0:
        statement = built(
            "learners' orders",
            lambda: select(states.c.learner_id, states.c.status, states.c.summary).where(
                among(states.c.learner_id, name="learners")
            ),
        )
        for learner_id, status, summary in session.execute(
            statement, {"learners": listed(unsure)}
        ).all():
            orders[learner_id].append((status, (summary or {}).get("lines") or []))
    earned |= {
        learner_id
        for learner_id in unsure
        if minutes > 0
        and qualifies_for_complimentary_call(
            orders[learner_id], paid_statuses, free_counts=free_counts
        )
    }
    keys = {learner_id: complimentary_key(learner_id) for learner_id in ids}
    ledger = table_of(LedgerEntry)
    existing: dict[str, list[CreditRow]] = defaultdict(list)
    for row in read_rows(
        session,
        CreditRow,
        among(ledger.c.grant_key, name="grants"),
        order_by=ledger.c.id,
        shape="by grant",
        params={"grants": listed(sorted(keys.values()))},
    ):
        existing[row.grant_key].append(row)
    held = {
        learner_id
        for learner_id in ids
        if sum(row.amount for row in existing[keys[learner_id]]) > 0
    }
    # A call held by a learner whose orders no longer earn it is reversed only while unused
    # (their mentor minutes still cover it); one they spent stays spent.
    kept = sorted(held - earned)
    left = balances_of(session, kept) if kept else {}
    events: dict[int, list[Event]] = {}
    for learner_id in ids:
        key = keys[learner_id]
        targets: dict[str, CreditTarget] = {}
        spent = learner_id in held and left.get(learner_id, {}).get("mentor_minutes", 0) < minutes
        if learner_id in earned or spent:
            targets[key] = CreditTarget(
                "mentor_minutes",
                minutes,
                None,
                None,
                reason="complimentary",
                sale_at=learners[learner_id],
            )
        done = reconcile_credits(existing[key], targets, learner_id, None, page.now)
        _record(page, done)
        events[learner_id] = done.events
    return events


def _record(page: Page, done: Reconciled) -> None:
    for row in done.new:
        page.add(row)
    for row in done.changed:
        page.changed(row)
    for data, name, row in done.pending_ids:
        page.wait_for_id(data, name, row)


def is_stale(state: StateRow, facts: Any) -> bool:
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


def apply_order(
    page: Page,
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    *,
    rules: OrderEntitlements,
    learner: LearnerRow | None,
    fingerprint: str,
    paid_statuses: Sequence[str],
    refunds: Sequence[Mapping[str, Any]] = (),
    subscription_policy: SubscriptionPolicy,
) -> OrderOutcome:
    """Reconcile the ledger, seats and access of one order of ``page`` toward what it confers
    now: the rows the order and its learner hold + what the rules make of the payload (``rules``,
    with its refunds) -> rows to add and events.

    ``learner``: the one the page resolved for the order (None: it needs none). The caller has
    checked the payload is not stale. Nothing is written here: the page's flush writes.
    """
    facts = rules.facts
    state = page.states[facts.order_id]
    now = page.now
    unmapped = [vars(line) for line in rules.unmapped]
    if (
        learner is not None
        and facts.name
        and learner.name != facts.name
        and learner.erased_at is None  # the shop's copy of an erased learner's name stays there
    ):
        learner.name = facts.name  # written only when it changed: no statement otherwise
        learner.updated_at = now
        page.changed(learner)
    outcome = OrderOutcome(
        facts.order_id, applied=True, unmapped=unmapped, learner_id=learner.id if learner else None
    )
    if learner is not None:
        learner_id = id_of(learner)
        if any(e.expires_at is not None for e in rules.entitlements):
            # Subscriptions are read under the learner lock, the lock apply_subscription holds
            # while it corrects expiries: neither can miss what the other wrote.
            terms = order_subscription_terms(
                page.session,
                facts.order_id,
                facts.renewal_of + facts.switch_of,
                subscription_policy,
            )
            rules = order_entitlements(
                payload,
                catalogue,
                paid_statuses=paid_statuses,
                refunds=refunds,
                subscription_terms=terms,
            )
        sale_at = facts.date_paid_gmt or facts.date_created_gmt
        by_kind: dict[str, dict[str, Entitlement]] = defaultdict(dict)
        for entitlement in rules.entitlements:
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
        existing = page.ledger[facts.order_id]
        for row in expiries_to_correct(
            existing, {key: target.expires_at for key, target in credit_targets.items()}, now
        ):
            page.changed(row)
        credits = reconcile_credits(existing, credit_targets, learner_id, facts.order_id, now)
        _record(page, credits)
        existing.extend(credits.new)
        outcome.events += credits.events
        outcome.events += reconcile_seats(page, learner_id, facts, by_kind["seat"])
        access = reconcile_access(
            page.access[facts.order_id], by_kind["access"], learner_id, facts.order_id, now
        )
        _record(page, access)
        page.access[facts.order_id].extend(access.new)
        outcome.events += access.events

    state.learner_id = learner.id if learner else None
    state.status = facts.status
    state.date_modified_gmt = facts.date_modified_gmt or state.date_modified_gmt
    state.date_paid_gmt = facts.date_paid_gmt or state.date_paid_gmt
    state.date_created_gmt = facts.date_created_gmt or state.date_created_gmt
    state.total = facts.total
    state.currency = facts.currency
    earlier_summary = state.summary or {}
    if refunds:
        refund_rows = [dict(r) for r in refund_summary(refunds)]
    else:
        # Refunds are not fetched for an order that confers nothing (refunded, cancelled):
        # keep the ones read earlier, so their dates and lines survive for the report.
        earlier = earlier_summary.get("refunds") or []
        refund_rows = [r for r in earlier if r.get("id") in facts.refund_ids]
    listed_before = bool(earlier_summary.get("unmapped"))
    state.summary = {
        "refund_ids": list(facts.refund_ids),
        "refunds": refund_rows,
        "renewal_of": list(facts.renewal_of),
        "switch_of": list(facts.switch_of),
        "lines": line_summary(payload, catalogue),
        "unmapped": unmapped,
        # What this application depended on: the same again is unchanged (orders.pages).
        SUMMARY_KEY: fingerprint,
        # Made up by `bridge simulate`: the write-back planners send nothing about it.
        **({SIMULATED_KEY: True} if is_simulated(payload) else {}),
    }
    state.updated_at = now
    page.changed(state)
    if unmapped or listed_before:
        paid = facts.status in paid_statuses
        _record_unmapped(page, facts.order_id, unmapped if paid else [])
    if unmapped:
        log.warning(
            "order has lines that sell no micro-SKU",
            extra={
                "order_id": facts.order_id,
                "skus": ",".join(line["sku"] or "?" for line in unmapped),
            },
        )
    return outcome


def _record_unmapped(page: Page, order_id: int, lines: Sequence[Mapping[str, Any]]) -> None:
    """The order's paid lines that sell no micro-SKU, as they are now (kept visible, counted);
    written with the page's (one DELETE and one INSERT for it)."""
    page.unmapped[order_id] = [
        {
            "order_id": order_id,
            "line_item_id": line["line_item_id"],
            "sku": str(line["sku"] or "")[:100],
            "product_id": line["product_id"],
            "variation_id": line["variation_id"],
            "name": str(line["name"] or "")[:200],
            "quantity": line["quantity"],
            "total": str(line["total"])[:32],
            "seen_at": page.now,
        }
        for line in lines
    ]
