"""Write-back planning: what the bridge decided, to be shown in WooCommerce.

The ``enqueue_*`` functions run inside the transaction that changed the ledger or the seats and
only add outbox rows (bridge.services.writeback.queue), so nothing is lost while the shop is down
and a rolled-back change leaves no row. The transport is bridge.services.writeback.outbox.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.cohorts import SeatRow, SeatStatus
from bridge.rules.reconcile import AccessRow, CreditRow
from bridge.rules.writeback.notes import (
    NoteTemplates,
    upsell_links,
)
from bridge.services.ledger import (
    GRANT_REASONS,
    SEAT_HELD,
    SIMULATED_KEY,
    Event,
    OrderOutcome,
    Page,
    StateRow,
    active_perks_of,
    balances_of,
    read_rows,
    simulated_orders,
)
from bridge.services.writeback.coupons import coupon_key, enqueue_personal_coupons
from bridge.services.writeback.notes import (
    coupon_note_draft,
    enqueue_notes,
    event_note_drafts,
    note_templates_for,
)
from bridge.services.writeback.queue import (
    Update,
    enqueue_update,
    enqueue_updates,
    line_of,
    local_date,
    product_families,
    remember_all,
    remember_written,
)
from bridge.settings import Settings
from bridge.store.bulk import among, built, listed, table_of
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Access,
    Cohort,
    Learner,
    LedgerEntry,
    OrderState,
    OutboxWritten,
    PersonalCoupon,
    Seat,
    seat_purchase_order,
    utcnow,
)

log = logging.getLogger(__name__)


ENROLMENT_META_KEY = "bridge_enrolment"
CREDITS_META_KEY = "bridge_credits"
PERKS_META_KEY = "bridge_perks"
COUPONS_META_KEY = "bridge_coupons"
GRANT_EVENTS = ("credit_granted", "seat_active", "seat_waitlisted", "access_granted")
# Events whose customer note tells the learner they hold a seat (bridge.rules.seating: confirmed).
CONFIRMING_EVENTS = ("seat_active", "seat_promoted", "seat_moved")


# --- note templates (files) -------------------------------------------------------------------


# --- enqueue: outbox rows, inside the caller's transaction ------------------------------------


@dataclass
class _Holdings:
    """What some orders hold, by order: their state, ledger rows, held seats and open access
    (plain rows: the page's own, or read for orders outside it)."""

    states: dict[int, Any] = field(default_factory=dict)
    ledger: defaultdict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    seats: defaultdict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))
    access: defaultdict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))


def _held_in_page(page: Page, ids: Iterable[int], into: _Holdings) -> None:
    """The page's rows of its own orders, as it holds them (flushed: held rows have ids)."""
    for order_id in ids:
        into.states[order_id] = page.states[order_id]
        into.ledger[order_id] = page.ledger.get(order_id, [])
        into.seats[order_id] = [s for s in page.seats.get(order_id, ()) if s.status in SEAT_HELD]
        into.access[order_id] = [a for a in page.access.get(order_id, ()) if a.revoked_at is None]


def _held_in_store(session: Session, ids: Sequence[int], into: _Holdings) -> None:
    """The same for orders the caller holds no rows of: four Core reads."""
    table = table_of(OrderState)
    for state in read_rows(session, StateRow, among(table.c.order_id, ids)):
        into.states[state.order_id] = state
    table = table_of(LedgerEntry)
    for row in read_rows(session, CreditRow, among(table.c.order_id, ids), order_by=table.c.id):
        into.ledger[int(row.order_id or 0)].append(row)
    seats, access = table_of(Seat), table_of(Access)
    row_type: type[Any]
    for row_type, table, held, by_order in (
        (SeatRow, seats, seats.c.status.in_(SEAT_HELD), into.seats),
        (AccessRow, access, access.c.revoked_at.is_(None), into.access),
    ):
        for kept in read_rows(
            session, row_type, among(table.c.order_id, ids), held, order_by=table.c.id
        ):
            by_order[int(kept.order_id or 0)].append(kept)


