"""Orders a page at a time: one unit of work for up to a page of orders.

What the page needs is read in a few set-based queries and locked (bridge.services.ledger);
the ledger applies each order with the pure rules against those rows; the page is flushed once
(one multi-row INSERT per table) and its write-backs are queued together. A page that cannot
be applied as a whole (an order the rules reject, an unknown cohort, a learner case the page
did not read) is rolled back and its orders applied one by one, so one bad order fails alone
and every other order lands as it would have.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.entitlements import (
    OrderEntitlements,
    OrderStatus,
    needs_refund_lookup,
    order_entitlements,
)
from bridge.rules.inbound.payloads import check_payload
from bridge.rules.periods import SubscriptionPolicy
from bridge.services.ledger import (
    PAGE_KEY,
    SEAT_HELD,
    Event,
    NotInPage,
    OrderOutcome,
    PageState,
    apply_order,
    flush_page,
    is_stale,
    load_page,
    lock_cohorts,
    needs_learner,
    reconcile_complimentary_calls,
    resolve_in_page,
    store_new_aliases,
    stored_refunds_of,
)
from bridge.services.orders.pages import changed_orders
from bridge.services.orders.watch import is_news, watch_since
from bridge.services.subscriptions import subscription_policy
from bridge.services.team_packs import has_claimable_offers, reconcile_claims
from bridge.services.writeback import enqueue_writebacks_for
from bridge.settings import Settings
from bridge.store.db import unit_of_work

log = logging.getLogger(__name__)

KEPT_KEY = "bridge.page.kept"
# PostgreSQL's deadlock and serialization failures: the transaction is rolled back, retrying
# (here: one order at a time) succeeds.
RETRYABLE_SQLSTATES = ("40P01", "40001")


class OrderSource(Protocol):
    """What the pipeline needs from the shop (bridge.shop.client.WooClient provides it)."""

    def order_refunds(self, order_id: int) -> list[dict[str, Any]]: ...

    def get_order(self, order_id: int) -> dict[str, Any]: ...


class ShopNeeded(PermanentError):
    """The payload cannot be applied without asking the shop, and no shop is configured."""


@dataclass
class OrderResult:
    """What became of one payload of a page: its outcome, or why it could not be applied."""

    payload: Mapping[str, Any]
    outcome: OrderOutcome | None = None
    error: PermanentError | None = None


@dataclass
class _Prepared:
    result: OrderResult
    payload: Mapping[str, Any]  # a deletion replaced by the order as the shop has it now
    rules: OrderEntitlements  # with the refunds, once they are read
    refunds: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str | None = None  # computed already when the page was checked for changes

    @property
    def order_id(self) -> int:
        return self.rules.facts.order_id


def is_deletion(payload: Mapping[str, Any]) -> bool:
    """``*.deleted`` deliveries carry only ``{"id": N}``."""
    return set(payload) == {"id"}


def trashed_order(order_id: int) -> dict[str, Any]:
    return {"id": order_id, "status": OrderStatus.TRASH, "line_items": [], "refunds": []}


def current_order_after_deletion(order_id: int, shop: OrderSource | None) -> dict[str, Any]:
    """Ask the shop what a deleted order looks like now: a trashed order may be restored."""
    if shop is None:
        return trashed_order(order_id)
    try:
        return shop.get_order(order_id)
    except PermanentError as exc:
        if getattr(exc, "status", None) == 404:
            return trashed_order(order_id)
        raise


def process_orders(
    engine: Engine,
    payloads: Sequence[Mapping[str, Any]],
    *,
    catalogue: Catalogue,
    settings: Settings,
    shop: OrderSource | None = None,
    checked: bool = False,
    notify: bool | None = None,
    since: datetime | None = None,
    valid: bool = False,
    fingerprints: dict[int, str] | None = None,
) -> list[OrderResult]:
    """Apply a page of order payloads; one result per payload, in their order.

    Payloads unchanged since they were applied cost one read for the page and no write
    (``checked``: the caller already looked, bridge.services.orders.pages, and ``fingerprints``
    may hold what it computed). Refunds and the current state of deleted orders are fetched
    before the unit of work opens. ``notify`` and ``since`` are as for ``process_order``;
    ``valid``: the payloads passed the payload rules already (the inbox classified them).
    Errors a payload earns alone (PermanentError) are in its result; a database failure
    raises.
    """
    fingerprints = {} if fingerprints is None else fingerprints
    results = [OrderResult(payload) for payload in payloads]
    accepted: list[OrderResult] = []
    for result in results:
        try:
            if not valid:
                check_payload(
                    "order", result.payload, max_quantity=settings.orders.max_line_quantity
                )
        except PermanentError as exc:
            result.error = exc
        else:
            accepted.append(result)
    if not checked and accepted:
        changed = {
            id(p)
            for p in changed_orders(
                engine, [r.payload for r in accepted], catalogue, settings, fingerprints
            )
        }
        for result in accepted:
            if id(result.payload) not in changed:
                result.outcome = OrderOutcome(int(result.payload["id"]), applied=True)
        accepted = [r for r in accepted if r.outcome is None]
    prepared = _prepare(engine, accepted, catalogue, settings, shop)
    for item in prepared:
        if item.payload is item.result.payload:  # not a deletion looked up again
            item.fingerprint = fingerprints.get(id(item.payload))
    for run in _distinct_runs(prepared):
        _apply_run(engine, run, catalogue, settings, notify, since)
    return results


def process_order(
    engine: Engine,
    payload: Mapping[str, Any],
    *,
    catalogue: Catalogue,
    settings: Settings,
    shop: OrderSource | None = None,
    checked: bool = False,
    notify: bool | None = None,
    since: datetime | None = None,
) -> OrderOutcome:
    """Apply an order payload: refunds fetched only when they can change the outcome.

    A payload that would change nothing (the same as last applied) costs one read and no write;
    ``checked`` says the caller already looked (bridge.services.orders.pages). Customers hear
    of the change (notes, coupons) only when it happened after the bridge started watching
    the shop (``since``, read when not given), unless ``notify`` says otherwise: True tells
    them of history on purpose, False tells them nothing. A payload that breaks the payload
    rules raises PayloadRejected before anything is read; any other PermanentError it earns
    is raised too.
    """
    [result] = process_orders(
        engine,
        [payload],
        catalogue=catalogue,
        settings=settings,
        shop=shop,
        checked=checked,
        notify=notify,
        since=since,
    )
    if result.error is not None:
        raise result.error
    assert result.outcome is not None
    return result.outcome


def _prepare(
    engine: Engine,
    accepted: Sequence[OrderResult],
    catalogue: Catalogue,
    settings: Settings,
    shop: OrderSource | None,
) -> list[_Prepared]:
    """What the rules need from the shop first: deleted orders as they are now, refunds."""
    prepared: list[_Prepared] = []
    for result in accepted:
        try:
            payload = result.payload
            if is_deletion(payload):
                payload = current_order_after_deletion(int(payload["id"]), shop)
            rules = order_entitlements(
                payload, catalogue, paid_statuses=settings.orders.paid_statuses
            )
        except PermanentError as exc:
            result.error = exc
            continue
        prepared.append(_Prepared(result, payload, rules))
    wanting = [p for p in prepared if needs_refund_lookup(p.payload, settings.orders.paid_statuses)]
    if wanting:
        with unit_of_work(engine) as session:
            known = stored_refunds_of(
                session, {p.order_id: p.rules.facts.refund_ids for p in wanting}
            )
        for item in wanting:
            stored = known.get(item.order_id)
            try:
                if stored is not None:
                    item.refunds = stored
                elif shop is None:
                    raise ShopNeeded(
                        f"order {item.order_id} has refunds; set WOOCOMMERCE_URL "
                        "so they can be read"
                    )
                else:
                    item.refunds = shop.order_refunds(item.order_id)
                # What the rules make of the order with its refunds (units refunded confer
                # nothing): computed once, used by the ledger and the team-pack places.
                item.rules = order_entitlements(
                    item.payload,
                    catalogue,
                    paid_statuses=settings.orders.paid_statuses,
                    refunds=item.refunds,
                )
            except PermanentError as exc:
                item.result.error = exc
    return [p for p in prepared if p.result.error is None]


def _distinct_runs(prepared: Sequence[_Prepared]) -> list[list[_Prepared]]:
    """Consecutive runs in which no order appears twice: each run is one unit of work."""
    runs: list[list[_Prepared]] = []
    seen: set[int] = set()
    for item in prepared:
        if not runs or item.order_id in seen:
            runs.append([])
            seen = set()
        runs[-1].append(item)
        seen.add(item.order_id)
    return runs


def _apply_run(
    engine: Engine,
    run: Sequence[_Prepared],
    catalogue: Catalogue,
    settings: Settings,
    notify: bool | None,
    since: datetime | None,
) -> None:
    try:
        _apply_unit(engine, run, catalogue, settings, notify, since)
        return
    except PermanentError as exc:
        if len(run) == 1:
            run[0].result.error = exc
            return
        reason = str(exc)
    except (NotInPage, IntegrityError) as exc:
        # NotInPage: a learner case the page did not read. IntegrityError: another transaction
        # made the same new learner (or place) first; the one-by-one path takes theirs.
        reason = str(exc)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
            raise
        reason = str(exc)
    log.debug("page applied order by order", extra={"orders": len(run), "reason": reason})
    for item in run:
        try:
            _apply_unit(engine, [item], catalogue, settings, notify, since, single=True)
        except PermanentError as exc:
            item.result.error = exc


def _apply_unit(
    engine: Engine,
    run: Sequence[_Prepared],
    catalogue: Catalogue,
    settings: Settings,
    notify: bool | None,
    since: datetime | None,
    *,
    single: bool = False,
) -> None:
    """One unit of work: the run's orders applied, their write-backs queued, committed."""
    policy = subscription_policy(settings)
    with unit_of_work(engine) as session:
        outcomes: list[OrderOutcome] = []
        if single:
            # The path every order took before pages: no page state, every row read as needed.
            [item] = run
            outcome = _apply_one(session, item, catalogue, settings, policy)
            outcome.events += _places(session, item, outcome, catalogue, settings)
            outcomes.append(outcome)
        else:
            outcomes = _apply_page(session, run, catalogue, settings)
        watched = since if since is not None else watch_since(session, settings)
        for item, outcome in zip(run, outcomes, strict=True):
            outcome.news = (
                notify
                if notify is not None
                else is_news(item.rules.facts.date_modified_gmt, watched)
            )
        enqueue_writebacks_for(session, [(o, o.news) for o in outcomes], catalogue, settings)
        session.commit()
    for item, outcome in zip(run, outcomes, strict=True):
        item.result.outcome = outcome
        log.debug(
            "order applied" if outcome.applied else "order skipped (stale)",
            extra={"order_id": outcome.order_id, "changes": len(outcome.events)},
        )


