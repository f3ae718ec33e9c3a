"""Orders a page at a time: the one path every order takes (a single webhook is a page of one).

Before any transaction: each payload is checked by the payload rules (a ``ValidatedOrder``),
its fingerprint compared with the one stored when it was last applied (unchanged orders come
back ``unchanged``, unwritten), deleted orders are looked up and refunds read or fetched. Then
one unit of work per page: the page's rows are read and locked (bridge.services.ledger.Page),
each order is applied to them, the page is written in bulk and its write-backs queued. A page
that cannot be applied as a whole (an order the rules reject, an unknown cohort, a learner
another transaction created first, a deadlock) is rolled back and each of its orders applied
as a page of its own, so one bad order fails alone and every other order lands as it would
have.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.entitlements import (
    OrderEntitlements,
    OrderStatus,
    needs_refund_lookup,
    order_entitlements,
)
from bridge.rules.inbound.payloads import PayloadText, check_payload, payload_text
from bridge.services.ledger import (
    SEAT_HELD,
    LearnerRow,
    OrderOutcome,
    Page,
    apply_order,
    is_stale,
    load_page,
    needs_learner,
    reconcile_complimentary_calls,
    stored_refunds_of,
)
from bridge.services.orders.pages import applied_fingerprints, fingerprint_of
from bridge.services.orders.watch import is_news, watch_since
from bridge.services.subscriptions import subscription_policy
from bridge.services.team_packs import has_claimable_offers, reconcile_claims
from bridge.services.writeback import enqueue_writebacks_for
from bridge.settings import Settings
from bridge.store.db import unit_of_work

log = logging.getLogger(__name__)

# PostgreSQL's deadlock and serialization failures: the transaction is rolled back, retrying
# (here: each order as a page of its own) succeeds.
RETRYABLE_SQLSTATES = ("40P01", "40001")


class OrderSource(Protocol):
    """What the path needs from the shop (bridge.shop.client.WooClient provides it)."""

    def order_refunds(self, order_id: int) -> list[dict[str, Any]]: ...

    def get_order(self, order_id: int) -> dict[str, Any]: ...


class ShopNeeded(PermanentError):
    """The payload cannot be applied without asking the shop, and no shop is configured."""


class Tell(StrEnum):
    """Which changes customers hear of (notes, which WooCommerce e-mails; personal coupons)."""

    NEWS = "news"  # those after the bridge started watching the shop (bridge.services.orders.watch)
    EVERYTHING = "everything"  # history too, on purpose (`bridge sync orders --notify`)
    NOTHING = "nothing"


@dataclass(frozen=True)
class ValidatedOrder:
    """An order payload that passed the payload rules (``validate_order``, or the inbox's
    ``classify``, which runs the same ``check_payload`` before a handler is called)."""

    payload: Mapping[str, Any]


def validate_order(
    payload: Any, settings: Settings, text: PayloadText | None = None
) -> ValidatedOrder:
    """The payload as a ValidatedOrder; PayloadRejected names the first field that breaks a
    rule. ``text``: the payload's ``payload_text``, if its fingerprint was made of it."""
    check_payload("order", payload, max_quantity=settings.orders.max_line_quantity, text=text)
    return ValidatedOrder(payload)


@dataclass
class OrderResult:
    """What became of one payload of a page: its outcome, or why it could not be applied."""

    payload: Mapping[str, Any]
    outcome: OrderOutcome | None = None
    error: PermanentError | None = None


@dataclass
class _Order:
    """One order of a page, prepared: what the rules made of it, with its refunds."""

    result: OrderResult
    payload: Mapping[str, Any]  # a deletion replaced by the order as the shop has it now
    fingerprint: str | None
    text: PayloadText | None = None  # what the fingerprint was made of; the rules read it too
    rules: OrderEntitlements | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def order_id(self) -> int:
        assert self.rules is not None
        return self.rules.facts.order_id


@dataclass(frozen=True)
class _Context:
    catalogue: Catalogue
    settings: Settings
    tell: Tell


def is_deletion(payload: Mapping[str, Any]) -> bool:
    """``*.deleted`` deliveries carry only ``{"id": N}``."""
    return len(payload) == 1 and "id" in payload


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


def apply_orders(
    engine: Engine,
    orders: Sequence[Mapping[str, Any] | ValidatedOrder],
    *,
    catalogue: Catalogue,
    settings: Settings,
    shop: OrderSource | None = None,
    tell: Tell = Tell.NEWS,
) -> list[OrderResult]:
    """Apply a page of orders; one result per order, in their order.

    An order the same as when it was last applied comes back ``unchanged`` (its outcome's
    ``unchanged``) at the cost of one read for the page. Errors an order earns alone
    (PermanentError) are in its result; a database failure raises.
    """
    ctx = _Context(catalogue, settings, tell)
    results: list[OrderResult] = []
    prepared: list[_Order] = []
    unchecked: set[int] = set()  # id() of the results whose payload the rules have not seen
    for order in orders:
        payload = order.payload if isinstance(order, ValidatedOrder) else order
        result = OrderResult(payload)
        results.append(result)
        if not isinstance(order, ValidatedOrder):
            unchecked.add(id(result))
        fingerprint, text = _fingerprint(payload, catalogue, settings)
        prepared.append(_Order(result, payload, fingerprint, text))
    # An unchanged order is the payload applied before (its fingerprint covers every field that
    # decides anything), which passed the payload rules then: only the others are checked now.
    prepared = _changed(engine, prepared)
    checked: list[_Order] = []
    for item in prepared:
        if id(item.result) in unchecked:
            try:
                validate_order(item.payload, settings, item.text)
            except PermanentError as exc:
                item.result.error = exc
                continue
        checked.append(item)
    prepared = _prepare(engine, checked, ctx, shop)
    for run in _distinct_runs(prepared):
        _apply_run(engine, run, ctx)
    return results


