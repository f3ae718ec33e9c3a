"""Subscriptions: WooCommerce Subscriptions payloads stored, their perks, and their sync.

Credits are not granted here: the parent order and every paid renewal (or switch) order grant
one period each through the order pipeline (bridge.services.ledger.apply_order), keyed by order
line, so duplicates and retries never double-grant and a refunded renewal reverses its period. A
subscription's status governs its perks only: ``active`` and ``pending-cancel`` keep them,
everything else does not. What a subscription changes for credits is when they expire (its
billing period; a cancellation when the policy revokes unspent credits): when it arrives after
its orders, the expiry of their grants is corrected here, under the learner lock that
apply_order also holds, so the outcome never depends on which delivery came first."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, or_
from sqlmodel import Session, col, select

from bridge.errors import BridgeError, PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.entitlements import OrderStatus, normalise_email, parse_gmt
from bridge.rules.inbound.payloads import PayloadRejected
from bridge.rules.periods import (
    DEFAULT_POLICY,
    BillingPeriod,
    SubscriptionPolicy,
    SubscriptionStatus,
    parse_billing_period,
)
from bridge.rules.perks import offer_perks
from bridge.services.inbox import count, counter_value
from bridge.services.ledger import (
    GRANT_REASONS,
    active_perks,
    correct_expiries,
    order_subscription_terms,
    resolve_learner,
    row_perks,
)
from bridge.services.writeback import enqueue_customer_meta
from bridge.settings import Settings
from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, OrderState, Subscription, utcnow

log = logging.getLogger(__name__)

DEFAULT_PAID_STATUSES = (OrderStatus.PROCESSING, OrderStatus.COMPLETED)
# Counted once per skipped reconciliation; the first one is logged as a warning.
NO_PLUGIN_COUNTER = "subscriptions.plugin_missing"


class SubscriptionPayloadError(PayloadRejected):
    """A subscription payload lacks a field the bridge needs; the message names it."""


class SubscriptionSource(Protocol):
    """What processing a deletion needs from the shop (bridge.shop.client.WooClient provides it)."""

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...


class SubscriptionShop(Protocol):
    """What reconciliation needs from the shop (bridge.shop.client.WooClient provides it)."""

    def has_subscriptions(self) -> bool: ...

    def iter_modified(
        self, path: str, modified_after: datetime | None, params: Mapping[str, Any] | None = None
    ) -> Iterable[Any]: ...


# --- rules (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionLine:
    line_item_id: int
    product_id: int
    variation_id: int
    sku: str
    name: str
    quantity: int
    offer_sku: str | None  # None when the line sells no micro-SKU


@dataclass(frozen=True)
class SubscriptionFacts:
    """The parts of a subscription payload the bridge keeps, parsed and checked."""

    subscription_id: int
    status: str
    customer_id: int
    email: str
    period: BillingPeriod
    start_gmt: datetime | None
    next_payment_gmt: datetime | None
    last_payment_gmt: datetime | None
    end_gmt: datetime | None
    cancelled_gmt: datetime | None
    date_created_gmt: datetime | None
    date_modified_gmt: datetime | None
    parent_order_id: int | None
    lines: tuple[SubscriptionLine, ...]
    # Renewal and switch orders the shop lists for it (meta *_order_ids_cache; may lag).
    order_ids: tuple[int, ...] = ()

    @property
    def offer_skus(self) -> tuple[str, ...]:
        """Micro-SKUs of its lines, each once, in line order."""
        return tuple(dict.fromkeys(line.offer_sku for line in self.lines if line.offer_sku))

    @property
    def unmapped(self) -> tuple[SubscriptionLine, ...]:
        return tuple(line for line in self.lines if line.offer_sku is None)


def _field(payload: Mapping[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SubscriptionPayloadError(
            f"subscription payload field {name!r} is missing or not a {kind.__name__}: {value!r}"
        )
    return value


def _int(value: object) -> int:
    """Ids arrive as numbers or numeric strings; anything else is 0 (none)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return 0