def _apply_page(
    session: Session, run: Sequence[_Prepared], catalogue: Catalogue, settings: Settings
) -> list[OrderOutcome]:
    page = load_page(
        session,
        [(p.order_id, p.rules.facts.status) for p in run],
        [(p.rules.facts.customer_id, p.rules.facts.email) for p in run],
        claims=has_claimable_offers(catalogue),
    )
    try:
        outcomes = _apply_loaded(session, page, run, catalogue, settings)
        flush_page(session, page)
        page.fill_ids()
    finally:
        # The write-back planning that follows reads these rows again: kept referenced until
        # the unit of work ends, they stay in the session's (weak) identity map, unread.
        session.info[KEPT_KEY] = session.info.pop(PAGE_KEY, None)
    return outcomes


def _apply_loaded(
    session: Session,
    page: PageState,
    run: Sequence[_Prepared],
    catalogue: Catalogue,
    settings: Settings,
) -> list[OrderOutcome]:
    paid = settings.orders.paid_statuses
    stale: dict[int, OrderOutcome] = {}
    for item in run:
        state = page.states[item.order_id]
        if is_stale(state, item.rules.facts):
            stale[item.order_id] = OrderOutcome(
                item.order_id, applied=False, learner_id=state.learner_id
            )
        elif state.learner_id is not None:
            learner = page.learners.get(int(state.learner_id))
            if learner is None:
                raise NotInPage(f"learner {state.learner_id} was not read for this page")
            page.resolved[item.order_id] = learner
        elif needs_learner(item.rules, paid):
            page.resolved[item.order_id] = resolve_in_page(
                session, page, item.rules.facts.customer_id, item.rules.facts.email
            )
        else:
            page.resolved[item.order_id] = None
    flush_page(session, page)  # new learners get their ids before any row names them
    store_new_aliases(session, page)
    codes = {e.cohort for p in run for e in p.rules.entitlements if e.kind == "seat" and e.cohort}
    codes |= {
        seat.cohort_code
        for seats in page.seats.values()
        for seat in seats
        if seat.status in SEAT_HELD
    }
    lock_cohorts(session, page, codes)
    policy = subscription_policy(settings)
    outcomes: list[OrderOutcome] = []
    own_events: dict[int, int] = {}
    for item in run:
        if item.order_id in stale:
            outcomes.append(stale[item.order_id])
            continue
        outcome = _apply_one(session, item, catalogue, settings, policy)
        own_events[item.order_id] = len(outcome.events)
        outcome.events += _places(session, item, outcome, catalogue, settings)
        outcomes.append(outcome)
    flush_page(session, page)  # the complimentary call reads what the orders wrote
    _settle_complimentary_calls(session, page, outcomes, own_events, settings)
    return outcomes