def process_order(
    engine: Engine,
    payload: Mapping[str, Any],
    *,
    catalogue: Catalogue,
    settings: Settings,
    shop: OrderSource | None = None,
    tell: Tell = Tell.NEWS,
) -> OrderOutcome:
    """Apply one order payload, as a page of one (``apply_orders``); its outcome.

    A payload that breaks the payload rules raises PayloadRejected before anything is read;
    any other PermanentError it earns is raised too.
    """
    [result] = apply_orders(
        engine, [payload], catalogue=catalogue, settings=settings, shop=shop, tell=tell
    )
    if result.error is not None:
        raise result.error
    assert result.outcome is not None
    return result.outcome


def _fingerprint(
    payload: Any, catalogue: Catalogue, settings: Settings
) -> tuple[str | None, PayloadText | None]:
    """The payload's fingerprint and the text it was made of; None for a deletion, or a
    payload the payload rules will refuse (not an order with an id)."""
    order_id = payload.get("id") if isinstance(payload, Mapping) else None
    if (
        not isinstance(order_id, int)
        or isinstance(order_id, bool)
        or not 0 < order_id < 2**63  # a BIGINT holds it
        or is_deletion(payload)
    ):
        return None, None
    text = payload_text(payload) if isinstance(payload, dict) else None
    try:
        return fingerprint_of(payload, catalogue, settings, text), text
    except (TypeError, ValueError, RecursionError):
        return None, text  # not an order the rules would take: they say why


def _changed(engine: Engine, prepared: list[_Order]) -> list[_Order]:
    """The orders that would change something; the others get their ``unchanged`` outcome."""
    ids = [int(o.payload["id"]) for o in prepared if o.fingerprint is not None]
    if not ids:
        return prepared
    with unit_of_work(engine, read_only=True) as session:
        stored = applied_fingerprints(session, ids)
    changed = []
    for order in prepared:
        if order.fingerprint is not None and stored.get(order.payload["id"]) == order.fingerprint:
            order.result.outcome = OrderOutcome(
                int(order.payload["id"]), applied=True, unchanged=True
            )
        else:
            changed.append(order)
    return changed


def _prepare(
    engine: Engine, prepared: list[_Order], ctx: _Context, shop: OrderSource | None
) -> list[_Order]:
    """What the rules need from the shop first: deleted orders as they are now, refunds."""
    paid = ctx.settings.orders.paid_statuses
    ready: list[_Order] = []
    for order in prepared:
        try:
            if is_deletion(order.payload):
                order.payload = current_order_after_deletion(int(order.payload["id"]), shop)
            if order.fingerprint is None:
                order.fingerprint = fingerprint_of(order.payload, ctx.catalogue, ctx.settings)
            order.rules = order_entitlements(order.payload, ctx.catalogue, paid_statuses=paid)
        except PermanentError as exc:
            order.result.error = exc
            continue
        ready.append(order)
    wanting = [o for o in ready if needs_refund_lookup(o.payload, paid)]
    if wanting:
        with unit_of_work(engine, read_only=True) as session:
            known = stored_refunds_of(
                session,
                {o.order_id: o.rules.facts.refund_ids for o in wanting if o.rules is not None},
            )
        for order in wanting:
            stored = known.get(order.order_id)
            try:
                if stored is not None:
                    order.refunds = stored
                elif shop is None:
                    raise ShopNeeded(
                        f"order {order.order_id} has refunds; set WOOCOMMERCE_URL "
                        "so they can be read"
                    )
                else:
                    order.refunds = shop.order_refunds(order.order_id)
                # What the rules make of the order with its refunds (units refunded confer
                # nothing): computed once, used by the ledger and the team-pack places.
                order.rules = order_entitlements(
                    order.payload, ctx.catalogue, paid_statuses=paid, refunds=order.refunds
                )
            except PermanentError as exc:
                order.result.error = exc
    return [o for o in ready if o.result.error is None]


def _distinct_runs(prepared: Sequence[_Order]) -> list[list[_Order]]:
    """Consecutive runs in which no order appears twice: each run is one page."""
    runs: list[list[_Order]] = []
    seen: set[int] = set()
    for order in prepared:
        if not runs or order.order_id in seen:
            runs.append([])
            seen = set()
        runs[-1].append(order)
        seen.add(order.order_id)
    return runs