def _meta_ids(payload: Mapping[str, Any], *keys: str) -> tuple[int, ...]:
    ids: set[int] = set()
    for row in payload.get("meta_data") or []:
        if isinstance(row, Mapping) and row.get("key") in keys:
            values = row.get("value")
            for value in values if isinstance(values, list) else [values]:
                if _int(value):
                    ids.add(_int(value))
    return tuple(sorted(ids))


def parse_subscription(payload: Any, catalogue: Catalogue) -> SubscriptionFacts:
    """Parse and check a ``/wc/v3/subscriptions`` object (a webhook body has the same shape)."""
    if not isinstance(payload, Mapping):
        raise SubscriptionPayloadError(f"a subscription payload is an object, not {payload!r:.40}")
    subscription_id = _field(payload, "id", int)
    status = _field(payload, "status", str)
    where = f"subscription {subscription_id}"
    try:
        period = parse_billing_period(
            payload.get("billing_period"), payload.get("billing_interval")
        )
        dates = {
            name: parse_gmt(payload.get(f"{name}_gmt"))
            for name in (
                "start_date",
                "next_payment_date",
                "last_payment_date",
                "end_date",
                "cancelled_date",
                "date_created",
                "date_modified",
            )
        }
    except ValueError as exc:
        raise SubscriptionPayloadError(f"{where}: {exc}") from None
    lines = []
    for line in payload.get("line_items") or []:
        if not isinstance(line, Mapping):
            continue
        offer = catalogue.offer_for_line(line)
        lines.append(
            SubscriptionLine(
                line_item_id=_int(line.get("id")),
                product_id=_int(line.get("product_id")),
                variation_id=_int(line.get("variation_id")),
                sku=str(line.get("sku") or ""),
                name=str(line.get("name") or ""),
                quantity=_int(line.get("quantity")),
                offer_sku=offer.sku if offer is not None else None,
            )
        )
    billing = payload.get("billing")
    if not isinstance(billing, Mapping):
        billing = {}
    return SubscriptionFacts(
        subscription_id=subscription_id,
        status=status,
        customer_id=_int(payload.get("customer_id")),
        email=normalise_email(str(billing.get("email") or "")),
        period=period,
        start_gmt=dates["start_date"],
        next_payment_gmt=dates["next_payment_date"],
        last_payment_gmt=dates["last_payment_date"],
        end_gmt=dates["end_date"],
        cancelled_gmt=dates["cancelled_date"],
        date_created_gmt=dates["date_created"],
        date_modified_gmt=dates["date_modified"],
        parent_order_id=_int(payload.get("parent_id")) or None,
        lines=tuple(lines),
        order_ids=_meta_ids(
            payload, "_subscription_renewal_order_ids_cache", "_subscription_switch_order_ids_cache"
        ),
    )


def cancellation_time(
    facts: SubscriptionFacts, seen_before: datetime | None, now: datetime
) -> datetime | None:
    """When a cancelled subscription ended: its end date, else its cancelled date, else when the
    bridge first saw it cancelled (WooCommerce may leave both dates empty)."""
    if facts.status != SubscriptionStatus.CANCELLED:
        return None
    return facts.end_gmt or facts.cancelled_gmt or seen_before or facts.date_modified_gmt or now


def subscription_policy(settings: Settings) -> SubscriptionPolicy:
    """The creator's subscription settings, as the rules take them."""
    return SubscriptionPolicy(
        rollover=dict(settings.subscriptions.rollover),
        revoke_on_cancel=settings.subscriptions.revoke_on_cancel,
    )


# --- storage ----------------------------------------------------------------------------------


@dataclass
class SubscriptionOutcome:
    subscription_id: int | None
    applied: bool  # False when the payload was stale or not a subscription at all
    learner_id: int | None = None
    status: str = ""
    previous_status: str | None = None
    perks_before: list[str] = field(default_factory=list)
    perks_after: list[str] = field(default_factory=list)
    expiries_moved: int = 0  # grants of earlier orders whose expiry this payload corrected
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    @property
    def perks_changed(self) -> bool:
        """True when the customer's perks meta needs writing back."""
        return self.perks_before != self.perks_after