def order_enrolments(
    session: Session, order_ids: Iterable[int], catalogue: Catalogue, page: Page | None = None
) -> dict[int, list[dict[str, Any]] | None]:
    """Per order, per line item: credits held, access, seat statuses (waitlist place), cohort
    and start; None for an order unknown or without lines. ``page``: the rows of its orders are
    taken from it; the others are read, in six queries at most whatever their number.
    """
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    held = _Holdings()
    own = [i for i in ids if page is not None and i in page.states]
    if page is not None and own:
        _held_in_page(page, own, held)
    others = [i for i in ids if page is None or i not in page.states]
    if others:
        session.flush()  # pending ORM changes first: Core reads do not autoflush
        _held_in_store(session, others, held)
    seats = held.seats
    waiting = {
        seat.cohort_code
        for rows in seats.values()
        for seat in rows
        if seat.status == SeatStatus.WAITLISTED
    }
    positions = _waitlist_positions(session, waiting)
    codes = {seat.cohort_code for rows in seats.values() for seat in rows}
    skus = {
        line.get("sku")
        for state in held.states.values()
        for line in (state.summary or {}).get("lines") or []
    }
    codes |= {
        offer.cohort
        for sku in skus
        if isinstance(sku, str)
        for offer in [catalogue.offers.get(sku)]
        if offer is not None and offer.cohort
    }
    cohorts: dict[str, tuple[datetime, str]] = {}
    if codes:
        table = table_of(Cohort)
        statement = built(
            "cohort starts",
            lambda: sa_select(table.c.code, table.c.starts_at, table.c.timezone).where(
                among(table.c.code, name="codes")
            ),
        )
        for code, starts_at, zone in session.execute(
            statement, {"codes": listed(sorted(codes))}
        ).all():
            cohorts[code] = (starts_at, zone)
    return {
        order_id: _enrolment(
            held.states.get(order_id),
            held.ledger[order_id],
            seats[order_id],
            held.access[order_id],
            positions,
            cohorts,
            catalogue,
        )
        for order_id in ids
    }


def _waitlist_positions(session: Session, cohorts: Iterable[str]) -> dict[int, int]:
    """Seat id -> its 1-based place in its cohort's waitlist, for these cohorts."""
    codes = sorted(set(cohorts))
    if not codes:
        return {}
    places: dict[int, int] = {}
    counted: dict[str, int] = defaultdict(int)
    for seat_id, code in session.exec(
        select(Seat.id, Seat.cohort_code)
        .where(col(Seat.cohort_code).in_(codes), Seat.status == SeatStatus.WAITLISTED)
        .order_by(*seat_purchase_order())
    ).all():
        assert seat_id is not None  # a primary key
        counted[code] += 1
        places[seat_id] = counted[code]
    return places


def _enrolment(
    state: Any,
    ledger: Sequence[Any],
    held_seats: Sequence[Any],
    open_access: Sequence[Any],
    positions: Mapping[int, int],
    cohorts: Mapping[str, tuple[datetime, str]],
    catalogue: Catalogue,
) -> list[dict[str, Any]] | None:
    lines = list(((state.summary or {}).get("lines") or []) if state else [])
    reversed_ids = {row.reverses_id for row in ledger if row.reverses_id is not None}
    credits: dict[int | None, dict[str, int]] = defaultdict(dict)
    for row in ledger:
        if row.reverses_id is None and row.reason in GRANT_REASONS and row.id not in reversed_ids:
            held = credits[line_of(row.grant_key)]
            held[row.credit_type] = held.get(row.credit_type, 0) + row.amount
    seats: dict[int | None, list[Any]] = defaultdict(list)
    for seat in held_seats:
        seats[line_of(seat.grant_key)].append(seat)
    access: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for window in open_access:
        access[line_of(window.grant_key)].append(
            {"kind": window.kind, "ends": local_date(window.ends_at)}
        )
    known = {line.get("id") for line in lines}
    for line_id in sorted(set(credits) | set(seats) | set(access), key=lambda i: i or 0):
        if line_id is not None and line_id not in known:
            lines.append({"id": line_id, "sku": None, "quantity": None})
    if not lines:
        return None
    value = []
    for line in lines:
        line_id = line.get("id")
        sku = line.get("sku")
        entry: dict[str, Any] = {
            "line_item_id": line_id,
            "sku": sku,
            "quantity": line.get("quantity"),
            "credits": dict(sorted(credits.get(line_id, {}).items())),
            "access": access.get(line_id, []),
            "seats": [],
        }
        code = None
        for seat in seats.get(line_id, []):
            code = seat.cohort_code
            shown: dict[str, Any] = {"status": seat.status}
            if seat.status == SeatStatus.WAITLISTED:
                shown["position"] = positions.get(int(seat.id or 0))
            entry["seats"].append(shown)
        offer = catalogue.offers.get(sku) if isinstance(sku, str) else None
        code = code or (offer.cohort if offer else None)
        if code:
            cohort = cohorts.get(code)
            entry["cohort"] = code
            entry["cohort_starts"] = local_date(*cohort) if cohort else None
        value.append(entry)
    return value