def _apply_one(
    session: Session,
    item: _Prepared,
    catalogue: Catalogue,
    settings: Settings,
    policy: SubscriptionPolicy,
) -> OrderOutcome:
    return apply_order(
        session,
        item.payload,
        catalogue,
        paid_statuses=settings.orders.paid_statuses,
        complimentary_minutes=settings.orders.complimentary_call_minutes,
        refunds=item.refunds,
        subscription_policy=policy,
        rules=item.rules,
        fingerprint=item.fingerprint,
    )


def _places(
    session: Session,
    item: _Prepared,
    outcome: OrderOutcome,
    catalogue: Catalogue,
    settings: Settings,
) -> list[Event]:
    """Team-pack places follow the order, under the same lock and in the same commit."""
    return reconcile_claims(
        session,
        item.payload,
        outcome,
        catalogue=catalogue,
        settings=settings,
        refunds=item.refunds,
        rules=item.rules,
    )


def _settle_complimentary_calls(
    session: Session,
    page: PageState,
    outcomes: Sequence[OrderOutcome],
    own_events: Mapping[int, int],
    settings: Settings,
) -> None:
    """Once per learner of the page, after all its orders: the complimentary call.

    Its events go to the learner's first order of the page that is or was paid (else its
    last), where they would have been had the orders been applied one by one.
    """
    chosen: dict[int, OrderOutcome] = {}
    for outcome in outcomes:
        if not outcome.applied or outcome.learner_id is None:
            continue
        current = chosen.get(outcome.learner_id)
        if current is None or not _was_paid(page, current, settings):
            chosen[outcome.learner_id] = outcome
    sales: dict[int, datetime | None] = {}
    for learner_id, outcome in chosen.items():
        state = page.states[outcome.order_id]
        sales[learner_id] = state.date_paid_gmt or state.date_created_gmt
    events = reconcile_complimentary_calls(
        session, sales, settings.orders.complimentary_call_minutes, settings.orders.paid_statuses
    )
    for learner_id, learner_events in events.items():
        if learner_events:
            outcome = chosen[learner_id]
            at = own_events.get(outcome.order_id, len(outcome.events))
            outcome.events[at:at] = learner_events


def _was_paid(page: PageState, outcome: OrderOutcome, settings: Settings) -> bool:
    state = page.states[outcome.order_id]
    return state.status in settings.orders.paid_statuses or state.date_paid_gmt is not None