def _lock_subscription(session: Session, subscription_id: int, status: str) -> Subscription:
    insert_ignore(
        session,
        Subscription,
        {"id": subscription_id, "status": status, "updated_at": utcnow()},
        ["id"],
    )
    row = session.exec(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    ).first()
    assert row is not None
    return row


def subscription_orders(session: Session, subscription: Subscription) -> list[OrderState]:
    """The stored orders that paid for a subscription: parent, renewals and switches."""
    paid_by = (subscription.parent_order_id, *(subscription.order_ids or []))
    listed = {order_id for order_id in paid_by if order_id is not None}
    conditions: list[ColumnElement[bool]] = []
    if listed:
        conditions.append(col(OrderState.order_id).in_(sorted(listed)))
    if subscription.learner_id is not None:
        conditions.append(col(OrderState.learner_id) == subscription.learner_id)
    if not conditions:
        return []
    condition = or_(*conditions)
    found = []
    for state in session.exec(
        select(OrderState).where(condition).order_by(col(OrderState.order_id))
    ).all():
        summary = state.summary or {}
        linked = {*(summary.get("renewal_of") or []), *(summary.get("switch_of") or [])}
        if state.order_id in listed or subscription.id in linked:
            found.append(state)
    return found


def refresh_expiries(
    session: Session,
    subscription: Subscription,
    catalogue: Catalogue,
    policy: SubscriptionPolicy,
    now: datetime | None = None,
) -> int:
    """Recompute when the credits of the subscription's orders expire; returns how many moved.

    The expiry is exactly what apply_order would set now (bridge.rules.periods), so an order applied
    before its subscription ends up as if it had come after it.
    """
    moved = 0
    for state in subscription_orders(session, subscription):
        summary = state.summary or {}
        terms = order_subscription_terms(
            session,
            state.order_id,
            [*(summary.get("renewal_of") or []), *(summary.get("switch_of") or [])],
            policy,
        )
        starts_at = state.date_paid_gmt or state.date_created_gmt
        rows = session.exec(
            select(LedgerEntry)
            .where(LedgerEntry.order_id == state.order_id)
            .order_by(col(LedgerEntry.id))
        ).all()
        expiries = {}
        for row in rows:
            offer = catalogue.offers.get(row.offer_sku or "")
            if row.reason in GRANT_REASONS and offer is not None and offer.kind == "subscription":
                expiries[row.grant_key] = terms.credit_expiry(offer, row.credit_type, starts_at)
        moved += correct_expiries(session, rows, expiries, now)
    return moved