def _order_meta_update(order_id: int, value: list[dict[str, Any]]) -> Update:
    return Update(
        "order",
        order_id,
        f"order:{order_id}:meta",
        {"meta_data": [{"key": ENROLMENT_META_KEY, "value": value}]},
    )


def enqueue_cohort_stock(
    session: Session,
    catalogue: Catalogue,
    codes: Iterable[str] | None = None,
    *,
    always: bool = False,
) -> list[str]:
    """Queue stock for the products selling seats in each cohort: the seats left.

    A cohort with a waitlist allows backorders (``notify``), so buyers can still queue.
    ``always``: even when the figure is what was last written (see ``cohort_stock_updates``).
    """
    return enqueue_updates(session, cohort_stock_updates(session, catalogue, codes, always=always))


def cohort_stock_updates(
    session: Session,
    catalogue: Catalogue,
    codes: Iterable[str] | None = None,
    *,
    always: bool = False,
) -> list[Update]:
    """The stock updates of ``enqueue_cohort_stock``, not yet queued.

    ``always``: queue them even when the figure is what was last written (the bridge learnt of
    a change in these cohorts, and WooCommerce restocks refunded items by itself).
    """
    codes = sorted(catalogue.cohorts if codes is None else set(codes))
    selling = {code: catalogue.cohort_products(code) for code in codes}
    selling = {code: woo_ids for code, woo_ids in selling.items() if woo_ids}
    if not selling:
        return []
    active = dict(
        session.exec(
            select(Seat.cohort_code, func.count())
            .where(col(Seat.cohort_code).in_(sorted(selling)), Seat.status == SeatStatus.ACTIVE)
            .group_by(Seat.cohort_code)
        ).all()
    )
    family = product_families(session, [woo_id for ids in selling.values() for woo_id in ids])
    updates: list[Update] = []
    for code, woo_ids in selling.items():
        cohort = session.get(Cohort, code)
        if cohort is None:
            continue
        data = {
            "manage_stock": True,
            "stock_quantity": max(0, cohort.capacity - int(active.get(code, 0))),
            "backorders": "notify" if cohort.waitlist else "no",
        }
        for woo_id in woo_ids:
            parent = family.get(woo_id)
            if parent:
                updates.append(
                    Update(
                        "variation",
                        woo_id,
                        f"variation:{woo_id}:stock",
                        dict(data),
                        {"parent_id": parent},
                        always=always,
                    )
                )
            else:
                updates.append(
                    Update("product", woo_id, f"product:{woo_id}:stock", dict(data), always=always)
                )
    return updates


def _coupon_summary(coupon: PersonalCoupon) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "rule": coupon.rule,
        "discount_type": coupon.discount_type,
        "amount": coupon.amount,
        "offers": list(coupon.offer_skus or []),
        "expires": local_date(coupon.expires_at),
    }


def enqueue_customer_meta(session: Session, learner_id: int, perks: Sequence[str]) -> str | None:
    """Queue the customer's meta: credit balances by type, the perks given, personal coupons.

    Guests (no WooCommerce customer) have nowhere to show it; returns None for them. The caller
    passes the learner's perks (bridge.services.ledger.active_perks) as data.
    """
    queued = enqueue_updates(session, customer_meta_updates(session, {learner_id: perks}))
    return queued[0] if queued else None