def _apply_run(engine: Engine, run: Sequence[_Order], ctx: _Context) -> None:
    """The run as one page; if it fails as a whole, each order as a page of its own."""
    try:
        _apply_page(engine, run, ctx)
        return
    except PermanentError as exc:
        if len(run) == 1:
            run[0].result.error = exc
            return
        reason = str(exc)
    except IntegrityError as exc:
        # Another transaction made the same new learner (or place) first: each order alone
        # reads theirs.
        reason = str(exc)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
            raise
        reason = str(exc)
    log.debug("page applied order by order", extra={"orders": len(run), "reason": reason})
    for order in run:
        try:
            _apply_page(engine, [order], ctx)
        except PermanentError as exc:
            order.result.error = exc


def _apply_page(engine: Engine, run: Sequence[_Order], ctx: _Context) -> None:
    """One unit of work: the page's orders applied, their write-backs queued, committed."""
    settings = ctx.settings
    paid = settings.orders.paid_statuses
    with unit_of_work(engine, by_key=True) as session:
        facts = {o.order_id: o.rules.facts for o in run if o.rules is not None}
        page = load_page(
            session,
            [(order_id, f.status) for order_id, f in facts.items()],
            [(f.customer_id, f.email) for f in facts.values()],
            claims=has_claimable_offers(ctx.catalogue),
        )
        learners: dict[int, LearnerRow | None] = {}
        outcomes: dict[int, OrderOutcome] = {}
        for order in run:
            assert order.rules is not None
            state = page.states[order.order_id]
            if is_stale(state, order.rules.facts):
                log.debug("stale order payload skipped", extra={"order_id": order.order_id})
                outcomes[order.order_id] = OrderOutcome(
                    order.order_id, applied=False, learner_id=state.learner_id
                )
            elif state.learner_id is not None:
                learners[order.order_id] = page.learner(state.learner_id)
            elif needs_learner(order.rules, paid):
                learners[order.order_id] = page.resolve(
                    order.rules.facts.customer_id, order.rules.facts.email
                )
            else:
                learners[order.order_id] = None
        page.flush()  # new learners get their ids before any row names them
        page.lock_cohorts(
            {
                e.cohort
                for o in run
                if o.rules is not None
                for e in o.rules.entitlements
                if e.kind == "seat" and e.cohort
            }
            | {
                seat.cohort_code
                for seats in page.seats.values()
                for seat in seats
                if seat.status in SEAT_HELD
            }
        )
        policy = subscription_policy(settings)
        own_events: dict[int, int] = {}
        for order in run:
            assert order.rules is not None and order.fingerprint is not None
            if order.order_id in outcomes:
                continue
            outcome = apply_order(
                page,
                order.payload,
                ctx.catalogue,
                rules=order.rules,
                learner=learners[order.order_id],
                fingerprint=order.fingerprint,
                paid_statuses=paid,
                refunds=order.refunds,
                subscription_policy=policy,
            )
            own_events[order.order_id] = len(outcome.events)
            # Team-pack places follow the order, under the same lock and in the same commit.
            outcome.events += reconcile_claims(
                page,
                order.payload,
                outcome,
                catalogue=ctx.catalogue,
                settings=settings,
                rules=order.rules,
            )
            outcomes[order.order_id] = outcome
        page.flush()  # the complimentary call reads what the orders wrote
        ordered = [outcomes[o.order_id] for o in run]
        _settle_complimentary_calls(page, ordered, own_events, settings)
        page.flush()
        watched = watch_since(session, settings) if ctx.tell == Tell.NEWS else None
        for order, outcome in zip(run, ordered, strict=True):
            outcome.news = (
                is_news(order.rules.facts.date_modified_gmt, watched)
                if watched is not None and order.rules is not None
                else ctx.tell == Tell.EVERYTHING
            )
        enqueue_writebacks_for(
            session, [(o, o.news) for o in ordered], ctx.catalogue, settings, page=page
        )
        session.commit()
    for order, outcome in zip(run, ordered, strict=True):
        order.result.outcome = outcome
        log.debug(
            "order applied" if outcome.applied else "order skipped (stale)",
            extra={"order_id": outcome.order_id, "changes": len(outcome.events)},
        )


def _settle_complimentary_calls(
    page: Page,
    outcomes: Sequence[OrderOutcome],
    own_events: Mapping[int, int],
    settings: Settings,
) -> None:
    """Once per learner of the page, after all its orders: the complimentary call.

    Its events go to the learner's first order of the page that is or was paid (else its
    last), where they would have been had the orders been applied one after the other.
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
        page,
        sales,
        settings.orders.complimentary_call_minutes,
        settings.orders.paid_statuses,
        free_counts=settings.orders.perks_for_free_previews,
    )
    for learner_id, learner_events in events.items():
        if learner_events:
            outcome = chosen[learner_id]
            at = own_events.get(outcome.order_id, len(outcome.events))
            outcome.events[at:at] = learner_events


def _was_paid(page: Page, outcome: OrderOutcome, settings: Settings) -> bool:
    state = page.states[outcome.order_id]
    return state.status in settings.orders.paid_statuses or state.date_paid_gmt is not None