def apply_subscription(
    session: Session,
    payload: Any,
    catalogue: Catalogue,
    *,
    policy: SubscriptionPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> SubscriptionOutcome:
    """Store a subscription payload and correct the expiry of its orders' credits.

    A payload older than the stored one (by ``date_modified_gmt``) is skipped. Nothing is
    committed here: the caller owns the transaction.
    """
    now = now or utcnow()
    facts = parse_subscription(payload, catalogue)
    if not facts.customer_id and not facts.email:
        raise SubscriptionPayloadError(
            f"subscription {facts.subscription_id} has neither a customer_id nor a billing e-mail"
        )
    row = _lock_subscription(session, facts.subscription_id, facts.status)
    if (
        row.date_modified_gmt is not None
        and facts.date_modified_gmt is not None
        and facts.date_modified_gmt < row.date_modified_gmt
    ):
        log.debug(
            "stale subscription payload skipped", extra={"subscription_id": facts.subscription_id}
        )
        return SubscriptionOutcome(
            facts.subscription_id,
            applied=False,
            learner_id=row.learner_id,
            status=row.status,
            previous_status=row.status,
            note="stale",
        )
    # The learner lock serialises this with apply_order on the same learner's orders.
    learner = resolve_learner(session, facts.customer_id, facts.email)
    is_new = row.date_modified_gmt is None and row.learner_id is None
    previous_status = None if is_new else row.status
    perks_before = [] if is_new else row_perks(row, catalogue, now)

    row.learner_id = learner.id
    row.status = facts.status
    row.billing_period = facts.period.unit
    row.billing_interval = facts.period.interval
    row.start_gmt = facts.start_gmt
    row.next_payment_gmt = facts.next_payment_gmt
    row.last_payment_gmt = facts.last_payment_gmt
    row.end_gmt = facts.end_gmt
    row.cancelled_gmt = cancellation_time(facts, row.cancelled_gmt, now)
    row.parent_order_id = facts.parent_order_id
    row.offer_skus = list(facts.offer_skus)
    row.perks = offer_perks(facts.offer_skus, catalogue)
    row.order_ids = sorted(set(row.order_ids or []) | set(facts.order_ids))
    row.date_modified_gmt = facts.date_modified_gmt or row.date_modified_gmt
    row.updated_at = utcnow()
    session.add(row)
    session.flush()

    moved = refresh_expiries(session, row, catalogue, policy, now)
    unmapped = [vars(line) for line in facts.unmapped]
    if unmapped:
        log.warning(
            "subscription has lines that sell no micro-SKU",
            extra={
                "subscription_id": facts.subscription_id,
                "skus": ",".join(line["sku"] or "?" for line in unmapped),
            },
        )
    return SubscriptionOutcome(
        facts.subscription_id,
        applied=True,
        learner_id=learner.id,
        status=facts.status,
        previous_status=previous_status,
        perks_before=perks_before,
        perks_after=row_perks(row, catalogue, now),
        expiries_moved=moved,
        unmapped=unmapped,
    )


def trash_subscription(
    session: Session, subscription_id: int, catalogue: Catalogue, *, now: datetime | None = None
) -> SubscriptionOutcome:
    """A deleted (trashed) subscription keeps no perks; its paid periods keep their credits."""
    now = now or utcnow()
    row = session.exec(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    ).first()
    if row is None:
        return SubscriptionOutcome(subscription_id, applied=False, note="unknown, nothing to do")
    perks_before = row_perks(row, catalogue, now)
    previous_status, row.status, row.updated_at = row.status, "trash", utcnow()
    session.add(row)
    session.flush()
    return SubscriptionOutcome(
        subscription_id,
        applied=True,
        learner_id=row.learner_id,
        status="trash",
        previous_status=previous_status,
        perks_before=perks_before,
        perks_after=[],
    )


# --- services ---------------------------------------------------------------------------------


def _current_after_deletion(subscription_id: int, shop: SubscriptionSource | None) -> Any:
    """Ask the shop what a deleted subscription looks like now: it may have been restored."""
    if shop is None:
        return None
    try:
        return shop.get(f"subscriptions/{int(subscription_id)}")
    except PermanentError as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise


def process_subscription(
    engine: Engine,
    payload: Any,
    catalogue: Catalogue,
    *,
    settings: Settings | None = None,
    shop: SubscriptionSource | None = None,
    now: datetime | None = None,
) -> SubscriptionOutcome:
    """Apply one ``subscription.*`` payload in its own unit of work.

    A body that is not a subscription (WooCommerce sends a literal ``[]`` when a subscription
    is created through REST) is ignored; ``{"id": N}`` (a deletion) asks the shop for the
    subscription's current state and trashes it when the shop no longer has it.
    """
    if not isinstance(payload, Mapping) or not payload:
        return SubscriptionOutcome(None, applied=False, note="not a subscription, ignored")
    policy = subscription_policy(settings) if settings is not None else DEFAULT_POLICY
    if set(payload) == {"id"}:
        subscription_id = _int(payload["id"])
        current = _current_after_deletion(subscription_id, shop)
        if current is None:
            with unit_of_work(engine) as session:
                outcome = trash_subscription(session, subscription_id, catalogue, now=now)
                _queue_perks_writeback(session, outcome, catalogue)
                session.commit()
            return outcome
        payload = current
    with unit_of_work(engine) as session:
        outcome = apply_subscription(session, payload, catalogue, policy=policy, now=now)
        _queue_perks_writeback(session, outcome, catalogue)
        session.commit()
    log.debug(
        "subscription applied" if outcome.applied else "subscription skipped (stale)",
        extra={
            "subscription_id": outcome.subscription_id,
            "status": outcome.status,
            "expiries_moved": outcome.expiries_moved,
        },
    )
    return outcome


@dataclass
class SubscriptionSync:
    """What one reconciliation of ``/subscriptions`` did (or, dry, would do)."""

    available: bool  # False when the shop has no WooCommerce Subscriptions: nothing was read
    dry_run: bool = False
    fetched: int = 0
    applied: int = 0
    stale: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)  # status, perks or expiry moved
    failed: list[dict[str, Any]] = field(default_factory=list)
    # The newest date_modified_gmt up to which every fetched subscription was applied (None
    # when nothing was): where the sync cursor may move.
    newest_modified_gmt: datetime | None = None

    @property
    def changed(self) -> int:
        return len(self.changes)

    def summary(self) -> str:
        if not self.available:
            return "the shop has no WooCommerce Subscriptions: skipped"
        would = "would change" if self.dry_run else "changed"
        text = (
            f"{self.fetched} subscriptions fetched, {self.applied} applied, "
            f"{self.stale} stale, {self.changed} {would}"
        )
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def _note_no_plugin(engine: Engine) -> None:
    """Say once (per database) that the shop has no Subscriptions plugin; count every skip."""
    first = counter_value(engine, NO_PLUGIN_COUNTER) == 0
    count(engine, NO_PLUGIN_COUNTER)
    level = logging.WARNING if first else logging.DEBUG
    log.log(
        level,
        "the shop has no WooCommerce Subscriptions (no /subscriptions route): "
        "subscription reconciliation skipped",
    )