def customer_meta_updates(session: Session, perks: Mapping[int, Sequence[str]]) -> list[Update]:
    """The customer meta of several learners (learner id -> perks), in three queries."""
    ids = sorted(perks)
    if not ids:
        return []
    learners = table_of(Learner)
    their_customers = built(
        "learners' customer ids",
        lambda: sa_select(learners.c.id, learners.c.woo_customer_id).where(
            among(learners.c.id, name="learners")
        ),
    )
    customers = {
        learner_id: customer_id
        for learner_id, customer_id in session.execute(
            their_customers, {"learners": listed(ids)}
        ).all()
        if customer_id and learner_id is not None
    }
    if not customers:
        return []
    their_coupons = built(
        "learners' personal coupons",
        lambda: (
            select(PersonalCoupon)
            .where(among(col(PersonalCoupon.learner_id), name="learners"))
            .order_by(col(PersonalCoupon.id))
        ),
    )
    coupons: dict[int, list[PersonalCoupon]] = defaultdict(list)
    for coupon in session.exec(their_coupons, params={"learners": listed(sorted(customers))}).all():
        coupons[coupon.learner_id].append(coupon)
    held = balances_of(session, sorted(customers))
    updates = []
    for learner_id, customer_id in sorted(customers.items()):
        data = {
            "meta_data": [
                {"key": CREDITS_META_KEY, "value": held.get(learner_id, {})},
                {"key": PERKS_META_KEY, "value": list(perks[learner_id])},
                {
                    "key": COUPONS_META_KEY,
                    "value": [_coupon_summary(c) for c in coupons[learner_id]],
                },
            ]
        }
        updates.append(Update("customer", customer_id, f"customer:{customer_id}:meta", data))
    return updates


def enqueue_catalogue_upsells(
    session: Session, catalogue: Catalogue, products: Iterable[Mapping[str, Any]] | None = None
) -> list[str]:
    """Queue ``upsell_ids`` / ``cross_sell_ids`` of stack products where they differ.

    Compared with what was last written or, given the products as the shop returned them
    (a catalogue sync), with what the shop has now. Products linked before but no longer in
    any stack get their links cleared.
    """
    bound = [woo_id for woo_id in catalogue.bindings if woo_id not in catalogue.inactive_ids]
    desired = upsell_links(catalogue, product_families(session, bound))
    previous = session.exec(
        select(OutboxWritten.target_id).where(
            OutboxWritten.resource == "product",
            col(OutboxWritten.target_key).like("product:%:links"),
        )
    ).all()
    for product in previous:
        if product is not None and product not in desired:
            desired[int(product)] = {"upsell_ids": [], "cross_sell_ids": []}
    remote = {int(p["id"]): p for p in products or () if isinstance(p.get("id"), int)}
    keys: list[str] = []
    for product, data in sorted(desired.items()):
        key = f"product:{product}:links"
        if product in remote:
            current = {name: sorted(remote[product].get(name) or []) for name in data}
            remember_written(session, key, "product", product, current)
        written = enqueue_update(session, "product", product, key, data)
        if written:
            keys.append(written)
    return keys


def _orders_waiting_in(session: Session, cohorts: Sequence[str]) -> set[int]:
    """Orders with a waitlisted seat in these cohorts: their waitlist places may have moved."""
    if not cohorts:
        return set()
    rows = session.exec(
        select(Seat.order_id).where(
            col(Seat.cohort_code).in_(list(cohorts)), Seat.status == SeatStatus.WAITLISTED
        )
    ).all()
    return {int(order_id) for order_id in rows if order_id is not None}


def _confers_now(state: Any, outcome: OrderOutcome, settings: Settings) -> bool:
    """The order is paid and this application granted the learner something."""
    if outcome.learner_id is None or not any(
        e.kind in GRANT_EVENTS and e.learner_id == outcome.learner_id for e in outcome.events
    ):
        return False
    return state is not None and state.status in settings.orders.paid_statuses


def _state_of(session: Session, page: Page | None, order_id: int) -> Any:
    """An order's state: the page's row, else the stored one."""
    if page is not None and order_id in page.states:
        return page.states[order_id]
    return session.get(OrderState, order_id)


def _simulated(session: Session, page: Page | None, order_ids: Iterable[int]) -> set[int]:
    """``simulated_orders``, the page's own orders answered from its rows."""
    ids = set(order_ids)
    if page is None:
        return simulated_orders(session, ids)
    own = {i for i in ids if i in page.states}
    made_up = {i for i in own if (page.states[i].summary or {}).get(SIMULATED_KEY)}
    return made_up | simulated_orders(session, ids - own)


# A seat's state as a note words it; only the last of a pass is worded (a seat given in one
# order of a page and given to an earlier payer by the next is one waitlist place, not two notes).
_SEAT_STATES = ("seat_active", "seat_waitlisted", "seat_promoted")


def _latest_seat_events(work: Sequence[tuple[OrderOutcome, bool]]) -> dict[Any, int]:
    latest: dict[Any, int] = {}
    for outcome, _ in work:
        for event in outcome.events:
            if event.kind in _SEAT_STATES and event.data.get("seat_id") is not None:
                latest[event.data["seat_id"]] = id(event)
    return latest


def _worded(outcome: OrderOutcome, latest: Mapping[Any, int]) -> OrderOutcome:
    """The outcome without seat states a later event of the same pass replaced."""
    kept = [
        event
        for event in outcome.events
        if event.kind not in _SEAT_STATES
        or event.data.get("seat_id") is None
        or latest.get(event.data["seat_id"]) == id(event)
    ]
    return outcome if len(kept) == len(outcome.events) else replace(outcome, events=kept)


def _rows_customers_hear_of(session: Session, told: Sequence[OrderOutcome]) -> list[Any]:
    """The rows the notes and personal coupons of these outcomes look up by key (access
    windows, seats, cohorts, learners), loaded in four queries: the session then finds them
    (while they are held: the caller keeps the list) instead of one query each."""
    events = [event for outcome in told for event in outcome.events]
    access = sorted({int(e.data["access_id"]) for e in events if e.data.get("access_id")})
    seats = sorted({int(e.data["seat_id"]) for e in events if e.data.get("seat_id") is not None})
    cohorts = sorted({str(e.data["cohort"]) for e in events if e.data.get("cohort")})
    learners = sorted({o.learner_id for o in told if o.learner_id is not None})
    kept: list[Any] = []
    if access:
        kept += session.exec(select(Access).where(among(col(Access.id), access))).all()
    if seats:
        kept += session.exec(select(Seat).where(among(col(Seat.id), seats))).all()
    if cohorts:
        kept += session.exec(select(Cohort).where(among(col(Cohort.code), cohorts))).all()
    if learners:
        kept += session.exec(select(Learner).where(among(col(Learner.id), learners))).all()
    return kept


def _confirm_seats(session: Session, events: Sequence[Event]) -> None:
    """Seats a customer note now tells their customer they hold: never taken back after."""
    ids = sorted({int(e.data["seat_id"]) for e in events if e.data.get("seat_id") is not None})
    if not ids:
        return
    session.flush()
    session.exec(
        update(Seat)
        .where(
            col(Seat.id).in_(ids),
            col(Seat.confirmed_at).is_(None),
            col(Seat.status) == SeatStatus.ACTIVE,
        )
        .values(confirmed_at=utcnow())
    )


def _real_part(outcome: OrderOutcome, made_up: set[int]) -> OrderOutcome:
    """The outcome without the events of simulated orders (a seat, credits or access of one)."""
    return replace(
        outcome,
        events=[
            event
            for event in outcome.events
            if (event.order_id if event.order_id is not None else outcome.order_id) not in made_up
        ],
    )