def _queue_perks_writeback(
    session: Session, outcome: SubscriptionOutcome, catalogue: Catalogue
) -> None:
    """Queue the customer meta (perks) when this subscription changed them."""
    if outcome.applied and outcome.perks_changed and outcome.learner_id is not None:
        perks = active_perks(session, outcome.learner_id, catalogue=catalogue)
        enqueue_customer_meta(session, outcome.learner_id, perks)


def reconcile_subscriptions(
    engine: Engine,
    woo_client: SubscriptionShop,
    catalogue: Catalogue,
    *,
    modified_after: datetime | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> SubscriptionSync:
    """Apply every subscription changed after ``modified_after``, oldest change first.

    Each subscription is its own unit of work; a dry run applies each and rolls it back, so it
    reports exactly what would change. A payload the bridge cannot use is recorded in
    ``failed`` and the rest go on; ``newest_modified_gmt`` stops before the first failure.
    Without WooCommerce Subscriptions on the shop, says so once and returns available=False.
    ``settings`` gives the creator's subscription policy (the defaults without it).
    """
    if not woo_client.has_subscriptions():
        _note_no_plugin(engine)
        return SubscriptionSync(available=False, dry_run=dry_run)
    policy = subscription_policy(settings) if settings is not None else DEFAULT_POLICY
    result = SubscriptionSync(available=True, dry_run=dry_run)
    for page in woo_client.iter_modified("subscriptions", modified_after):
        for payload in page.items:
            result.fetched += 1
            subscription_id = payload.get("id") if isinstance(payload, Mapping) else None
            try:
                with unit_of_work(engine) as session:
                    outcome = apply_subscription(
                        session, payload, catalogue, policy=policy, now=now
                    )
                    if not dry_run:
                        _queue_perks_writeback(session, outcome, catalogue)
                        session.commit()
            except BridgeError as exc:
                result.failed.append({"id": subscription_id, "error": str(exc)})
                log.warning(
                    "subscription not applied: %s", exc, extra={"subscription_id": subscription_id}
                )
                continue
            if not outcome.applied:
                result.stale += 1
            else:
                result.applied += 1
                if (
                    outcome.previous_status != outcome.status
                    or outcome.perks_changed
                    or outcome.expiries_moved
                ):
                    result.changes.append(
                        {
                            "id": outcome.subscription_id,
                            "learner_id": outcome.learner_id,
                            "status": outcome.status,
                            "previous_status": outcome.previous_status,
                            "perks": outcome.perks_after,
                            "expiries_moved": outcome.expiries_moved,
                        }
                    )
            modified = parse_gmt(payload.get("date_modified_gmt"))
            if not result.failed and modified is not None:
                newest = result.newest_modified_gmt
                result.newest_modified_gmt = modified if newest is None else max(newest, modified)
    log.info(
        "subscriptions reconciled: %s",
        result.summary(),
        extra={
            "fetched": result.fetched,
            "applied": result.applied,
            "stale": result.stale,
            "failed": len(result.failed),
            "dry_run": dry_run,
        },
    )
    return result


# --- readers ----------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _granted(session: Session, order_id: int) -> dict[str, int]:
    """Credits by type an order's grants hold now (reversed ones excluded)."""
    rows = session.exec(select(LedgerEntry).where(LedgerEntry.order_id == order_id)).all()
    reversed_ids = {row.reverses_id for row in rows if row.reverses_id is not None}
    granted: dict[str, int] = {}
    for row in rows:
        if row.reason in GRANT_REASONS and row.id not in reversed_ids:
            granted[row.credit_type] = granted.get(row.credit_type, 0) + row.amount
    return granted


def learner_subscriptions(
    session: Session,
    learner_id: int,
    *,
    catalogue: Catalogue | None = None,
    paid_statuses: Iterable[str] = DEFAULT_PAID_STATUSES,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The learner's subscriptions as JSON-ready data, with the last paid period and next grant.

    ``current_period`` is the period the most recent paid order bought (``current`` tells
    whether ``now`` is inside it); ``next_grant`` is when the next period is due (an active
    subscription's next payment, else the period end) and what it will grant, judged from the
    last period; on hold it waits for the renewal payment; other statuses grant no more.
    """
    now = now or utcnow()
    paid = set(paid_statuses)
    out = []
    for row in session.exec(
        select(Subscription)
        .where(Subscription.learner_id == learner_id)
        .order_by(col(Subscription.id))
    ).all():
        period = BillingPeriod(row.billing_period, row.billing_interval)
        latest: tuple[datetime, OrderState] | None = None
        for state in subscription_orders(session, row):
            starts_at = state.date_paid_gmt or state.date_created_gmt
            if state.status in paid and starts_at and (latest is None or starts_at > latest[0]):
                latest = (starts_at, state)
        current = None
        granted: dict[str, int] = {}
        if latest is not None:
            starts_at, state = latest
            ends_at = period.after(starts_at)
            granted = _granted(session, state.order_id)
            current = {
                "order_id": state.order_id,
                "starts_at": _iso(starts_at),
                "ends_at": _iso(ends_at),
                "current": starts_at <= now < ends_at,
                "granted": granted,
            }
        next_grant = None
        if row.status == SubscriptionStatus.ACTIVE:
            due = row.next_payment_gmt or (period.after(latest[0]) if latest else None)
            next_grant = {"at": _iso(due), "awaiting_payment": False, "credits": granted}
        elif row.status == SubscriptionStatus.ON_HOLD:
            next_grant = {"at": None, "awaiting_payment": True, "credits": granted}
        out.append(
            {
                "id": row.id,
                "status": row.status,
                "offer_skus": list(row.offer_skus or []),
                "perks": row_perks(row, catalogue, now),
                "billing_period": row.billing_period,
                "billing_interval": row.billing_interval,
                "period": str(period),
                "parent_order_id": row.parent_order_id,
                "start_at": _iso(row.start_gmt),
                "next_payment_at": _iso(row.next_payment_gmt),
                "last_payment_at": _iso(row.last_payment_gmt),
                "ends_at": _iso(row.end_gmt),
                "cancelled_at": _iso(row.cancelled_gmt),
                "current_period": current,
                "next_grant": next_grant,
            }
        )
    return out