def enqueue_writebacks_for(
    session: Session,
    outcomes: Sequence[tuple[OrderOutcome, bool]],
    catalogue: Catalogue,
    settings: Settings,
    *,
    templates: NoteTemplates | None = None,
    now: datetime | None = None,
    page: Page | None = None,
) -> list[str]:
    """Queue everything a page of applied orders changed in the shop; call before it commits.

    Order meta for every order whose holdings or waitlist place changed, one note per order
    (its events of this application and the coupon it earned, worded together), stock of the
    cohorts whose seats changed, personal coupons the rules now grant, and the customer meta of
    every learner concerned. Returns the target keys queued. An outcome without ``notify``
    (history) gets no note and no coupon: nothing a customer would notice. Nothing is queued
    about an order `bridge simulate` made up (no shop has it). Each kind of write-back is read
    and queued for the whole page together, so the statements do not grow with the page.
    ``page``: the rows the orders were applied to (flushed), read from it instead of again.
    """
    work = [(outcome, notify) for outcome, notify in outcomes if outcome.applied and outcome.events]
    made_up = _simulated(
        session,
        page,
        {o.order_id for o, _ in work}
        | {e.order_id for o, _ in work for e in o.events if e.order_id is not None},
    )
    if made_up:
        # What a simulated order changed for itself stays in the bridge; what it changed for
        # real orders (a waitlisted seat it freed) is written as usual.
        work = [
            (outcome, notify)
            for outcome, notify in (
                (_real_part(outcome, made_up), notify) for outcome, notify in work
            )
            if outcome.events
        ]
    if not work:
        return []
    templates = templates or note_templates_for(settings)
    events = [event for outcome, _ in work for event in outcome.events]
    cohorts = sorted(
        {
            str(e.data["cohort"])
            for e in events
            if e.kind.startswith("seat_") and e.data.get("cohort")
        }
    )
    # A seat leaving the waitlist (promoted, released) moves everyone behind it up; a new
    # claim only queues at the end, so it moves no one.
    shifted = sorted(
        {
            str(e.data["cohort"])
            for e in events
            if e.kind in ("seat_promoted", "seat_released", "seat_moved", "seat_removed")
            and e.data.get("cohort")
        }
    )
    orders = {outcome.order_id for outcome, _ in work}
    orders |= {e.order_id for e in events if e.order_id is not None}
    orders |= _orders_waiting_in(session, shifted)
    orders -= made_up | _simulated(session, page, orders - made_up)
    metas = order_enrolments(session, orders, catalogue, page)
    # The page's "latest value wins" updates (order meta, cohort stock, customer meta) are
    # queued together at the end: one look-up of the outbox and one insert for all of them.
    updates = [
        _order_meta_update(order_id, value)
        for order_id, value in sorted(metas.items())
        if value is not None
    ]
    latest = _latest_seat_events(work)
    # Held until the planning is done: what the notes and the coupons look up by key.
    held = _rows_customers_hear_of(session, [outcome for outcome, notify in work if notify])
    drafts = [
        draft
        for outcome, notify in work
        if notify
        for draft in event_note_drafts(session, _worded(outcome, latest), catalogue, templates)
    ]
    updates += cohort_stock_updates(session, catalogue, cohorts, always=True)
    keys: list[str] = []
    learners = {e.learner_id for e in events}
    for outcome, notify in work:
        state = _state_of(session, page, outcome.order_id) if notify else None
        if not (notify and _confers_now(state, outcome, settings)):
            continue
        assert outcome.learner_id is not None
        learners.add(outcome.learner_id)
        sold = (state.date_paid_gmt or state.date_created_gmt) if state else None
        for coupon in enqueue_personal_coupons(
            session,
            outcome.learner_id,
            catalogue,
            settings,
            order_id=outcome.order_id,
            now=now,
            granted_at=sold,
        ):
            keys.append(coupon_key(coupon.learner_id, coupon.rule))
            draft = coupon_note_draft(coupon, outcome.order_id, catalogue, settings, templates)
            if draft:
                drafts.append(draft)
    # At most one note per order per pass: this application's events worded together.
    keys += enqueue_notes(session, drafts, settings)
    _confirm_seats(
        session,
        [
            event
            for outcome, notify in work
            if notify
            for event in outcome.events
            if event.kind in CONFIRMING_EVENTS
            and event.kind in settings.writeback.customer_note_events
        ],
    )
    # Customer meta last: it shows the personal coupons queued above.
    updates += customer_meta_updates(
        session, active_perks_of(session, sorted(learners), catalogue=catalogue)
    )
    keys += enqueue_updates(session, updates)
    del held  # the rows the notes and coupons looked up were held until here
    return keys


def refresh_catalogue_writebacks(
    engine: Engine,
    catalogue: Catalogue,
    products: Iterable[Mapping[str, Any]] | None = None,
    *,
    shop_stock: Iterable[Mapping[str, Any]] = (),
) -> list[str]:
    """Queue catalogue-level write-backs (stack upsell links, stock of every cohort); commits.

    ``shop_stock``: products and variations as a sync read them; their stock is what the shop
    holds now, so a figure WooCommerce changed by itself (a restock on refund, an edit in WP
    admin) is written back to the seats actually free.
    """
    with unit_of_work(engine) as session:
        remember_all(
            session,
            [
                (
                    f"{'variation' if item.get('parent_id') else 'product'}:{item['id']}:stock",
                    "variation" if item.get("parent_id") else "product",
                    int(item["id"]),
                    {
                        "manage_stock": bool(item.get("manage_stock")),
                        "stock_quantity": item.get("stock_quantity"),
                        "backorders": item.get("backorders"),
                    },
                )
                for item in shop_stock
                if isinstance(item.get("id"), int)
            ],
        )
        keys = enqueue_catalogue_upsells(session, catalogue, products)
        keys += enqueue_cohort_stock(session, catalogue)
        session.commit()
    return keys


# --- drain: send what is due ------------------------------------------------------------------


# --- inspection and manual retry --------------------------------------------------------------
