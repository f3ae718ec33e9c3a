"""Write-back: what the bridge decided, shown in WooCommerce, reliably and cheaply.

The ``enqueue_*`` functions run inside the transaction that changed the ledger or the seats and
only add outbox rows, so nothing is lost while the shop is down and a rolled-back change leaves
no row. Updates (order and customer meta, cohort stock, upsell links) are "latest value wins"
per target: one pending row per ``target_key``, and a value equal to what was last written is
never sent. Creates (order notes, personal coupons) happen once per key.

``drain_outbox`` sends what is due through the batch endpoints (at most 100 items a call) and
notes one by one, records each answer, retries with backoff and dead-letters what keeps failing.
A note carries a marker (``[bridge:<hex>]``); when an earlier attempt may have reached the shop,
the order's notes are read first and a note already there is not sent again.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, func, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.catalog import Catalogue
from bridge.rules.notes import (
    CENT,
    PLACEHOLDERS,
    NoteTemplateError,
    NoteTemplates,
    discount_text,
    note_marker,
    parse_note_templates,
    personal_coupon_offers,
    upsell_links,
)
from bridge.services.ledger import (
    GRANT_REASONS,
    SEAT_HELD,
    Event,
    OrderOutcome,
    balances,
    insert_ignore,
)
from bridge.services.ledger import waitlist_position as seat_waitlist_position
from bridge.settings import Settings
from bridge.shop.client import BATCH_LIMIT, ShopRequestError, ShopUnavailable
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Access,
    Cohort,
    Learner,
    LedgerEntry,
    OrderState,
    OutboxItem,
    OutboxWritten,
    PersonalCoupon,
    ProductBinding,
    Seat,
    Subscription,
    utcnow,
)

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, UNCHANGED, DEAD, SUPERSEDED = (
    "pending",
    "sending",
    "sent",
    "unchanged",
    "dead",
    "superseded",
)
STATUSES = (PENDING, SENDING, SENT, UNCHANGED, DEAD, SUPERSEDED)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
# A claimed row whose drain vanished (crash, restart) is taken up again after this long.
CLAIM_LEASE = timedelta(minutes=15)
DRAIN_LIMIT = 5000  # rows per drain; the rest waits for the next one

ENROLMENT_META_KEY = "bridge_enrolment"
CREDITS_META_KEY = "bridge_credits"
PERKS_META_KEY = "bridge_perks"
COUPONS_META_KEY = "bridge_coupons"
# Subscription statuses whose perks hold: pending-cancel is paid up to the period end.
PERK_STATUSES = ("active", "pending-cancel")
GRANT_EVENTS = ("credit_granted", "seat_active", "seat_waitlisted", "access_granted")
COUPON_EXISTS = "woocommerce_rest_coupon_code_already_exists"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

# WooCommerce batch resource per outbox resource, in the order a drain sends them: coupons
# first, so that a note mentioning a coupon finds it in the shop.
BATCH_ORDER = ("coupon", "product", "variation", "order", "customer")
NOTE = "order_note"


class OutboxItemNotFound(PermanentError):
    """No outbox row has that id."""


# --- note templates (files) -------------------------------------------------------------------


def default_note_templates() -> NoteTemplates:
    """The bundled English wording (bridge/data/order_notes.toml)."""
    text = resources.files("bridge").joinpath("data/order_notes.toml").read_text("utf-8")
    return parse_note_templates(text, "bridge/data/order_notes.toml")


def load_note_templates(path: Path | None) -> NoteTemplates:
    """The bundled wording, with the creator's file (if any) over it."""
    base = default_note_templates()
    if path is None:
        return base
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise NoteTemplateError(
            f"BRIDGE_NOTE_TEMPLATES={path}: cannot read it ({exc.strerror})"
        ) from None
    return parse_note_templates(text, str(path), base)


@lru_cache(maxsize=8)
def _cached_templates(path: str | None, _mtime_ns: int) -> NoteTemplates:
    return load_note_templates(Path(path) if path else None)


def note_templates_for(settings: Settings) -> NoteTemplates:
    """The templates the settings name, read again only when the file changes."""
    path = settings.note_templates_file
    mtime = 0
    if path is not None:
        try:
            mtime = Path(path).stat().st_mtime_ns
        except OSError:
            mtime = -1  # load_note_templates names the file and the problem
    return _cached_templates(str(path) if path else None, mtime)


# --- enqueue: outbox rows, inside the caller's transaction ------------------------------------


@dataclass(frozen=True)
class _Update:
    """One "latest value wins" write-back to queue."""

    resource: str
    target_id: int
    target_key: str
    data: dict[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)


def _enqueue_update(
    session: Session,
    resource: str,
    target_id: int,
    target_key: str,
    data: dict[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """Latest value wins: fold into the pending row, or add one unless nothing changed."""
    queued = _enqueue_updates(
        session, [_Update(resource, target_id, target_key, data, extra or {})]
    )
    return queued[0] if queued else None


def _enqueue_updates(session: Session, updates: Sequence[_Update]) -> list[str]:
    """Queue several updates with a few queries; returns the keys queued (not the unchanged)."""
    keys = sorted({update.target_key for update in updates})
    rows: dict[str, list[OutboxItem]] = defaultdict(list)
    written: dict[str, Any] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for row in session.exec(
            select(OutboxItem)
            .where(
                col(OutboxItem.target_key).in_(chunk),
                col(OutboxItem.status).in_([PENDING, SENDING, DEAD]),
            )
            .order_by(col(OutboxItem.id))
            .with_for_update()
        ).all():
            rows[row.target_key].append(row)
        for key, data in session.exec(
            select(OutboxWritten.target_key, OutboxWritten.data).where(
                col(OutboxWritten.target_key).in_(chunk)
            )
        ).all():
            written[key] = data
    queued: list[str] = []
    for update in updates:
        payload = {"data": update.data, **update.extra}
        existing = rows[update.target_key]
        for row in existing:
            if row.status == DEAD:
                # A newer value makes the failed one moot; retrying it would write an old value.
                row.status = SUPERSEDED
                session.add(row)
        pending = [row for row in existing if row.status == PENDING]
        if pending:
            if pending[-1].payload != payload:
                pending[-1].payload = payload
                session.add(pending[-1])
            queued.append(update.target_key)
            continue
        in_flight = any(row.status == SENDING for row in existing)
        if (
            not in_flight
            and update.target_key in written
            and (written[update.target_key] == update.data)
        ):
            continue
        row = OutboxItem(
            resource=update.resource,
            operation="update",
            target_id=update.target_id,
            target_key=update.target_key,
            payload=payload,
            created_at=utcnow(),
        )
        session.add(row)
        existing.append(row)
        queued.append(update.target_key)
    session.flush()
    return queued


def _enqueue_create(
    session: Session,
    resource: str,
    target_id: int | None,
    target_key: str,
    data: dict[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """Created once per key: a key already in the outbox is never queued again."""
    exists = session.exec(
        select(OutboxItem.id).where(OutboxItem.target_key == target_key).limit(1)
    ).first()
    if exists is not None or session.get(OutboxWritten, target_key) is not None:
        return None
    session.add(
        OutboxItem(
            resource=resource,
            operation="create",
            target_id=target_id,
            target_key=target_key,
            payload={"data": data, **(extra or {})},
            created_at=utcnow(),
        )
    )
    session.flush()
    return target_key


def _line_of(grant_key: str | None) -> int | None:
    """The order line a grant key names (``order:<id>:line:<line id>:...``)."""
    parts = (grant_key or "").split(":")
    if len(parts) > 3 and parts[0] == "order" and parts[2] == "line" and parts[3].isdigit():
        return int(parts[3])
    return None


def _local_date(moment: datetime | None, zone: str = "UTC") -> str | None:
    if moment is None:
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.astimezone(tz).date().isoformat()


def _family(session: Session, woo_ids: Iterable[int]) -> dict[int, int]:
    """Variation id -> its product id, for the ids that are variations."""
    ids = sorted(set(woo_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(ProductBinding.woo_id, ProductBinding.parent_id).where(
            col(ProductBinding.woo_id).in_(ids), ProductBinding.parent_id != 0
        )
    ).all()
    return {int(woo_id): int(parent) for woo_id, parent in rows}


def order_enrolment(
    session: Session, order_id: int, catalogue: Catalogue
) -> list[dict[str, Any]] | None:
    """Per line item: credits held, access, seat statuses (waitlist place), cohort and start.

    None when the order is unknown or has no lines.
    """
    state = session.get(OrderState, order_id)
    lines = list(((state.summary or {}).get("lines") or []) if state else [])
    ledger = session.exec(
        select(LedgerEntry).where(LedgerEntry.order_id == order_id).order_by(col(LedgerEntry.id))
    ).all()
    reversed_ids = {row.reverses_id for row in ledger if row.reverses_id is not None}
    credits: dict[int | None, dict[str, int]] = defaultdict(dict)
    for row in ledger:
        if row.reverses_id is None and row.reason in GRANT_REASONS and row.id not in reversed_ids:
            held = credits[_line_of(row.grant_key)]
            held[row.credit_type] = held.get(row.credit_type, 0) + row.amount
    seats: dict[int | None, list[Seat]] = defaultdict(list)
    for seat in session.exec(
        select(Seat)
        .where(Seat.order_id == order_id, col(Seat.status).in_(SEAT_HELD))
        .order_by(col(Seat.id))
    ).all():
        seats[_line_of(seat.grant_key)].append(seat)
    access: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for row in session.exec(
        select(Access)
        .where(Access.order_id == order_id, col(Access.revoked_at).is_(None))
        .order_by(col(Access.id))
    ).all():
        access[_line_of(row.grant_key)].append({"kind": row.kind, "ends": _local_date(row.ends_at)})
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
            if seat.status == "waitlisted":
                shown["position"] = seat_waitlist_position(session, seat)
            entry["seats"].append(shown)
        offer = catalogue.offers.get(sku) if isinstance(sku, str) else None
        code = code or (offer.cohort if offer else None)
        if code:
            cohort = session.get(Cohort, code)
            entry["cohort"] = code
            entry["cohort_starts"] = (
                _local_date(cohort.starts_at, cohort.timezone) if cohort else None
            )
        value.append(entry)
    return value


def enqueue_order_meta(session: Session, order_id: int, catalogue: Catalogue) -> str | None:
    """Queue the order's ``bridge_enrolment`` meta; returns the target key, None if unchanged."""
    value = order_enrolment(session, order_id, catalogue)
    if value is None:
        return None
    data = {"meta_data": [{"key": ENROLMENT_META_KEY, "value": value}]}
    return _enqueue_update(session, "order", order_id, f"order:{order_id}:meta", data)


def enqueue_cohort_stock(
    session: Session, catalogue: Catalogue, codes: Iterable[str] | None = None
) -> list[str]:
    """Queue stock for the products selling seats in each cohort: the seats left.

    A cohort with a waitlist allows backorders (``notify``), so buyers can still queue.
    """
    keys: list[str] = []
    codes = sorted(catalogue.cohorts if codes is None else set(codes))
    for code in codes:
        cohort = session.get(Cohort, code)
        woo_ids = catalogue.cohort_products(code)
        if cohort is None or not woo_ids:
            continue
        active = session.exec(
            select(func.count())
            .select_from(Seat)
            .where(Seat.cohort_code == code, Seat.status == "active")
        ).one()
        data = {
            "manage_stock": True,
            "stock_quantity": max(0, cohort.capacity - int(active)),
            "backorders": "notify" if cohort.waitlist else "no",
        }
        family = _family(session, woo_ids)
        updates = []
        for woo_id in woo_ids:
            parent = family.get(woo_id)
            if parent:
                updates.append(
                    _Update(
                        "variation",
                        woo_id,
                        f"variation:{woo_id}:stock",
                        dict(data),
                        {"parent_id": parent},
                    )
                )
            else:
                updates.append(_Update("product", woo_id, f"product:{woo_id}:stock", dict(data)))
        keys += _enqueue_updates(session, updates)
    return keys


def _coupon_summary(coupon: PersonalCoupon) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "rule": coupon.rule,
        "discount_type": coupon.discount_type,
        "amount": coupon.amount,
        "offers": list(coupon.offer_skus or []),
        "expires": _local_date(coupon.expires_at),
    }


def enqueue_customer_meta(session: Session, learner_id: int,
                          catalogue: Catalogue | None) -> str | None:
    """Queue the customer's meta: credit balances by type, active perks, personal coupons.

    Guests (no WooCommerce customer) have nowhere to show it; returns None for them.
    Without a catalogue the perks stored on the subscriptions are used.
    """
    from bridge.services.subscriptions import active_perks  # it queues customer meta through here

    learner = session.get(Learner, learner_id)
    if learner is None or not learner.woo_customer_id:
        return None
    perks = active_perks(session, learner_id, catalogue=catalogue)
    coupons = session.exec(
        select(PersonalCoupon)
        .where(PersonalCoupon.learner_id == learner_id)
        .order_by(col(PersonalCoupon.id))
    ).all()
    data = {
        "meta_data": [
            {"key": CREDITS_META_KEY, "value": balances(session, learner_id)},
            {"key": PERKS_META_KEY, "value": perks},
            {"key": COUPONS_META_KEY, "value": [_coupon_summary(c) for c in coupons]},
        ]
    }
    customer_id = int(learner.woo_customer_id)
    return _enqueue_update(session, "customer", customer_id, f"customer:{customer_id}:meta", data)


def enqueue_catalogue_upsells(
    session: Session, catalogue: Catalogue, products: Iterable[Mapping[str, Any]] | None = None
) -> list[str]:
    """Queue ``upsell_ids`` / ``cross_sell_ids`` of stack products where they differ.

    Compared with what was last written or, given the products as the shop returned them
    (a catalogue sync), with what the shop has now. Products linked before but no longer in
    any stack get their links cleared.
    """
    bound = [woo_id for woo_id in catalogue.bindings if woo_id not in catalogue.inactive_ids]
    desired = upsell_links(catalogue, _family(session, bound))
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
            _remember_written(session, key, "product", product, current)
        written = _enqueue_update(session, "product", product, key, data)
        if written:
            keys.append(written)
    return keys


def _remember_written(
    session: Session, target_key: str, resource: str, target_id: int | None, data: Any
) -> None:
    """Record what the shop holds for a target (after a write, or as read from the shop)."""
    _remember_all(session, [(target_key, resource, target_id, data)])


def _remember_all(session: Session, entries: Sequence[tuple[str, str, int | None, Any]]) -> None:
    """Record several targets at once; for one key given twice, the later entry wins."""
    latest = {key: (key, resource, target_id, data) for key, resource, target_id, data in entries}
    if not latest:
        return
    known = {
        row.target_key: row
        for row in session.exec(
            select(OutboxWritten).where(col(OutboxWritten.target_key).in_(sorted(latest)))
        ).all()
    }
    moment = utcnow()
    fresh = [
        {
            "target_key": key,
            "resource": resource,
            "target_id": target_id,
            "data": data,
            "written_at": moment,
        }
        for key, resource, target_id, data in latest.values()
        if key not in known
    ]
    if fresh:
        builder = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = builder(OutboxWritten.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["target_key"]
        )
        inserted = session.execute(statement, fresh).rowcount
        if inserted != len(fresh):
            # Another drain recorded some of these targets at the same moment: ours is newer.
            known.update(
                (row.target_key, row)
                for row in session.exec(
                    select(OutboxWritten).where(
                        col(OutboxWritten.target_key).in_([v["target_key"] for v in fresh])
                    )
                ).all()
            )
    for key, _resource, _target_id, data in latest.values():
        row = known.get(key)
        if row is not None:
            row.data = data
            row.written_at = moment
            session.add(row)
    session.flush()


def _held_skus(session: Session, learner_id: int) -> set[str]:
    """Offers a learner holds now through orders (grants, seats, access) or subscriptions."""
    held: set[str] = set()
    ledger = session.exec(
        select(LedgerEntry).where(
            LedgerEntry.learner_id == learner_id, col(LedgerEntry.order_id).is_not(None)
        )
    ).all()
    reversed_ids = {row.reverses_id for row in ledger if row.reverses_id is not None}
    held |= {
        row.offer_sku
        for row in ledger
        if row.offer_sku
        and row.reverses_id is None
        and row.reason in GRANT_REASONS
        and row.id not in reversed_ids
    }
    held |= set(
        session.exec(
            select(Seat.offer_sku).where(
                Seat.learner_id == learner_id, col(Seat.status).in_(SEAT_HELD)
            )
        ).all()
    )
    held |= set(
        session.exec(
            select(Access.offer_sku).where(
                Access.learner_id == learner_id, col(Access.revoked_at).is_(None)
            )
        ).all()
    )
    for skus in session.exec(
        select(Subscription.offer_skus).where(
            Subscription.learner_id == learner_id, col(Subscription.status).in_(PERK_STATUSES)
        )
    ).all():
        held |= set(skus or [])
    held.discard(None)  # type: ignore[arg-type]
    return held


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _paid_prices(
    session: Session, learner_id: int, paid_statuses: Sequence[str], catalogue: Catalogue
) -> dict[str, Decimal]:
    """What the learner paid per unit of each SKU, from their paid orders' lines."""
    paid: dict[str, Decimal] = {}
    states = session.exec(
        select(OrderState)
        .where(OrderState.learner_id == learner_id, col(OrderState.status).in_(list(paid_statuses)))
        .order_by(col(OrderState.order_id))
    ).all()
    for state in states:
        for line in (state.summary or {}).get("lines") or []:
            sku, total = line.get("sku"), _decimal(line.get("total"))
            quantity = line.get("quantity")
            if (
                sku in catalogue.offers
                and total is not None
                and isinstance(quantity, int)
                and quantity > 0
            ):
                paid[sku] = (total / quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    return paid


def _list_prices(session: Session, skus: Iterable[str]) -> dict[str, Decimal]:
    """Each SKU's current shop price, from the product bindings of the catalogue sync."""
    prices: dict[str, Decimal] = {}
    rows = session.exec(
        select(ProductBinding.offer_sku, ProductBinding.price)
        .where(
            col(ProductBinding.offer_sku).in_(sorted(set(skus))), ProductBinding.active.is_(True)
        )
        .order_by(col(ProductBinding.woo_id))
    ).all()
    for sku, price in rows:
        value = _decimal(price)
        if sku and value is not None:
            prices.setdefault(sku, value)
    return prices


def _new_code(rule: str) -> str:
    """A coupon code nobody can guess, readable on the phone: ``<rule name>-k7m2q9xp``."""
    name = rule.split(":", 1)[-1][:40]
    token = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    # WooCommerce stores coupon codes lower-cased.
    return f"{name}-{token}".lower()


def enqueue_personal_coupons(
    session: Session,
    learner_id: int,
    catalogue: Catalogue,
    settings: Settings,
    *,
    order_id: int | None = None,
    now: datetime | None = None,
) -> list[PersonalCoupon]:
    """Create the personal coupons the rules grant now (one per learner and rule, ever).

    Each new coupon is stored and queued for creation in the shop (single use, restricted to
    the learner's e-mail, expiring); returns only the coupons created by this call.
    """
    learner = session.get(Learner, learner_id)
    if learner is None or not (catalogue.stacks or catalogue.coupon_rules):
        return []
    taken = set(
        session.exec(
            select(PersonalCoupon.rule).where(PersonalCoupon.learner_id == learner_id)
        ).all()
    )
    # Rules already taken never apply again: skip the holdings and price queries when none is
    # left, and read prices (used by stack rules only) only while a stack rule is open.
    open_stacks = [s for s in catalogue.stacks if f"stack:{s.name}" not in taken]
    if not open_stacks and all(f"coupon:{c.name}" in taken for c in catalogue.coupon_rules):
        return []
    held = _held_skus(session, learner_id)
    if not held:
        return []  # personal_coupon_offers grants nothing to a learner holding nothing
    paid: dict[str, Decimal] = {}
    list_prices: dict[str, Decimal] = {}
    if open_stacks:
        paid = _paid_prices(session, learner_id, settings.paid_statuses, catalogue)
        list_prices = _list_prices(session, {sku for s in open_stacks for sku in s.skus})
    offers = personal_coupon_offers(catalogue, held, paid, list_prices, taken)
    now = now or utcnow()
    created: list[PersonalCoupon] = []
    for offer in offers:
        product_ids = sorted(
            {pid for sku in offer.offer_skus for pid in _products_selling(session, catalogue, sku)}
        )
        if not product_ids:
            continue  # nothing on sale to discount
        code = _new_code(offer.rule)
        expires_at = now + timedelta(days=offer.expires_days)
        amount = (
            discount_text(offer.discount_type, offer.amount).rstrip("%")
            if offer.discount_type == "percent"
            else f"{offer.amount.quantize(CENT):f}"
        )
        inserted = insert_ignore(
            session,
            PersonalCoupon,
            {
                "learner_id": learner_id,
                "rule": offer.rule,
                "code": code,
                "discount_type": offer.discount_type,
                "amount": amount,
                "email": learner.email,
                "product_ids": product_ids,
                "offer_skus": list(offer.offer_skus),
                "order_id": order_id,
                "expires_at": expires_at,
                "created_at": now,
            },
            ["learner_id", "rule"],
        )
        if not inserted:
            continue
        coupon = session.exec(
            select(PersonalCoupon).where(
                PersonalCoupon.learner_id == learner_id, PersonalCoupon.rule == offer.rule
            )
        ).one()
        data = {
            "code": coupon.code,
            "discount_type": coupon.discount_type,
            "amount": coupon.amount,
            "product_ids": product_ids,
            "email_restrictions": [coupon.email],
            "usage_limit": 1,
            "usage_limit_per_user": 1,
            "individual_use": True,
            "date_expires_gmt": expires_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "description": f"creator-bridge: {offer.title} (learner {learner_id})",
            "meta_data": [
                {"key": "bridge_rule", "value": offer.rule},
                {"key": "bridge_learner_id", "value": learner_id},
            ],
        }
        _enqueue_create(session, "coupon", None, coupon_key(learner_id, offer.rule), data)
        created.append(coupon)
    return created


def coupon_key(learner_id: int, rule: str) -> str:
    return f"coupon:{learner_id}:{rule}"


def _products_selling(session: Session, catalogue: Catalogue, sku: str) -> set[int]:
    ids = catalogue.woo_ids_for(sku)
    family = _family(session, ids)
    return {family.get(woo_id, woo_id) for woo_id in ids}


def _latest(session: Session, statement: Any) -> Any:
    return session.exec(statement.limit(1)).first()


def _event_identity(event: Event) -> str:
    """What an event is about, unique across time: the ledger row, seat or access it wrote."""
    if event.kind in ("credit_granted", "credit_reversed"):
        return f"ledger:{event.data['source_key']}:{event.kind}"
    if event.kind.startswith("seat_"):
        return f"seat:{event.data['seat_id']}:{event.kind}"
    if event.kind.startswith("access_"):
        return f"access:{event.data['access_id']}:{event.kind}"
    return f"{event.kind}:{event.data.get('key') or ''}:{event.order_id}"


def _group_events(outcome: OrderOutcome) -> list[tuple[str, int, list[Event]]]:
    """One note per seat event; credits and access of one line and offer share a note."""
    groups: dict[tuple[Any, ...], tuple[str, int, list[Event]]] = {}
    for index, event in enumerate(outcome.events):
        if event.kind not in PLACEHOLDERS:
            continue
        order_id = event.order_id if event.order_id is not None else outcome.order_id
        line = _line_of(event.data.get("key"))
        if event.kind.startswith("credit_"):
            group: tuple[Any, ...] = (
                event.kind,
                order_id,
                line,
                event.data.get("sku"),
                event.data.get("credit_type"),
            )
        elif event.kind.startswith("access_"):
            group = (event.kind, order_id, line, event.data.get("sku"), event.data.get("kind"))
        else:
            group = (event.kind, order_id, index)
        groups.setdefault(group, (event.kind, order_id, []))[2].append(event)
    return list(groups.values())


def _note_context(
    session: Session,
    kind: str,
    order_id: int,
    events: list[Event],
    catalogue: Catalogue,
    templates: NoteTemplates,
) -> dict[str, Any]:
    first = events[0]
    sku = first.data.get("sku")
    offer = catalogue.offers.get(sku) if sku else None
    title = (offer.title or offer.sku) if offer else (sku or "")
    context: dict[str, Any] = {"order": order_id, "units": len(events), "sku": sku or ""}
    if kind.startswith("credit_"):
        context.update(
            amount=sum(int(e.data.get("amount") or 0) for e in events),
            credit=templates.label(str(first.data.get("credit_type") or "")),
            # Only the complimentary first call is granted without an offer.
            offer=title or templates.label("complimentary"),
        )
    elif kind.startswith("access_"):
        ends = _latest(
            session,
            select(Access.ends_at)
            .where(Access.grant_key == str(first.data.get("key") or ""))
            .order_by(col(Access.id).desc()),
        )
        context.update(
            kind=templates.label(str(first.data.get("kind") or "")),
            offer=title,
            ends=_local_date(ends),
        )
    elif kind.startswith("seat_"):
        code = str(first.data.get("cohort") or "")
        cohort = session.get(Cohort, code)
        spec = catalogue.cohorts.get(code)
        context.update(
            cohort=code,
            cohort_title=(
                cohort.title
                if cohort and cohort.title
                else spec.title
                if spec and spec.title
                else code
            ),
            starts=_local_date(cohort.starts_at, cohort.timezone) if cohort else None,
            position=first.data.get("position"),
        )
        if kind == "seat_waitlisted" and first.data.get("seat_id") is not None:
            seat = session.get(Seat, first.data["seat_id"])
            if seat is not None and seat.status == "waitlisted":
                context["position"] = seat_waitlist_position(session, seat)
    return context


def _enqueue_note(
    session: Session,
    order_id: int,
    kind: str,
    text: str,
    marker: str,
    settings: Settings,
    requires: Sequence[str] = (),
) -> str | None:
    data = {"note": f"{text} {marker}", "customer_note": kind in settings.customer_note_events}
    digest = marker[len("[bridge:") : -1]
    extra: dict[str, Any] = {"marker": marker, "event": kind}
    if requires:
        extra["requires"] = list(requires)
    return _enqueue_create(session, NOTE, order_id, f"order:{order_id}:note:{digest}", data, extra)


def enqueue_event_notes(
    session: Session,
    outcome: OrderOutcome,
    catalogue: Catalogue,
    settings: Settings,
    templates: NoteTemplates,
) -> list[str]:
    """Queue one order note per event (credits and access grouped per line and offer)."""
    keys: list[str] = []
    for kind, order_id, events in _group_events(outcome):
        context = _note_context(session, kind, order_id, events, catalogue, templates)
        text = templates.render(kind, context)
        if not text:
            continue
        marker = note_marker(
            [f"order:{order_id}"] + [_event_identity(event) for event in events]
        )
        key = _enqueue_note(session, order_id, kind, text, marker, settings)
        if key:
            keys.append(key)
    return keys


def _coupon_note(
    session: Session,
    coupon: PersonalCoupon,
    order_id: int,
    catalogue: Catalogue,
    settings: Settings,
    templates: NoteTemplates,
) -> str | None:
    titles = [
        (catalogue.offers[sku].title or sku) if sku in catalogue.offers else sku
        for sku in coupon.offer_skus or []
    ]
    stack = next((s for s in catalogue.stacks if f"stack:{s.name}" == coupon.rule), None)
    context = {
        "order": order_id,
        "code": coupon.code,
        "discount": discount_text(coupon.discount_type, Decimal(coupon.amount), catalogue.currency),
        "offer": ", ".join(titles),
        "expires": _local_date(coupon.expires_at),
        "title": (stack.title or stack.name) if stack else coupon.rule.split(":", 1)[-1],
    }
    text = templates.render("coupon_offered", context)
    if not text:
        return None
    marker = note_marker([f"order:{order_id}", f"coupon:{coupon.id}:{coupon.code}"])
    return _enqueue_note(
        session,
        order_id,
        "coupon_offered",
        text,
        marker,
        settings,
        requires=[coupon_key(coupon.learner_id, coupon.rule)],
    )


def _orders_waiting_in(session: Session, cohorts: Sequence[str]) -> set[int]:
    """Orders with a waitlisted seat in these cohorts: their waitlist places may have moved."""
    if not cohorts:
        return set()
    rows = session.exec(
        select(Seat.order_id).where(
            col(Seat.cohort_code).in_(list(cohorts)), Seat.status == "waitlisted"
        )
    ).all()
    return {int(order_id) for order_id in rows if order_id is not None}


def _confers_now(session: Session, outcome: OrderOutcome, settings: Settings) -> bool:
    """The order is paid and this application granted the learner something."""
    if outcome.learner_id is None or not any(
        e.kind in GRANT_EVENTS and e.learner_id == outcome.learner_id for e in outcome.events
    ):
        return False
    state = session.get(OrderState, outcome.order_id)
    return state is not None and state.status in settings.paid_statuses


def enqueue_writebacks(
    session: Session,
    outcome: OrderOutcome,
    catalogue: Catalogue,
    settings: Settings,
    *,
    templates: NoteTemplates | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Queue everything an applied order changed in the shop; call before the order commits.

    Order meta for every order whose holdings or waitlist place changed, one note per event,
    stock of the cohorts whose seats changed, personal coupons the rules now grant, and the
    customer meta of every learner concerned. Returns the target keys queued.
    """
    if not outcome.applied or not outcome.events:
        return []
    templates = templates or note_templates_for(settings)
    keys: list[str] = []
    cohorts = sorted(
        {
            str(e.data["cohort"])
            for e in outcome.events
            if e.kind.startswith("seat_") and e.data.get("cohort")
        }
    )
    # A seat leaving the waitlist (promoted, released) moves everyone behind it up; a new
    # claim only queues at the end, so it moves no one.
    shifted = sorted(
        {
            str(e.data["cohort"])
            for e in outcome.events
            if e.kind in ("seat_promoted", "seat_released") and e.data.get("cohort")
        }
    )
    orders = {outcome.order_id} | {e.order_id for e in outcome.events if e.order_id is not None}
    orders |= _orders_waiting_in(session, shifted)
    for order_id in sorted(orders):
        key = enqueue_order_meta(session, order_id, catalogue)
        if key:
            keys.append(key)
    keys += enqueue_event_notes(session, outcome, catalogue, settings, templates)
    keys += enqueue_cohort_stock(session, catalogue, cohorts)
    learners = {e.learner_id for e in outcome.events}
    if _confers_now(session, outcome, settings):
        assert outcome.learner_id is not None
        learners.add(outcome.learner_id)
        for coupon in enqueue_personal_coupons(
            session, outcome.learner_id, catalogue, settings, order_id=outcome.order_id, now=now
        ):
            keys.append(coupon_key(coupon.learner_id, coupon.rule))
            note = _coupon_note(session, coupon, outcome.order_id, catalogue, settings, templates)
            if note:
                keys.append(note)
    for learner_id in sorted(learners):
        key = enqueue_customer_meta(session, learner_id, catalogue)
        if key:
            keys.append(key)
    return keys


def refresh_catalogue_writebacks(
    engine: Engine, catalogue: Catalogue, products: Iterable[Mapping[str, Any]] | None = None
) -> list[str]:
    """Queue catalogue-level write-backs (stack upsell links, stock of every cohort); commits."""
    with unit_of_work(engine) as session:
        keys = enqueue_catalogue_upsells(session, catalogue, products)
        keys += enqueue_cohort_stock(session, catalogue)
        session.commit()
    return keys


# --- drain: send what is due ------------------------------------------------------------------


class BatchClient(Protocol):
    """What the drain needs from the shop (bridge.shop.client.WooClient provides it)."""

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def post(self, path: str, data: Mapping[str, Any]) -> Any: ...

    def batch(
        self,
        resource: str,
        *,
        create: Iterable[Mapping[str, Any]] = (),
        update: Iterable[Mapping[str, Any]] = (),
        delete: Iterable[int] = (),
    ) -> Any: ...


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request a drain sends (or, dry, would send); path relative to /wp-json/wc/v3/."""

    method: str
    path: str
    body: Any = None
    condition: str = ""  # when the request is sent only if an earlier one says so

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.body is not None:
            shown["body"] = self.body
        if self.condition:
            shown["condition"] = self.condition
        return shown


@dataclass
class DrainSummary:
    """What one drain did (or, dry, would do)."""

    dry_run: bool = False
    sent: int = 0  # rows delivered
    unchanged: int = 0  # rows equal to what was last written: nothing sent
    retrying: int = 0  # rows that failed and will be tried again
    dead: int = 0  # rows dead-lettered by this drain
    deferred: int = 0  # notes waiting for the coupon they mention
    left: int = 0  # rows not tried because the drain stopped
    http_requests: int | None = None
    stopped: str = ""  # why the drain stopped early (shop down, key refused)
    requests: list[PlannedRequest] = field(default_factory=list)  # dry run only

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        if self.dry_run:
            line = (
                f"{verb} {len(self.requests)} requests; {self.unchanged} unchanged, "
                f"{self.deferred} deferred"
            )
        else:
            line = (
                f"{verb} {self.sent}, {self.unchanged} unchanged, {self.retrying} to retry, "
                f"{self.dead} dead, {self.deferred} deferred, {self.left} left"
            )
            if self.http_requests is not None:
                line += f"; {self.http_requests} requests"
        if self.stopped:
            line += f"; stopped: {self.stopped}"
        return line

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["requests"] = [request.as_dict() for request in self.requests]
        return data


@dataclass
class _Row:
    """A claimed outbox row, detached from its session."""

    id: int
    resource: str
    operation: str
    target_id: int | None
    target_key: str
    payload: dict[str, Any]
    attempts: int
    in_doubt: bool
    send_alone: bool

    @property
    def data(self) -> Any:
        return self.payload.get("data")


@dataclass
class _Batch:
    """One batch call: its items and, per item, the rows it delivers."""

    resource: str  # as WooClient.batch names it: products, products/18/variations, ...
    action: str  # create or update
    items: list[dict[str, Any]]
    rows: list[list[_Row]]

    def request(self) -> PlannedRequest:
        return PlannedRequest("POST", f"{self.resource}/batch", {self.action: self.items})


@dataclass
class _Result:
    kind: str  # sent, failed, dead, released (not tried), deferred (waits for a coupon)
    error: str = ""
    retry_after: float | None = None
    in_doubt: bool | None = None
    send_alone: bool | None = None
    written: Any = None
    woo_id: int | None = None


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h; never sooner than the shop asked."""
    delay = min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_CAP)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def _due(session: Session, now: datetime, *, lock: bool) -> list[OutboxItem]:
    """Rows whose time has come, oldest first, except targets another drain is sending now.

    Sending a newer value while an older one is in flight could let the older land last.
    """
    in_flight = select(OutboxItem.target_key).where(
        OutboxItem.status == SENDING, col(OutboxItem.next_attempt_at) > now
    )
    statement = (
        select(OutboxItem)
        .where(
            col(OutboxItem.status).in_([PENDING, SENDING]),
            or_(col(OutboxItem.next_attempt_at).is_(None), col(OutboxItem.next_attempt_at) <= now),
            col(OutboxItem.target_key).not_in(in_flight),
        )
        .order_by(col(OutboxItem.id))
        .limit(DRAIN_LIMIT)
    )
    if lock:
        statement = statement.with_for_update(skip_locked=True)
    return list(session.exec(statement).all())


def _snapshot(row: OutboxItem) -> _Row:
    assert row.id is not None
    return _Row(
        row.id,
        row.resource,
        row.operation,
        row.target_id,
        row.target_key,
        dict(row.payload or {}),
        row.attempts,
        row.in_doubt,
        row.send_alone,
    )


def _split_unchanged(session: Session, rows: Sequence[_Row]) -> tuple[list[_Row], list[_Row]]:
    """Updates whose newest value equals what was last written need no request."""
    newest: dict[str, _Row] = {}
    for row in rows:
        if row.operation == "update":
            newest[row.target_key] = row  # rows come in id order: the last one is the newest
    keys = sorted(newest)
    written = (
        {
            w.target_key: w.data
            for w in session.exec(
                select(OutboxWritten).where(col(OutboxWritten.target_key).in_(keys))
            ).all()
        }
        if keys
        else {}
    )
    unchanged_keys = {
        key for key, row in newest.items() if key in written and written[key] == row.data
    }
    send = [row for row in rows if row.target_key not in unchanged_keys]
    unchanged = [row for row in rows if row.target_key in unchanged_keys]
    return send, unchanged


def _merge(item: dict[str, Any], data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        if name == "meta_data" and isinstance(item.get(name), list):
            keys = {meta.get("key") for meta in value}
            item[name] = [m for m in item[name] if m.get("key") not in keys] + list(value)
        else:
            item[name] = value


def _batch_resource(row: _Row) -> str:
    if row.resource == "variation":
        return f"products/{int(row.payload['parent_id'])}/variations"
    return {"product": "products", "order": "orders", "customer": "customers", "coupon": "coupons"}[
        row.resource
    ]


def _plan_batches(rows: Sequence[_Row]) -> list[_Batch]:
    """Group rows into batch calls: one item per target, at most 100 items a call.

    Rows that WooCommerce refused inside a batch before go in a call of their own.
    """
    batches: list[_Batch] = []
    for resource in BATCH_ORDER:
        mine = [row for row in rows if row.resource == resource]
        by_path: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for row in mine:
            by_path[(_batch_resource(row), row.operation)].append(row)
        for (path, operation), group in by_path.items():
            items: list[tuple[dict[str, Any], list[_Row], bool]] = []
            if operation == "update":
                by_target: dict[int | None, tuple[dict[str, Any], list[_Row]]] = {}
                alone: set[int | None] = set()
                for row in group:  # id order: a newer value of one target overrides an older
                    item, delivered = by_target.setdefault(
                        row.target_id, ({"id": row.target_id}, [])
                    )
                    _merge(item, row.data or {})
                    delivered.append(row)
                    if row.send_alone:
                        alone.add(row.target_id)
                items = [
                    (item, delivered, target in alone)
                    for target, (item, delivered) in by_target.items()
                ]
            else:
                items = [(dict(row.data or {}), [row], row.send_alone) for row in group]
            together = [(item, delivered) for item, delivered, alone in items if not alone]
            for start in range(0, len(together), BATCH_LIMIT):
                chunk = together[start : start + BATCH_LIMIT]
                batches.append(
                    _Batch(
                        path,
                        operation,
                        [item for item, _ in chunk],
                        [delivered for _, delivered in chunk],
                    )
                )
            for item, delivered, alone in items:
                if alone:
                    batches.append(_Batch(path, operation, [item], [delivered]))
    return batches


def _note_requests(row: _Row) -> list[PlannedRequest]:
    path = f"orders/{row.target_id}/notes"
    post = PlannedRequest("POST", path, row.data)
    if not row.in_doubt:
        return [post]
    marker = row.payload.get("marker", "")
    return [
        PlannedRequest("GET", path),
        PlannedRequest(
            "POST", path, row.data, condition=f"only if no note of the order carries {marker}"
        ),
    ]


def _unmet(session: Session, row: _Row, present: Iterable[str] = ()) -> set[str]:
    """What a note still waits for: targets it mentions that the shop does not hold yet."""
    requires = set(row.payload.get("requires") or []) - set(present)
    if not requires:
        return set()
    written = session.exec(
        select(OutboxWritten.target_key).where(col(OutboxWritten.target_key).in_(sorted(requires)))
    ).all()
    return requires - set(written)


def _shop_level(exc: ShopRequestError) -> bool:
    """A refusal about the key or the address, not the item: stop, do not burn attempts."""
    return exc.status in (None, 401, 403) or exc.code == "rest_no_route"


def _send_batch(client: BatchClient, batch: _Batch) -> tuple[dict[int, _Result], str]:
    """Send one batch call; the result per row id, and why to stop (empty to go on)."""
    results: dict[int, _Result] = {}
    try:
        answer = client.batch(batch.resource, **{batch.action: batch.items})
    except ShopUnavailable as exc:
        for delivered in batch.rows:
            for row in delivered:
                # A create may have been applied before the answer was lost.
                results[row.id] = _Result(
                    "failed", str(exc), exc.retry_after, in_doubt=batch.action == "create" or None
                )
        return results, str(exc)
    except ShopRequestError as exc:
        if _shop_level(exc):
            for delivered in batch.rows:
                for row in delivered:
                    results[row.id] = _Result("released", str(exc))
            return results, str(exc)
        whole = len(batch.items) > 1
        for delivered in batch.rows:
            for row in delivered:
                # Refused as a whole: one bad item spoils a batch, so each goes alone next time.
                results[row.id] = (
                    _Result("failed", str(exc), send_alone=True)
                    if whole
                    else _Result("dead", str(exc))
                )
        return results, ""
    if batch.action == "update":
        failed = {error.id: error for error in answer.failed}
        for item, delivered in zip(batch.items, batch.rows, strict=True):
            error = failed.get(item["id"])
            for row in delivered:
                if error is None:
                    results[row.id] = _Result("sent", written=True)
                else:
                    results[row.id] = _Result(
                        "failed", f"{error.code}: {error.message}", send_alone=True
                    )
        return results, ""
    created = {str(obj.get("code", "")).lower(): obj for obj in answer.succeeded}
    refused = {str(error.item.get("code", "")).lower(): error for error in answer.failed}
    for item, delivered in zip(batch.items, batch.rows, strict=True):
        code = str(item.get("code", "")).lower()
        error = refused.get(code)
        for row in delivered:
            if error is None and code in created:
                woo_id = created[code].get("id")
                results[row.id] = _Result(
                    "sent",
                    written={"id": woo_id, "code": code},
                    woo_id=woo_id if isinstance(woo_id, int) else None,
                )
            elif error is not None and error.code == COUPON_EXISTS:
                # Created by an attempt whose answer was lost; codes are unguessable, so ours.
                results[row.id] = _Result("sent", written={"id": None, "code": code})
            elif error is not None:
                results[row.id] = _Result(
                    "failed", f"{error.code}: {error.message}", send_alone=True
                )
            else:
                results[row.id] = _Result(
                    "failed", "WooCommerce did not report on this item", in_doubt=True
                )
    return results, ""


def _send_note(
    client: BatchClient, row: _Row, seen: dict[int, list[dict[str, Any]]]
) -> tuple[_Result, str]:
    """Create one order note; one in doubt is first looked for among the order's notes.

    ``seen`` keeps the notes read per order during this drain, so several notes in doubt on
    one order cost one read.
    """
    path = f"orders/{row.target_id}/notes"
    marker = str(row.payload.get("marker") or "")
    try:
        if row.in_doubt and marker:
            order_id = int(row.target_id or 0)
            if order_id not in seen:
                notes = client.get(path)
                seen[order_id] = (
                    [n for n in notes if isinstance(n, dict)] if isinstance(notes, list) else []
                )
            for note in seen[order_id]:
                if marker in str(note.get("note") or ""):
                    return _Result("sent", written={"id": note.get("id")}), ""
        answer = client.post(path, row.data or {})
    except ShopUnavailable as exc:
        # 429 and 503 turn the request away unprocessed; anything else may have created it.
        doubt = True if exc.status not in (429, 503) else None
        return _Result("failed", str(exc), exc.retry_after, in_doubt=doubt), str(exc)
    except ShopRequestError as exc:
        if _shop_level(exc):
            return _Result("released", str(exc)), str(exc)
        return _Result("dead", str(exc)), ""
    note_id = answer.get("id") if isinstance(answer, dict) else None
    return _Result("sent", written={"id": note_id}), ""


def _record(
    engine: Engine,
    rows: Mapping[int, _Row],
    results: Mapping[int, _Result],
    settings: Settings,
    now: datetime,
    summary: DrainSummary,
) -> None:
    """Write each row's outcome (and what the shop now holds) in one transaction."""
    with unit_of_work(engine) as session:
        stored = {
            row.id: row
            for row in session.exec(
                select(OutboxItem).where(col(OutboxItem.id).in_(sorted(results))).with_for_update()
            ).all()
        }
        written: list[tuple[str, str, int | None, Any]] = []
        for row_id in sorted(results):  # id order: a newer value of a target is written last
            result, snapshot, row = results[row_id], rows[row_id], stored.get(row_id)
            if row is None:
                continue
            row.claimed_at = None
            if result.kind == "sent":
                row.status = SENT
                row.sent_at = now
                row.next_attempt_at = None
                row.last_error = ""
                row.in_doubt = False
                data = snapshot.data if result.written is True else result.written
                written.append((snapshot.target_key, snapshot.resource, snapshot.target_id, data))
                if snapshot.resource == "coupon" and result.woo_id is not None:
                    code = str((snapshot.data or {}).get("code") or "")
                    coupon = session.exec(
                        select(PersonalCoupon).where(PersonalCoupon.code == code)
                    ).first()
                    if coupon is not None:
                        coupon.woo_id = result.woo_id
                        session.add(coupon)
                summary.sent += 1
            elif result.kind in ("released", "deferred"):
                row.status = PENDING
                row.next_attempt_at = None
                if result.error:
                    row.last_error = result.error[:2000]
                if result.kind == "deferred":
                    summary.deferred += 1
                else:
                    summary.left += 1
            else:
                row.attempts += 1
                row.last_error = result.error[:2000]
                if result.in_doubt is not None:
                    row.in_doubt = result.in_doubt
                if result.send_alone is not None:
                    row.send_alone = result.send_alone
                if result.kind == "dead" or row.attempts >= settings.outbox_max_attempts:
                    row.status = DEAD
                    row.next_attempt_at = None
                    summary.dead += 1
                    log.warning(
                        "write-back dead-lettered: %s",
                        row.last_error,
                        extra={"outbox_id": row.id, "target": row.target_key},
                    )
                else:
                    row.status = PENDING
                    row.next_attempt_at = now + backoff(row.attempts, result.retry_after)
                    summary.retrying += 1
            session.add(row)
        _remember_all(session, written)
        session.commit()


def _claim(engine: Engine, now: datetime) -> tuple[list[_Row], int]:
    """Take the due rows for this drain; mark unchanged ones done. Returns (rows, unchanged)."""
    with unit_of_work(engine) as session:
        due = _due(session, now, lock=True)
        for row in due:
            if row.claimed_at is not None:
                # Its drain vanished after claiming it: whatever it sent may have arrived.
                row.attempts += 1
                row.in_doubt = row.in_doubt or row.operation == "create"
                row.last_error = "an earlier drain was interrupted; its outcome is unknown"
        rows = [_snapshot(row) for row in due]
        send, unchanged = _split_unchanged(session, rows)
        by_id = {row.id: row for row in due}
        for snapshot in unchanged:
            row = by_id[snapshot.id]
            row.status = UNCHANGED
            row.claimed_at = None
            row.next_attempt_at = None
            row.sent_at = now
            session.add(row)
        for snapshot in send:
            row = by_id[snapshot.id]
            row.status = SENDING
            row.claimed_at = now
            row.next_attempt_at = now + CLAIM_LEASE
            session.add(row)
        session.commit()
    return send, len(unchanged)


def _plan_dry(engine: Engine, now: datetime) -> DrainSummary:
    summary = DrainSummary(dry_run=True)
    with unit_of_work(engine) as session:
        rows = [_snapshot(row) for row in _due(session, now, lock=False)]
        send, unchanged = _split_unchanged(session, rows)
        summary.unchanged = len(unchanged)
        for batch in _plan_batches([row for row in send if row.resource != NOTE]):
            summary.requests.append(batch.request())
        # Coupons this drain would create count as present for the notes that mention them.
        creating = {row.target_key for row in send if row.resource == "coupon"}
        for row in (row for row in send if row.resource == NOTE):
            if _unmet(session, row, creating):
                summary.deferred += 1
                continue
            summary.requests.extend(_note_requests(row))
    return summary


def drain_outbox(
    engine: Engine,
    woo_client: BatchClient | None,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> DrainSummary:
    """Send the due write-backs: batches first (coupons, products, orders, customers), then notes.

    Each call's answer is recorded before the next call. Retryable failures come back with
    exponential backoff and are dead-lettered after BRIDGE_OUTBOX_MAX_ATTEMPTS; when the shop
    is down or refuses the key, the drain stops and leaves the rest for later. ``dry_run``
    returns the exact requests it would send and writes nothing (no shop needed).
    """
    now = now or utcnow()
    if dry_run:
        return _plan_dry(engine, now)
    if woo_client is None:
        raise PermanentError("no shop to write back to: set WOOCOMMERCE_URL and the REST keys")
    total = getattr(woo_client, "total_requests", None)
    before = total() if callable(total) else None
    rows, unchanged = _claim(engine, now)
    summary = DrainSummary(unchanged=unchanged)
    by_id = {row.id: row for row in rows}
    stop = ""
    seen: dict[int, list[dict[str, Any]]] = {}
    for batch in _plan_batches([row for row in rows if row.resource != NOTE]):
        if stop:
            results = {row.id: _Result("released") for group in batch.rows for row in group}
        else:
            results, stop = _send_batch(woo_client, batch)
        _record(engine, by_id, results, settings, now, summary)
    for row in (row for row in rows if row.resource == NOTE):
        if stop:
            result = _Result("released")
        else:
            with unit_of_work(engine) as session:
                waiting = _unmet(session, row)
            if waiting:
                result = _Result("deferred")
            else:
                result, stop = _send_note(woo_client, row, seen)
        _record(engine, by_id, {row.id: result}, settings, now, summary)
    summary.stopped = stop
    if callable(total) and before is not None:
        summary.http_requests = total() - before
    if rows or unchanged:
        log.info("outbox drained: %s", summary.summary())
    return summary


# --- inspection and manual retry --------------------------------------------------------------


def outbox_row(row: OutboxItem, *, with_payload: bool = False) -> dict[str, Any]:
    """An outbox row as plain data for the CLI."""
    shown: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "resource": row.resource,
        "operation": row.operation,
        "target_id": row.target_id,
        "target_key": row.target_key,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "in_doubt": row.in_doubt,
        "send_alone": row.send_alone,
    }
    if with_payload:
        shown["payload"] = row.payload
    return shown


def list_outbox(
    engine: Engine, statuses: Sequence[str] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows with these statuses (default: pending, sending, dead), oldest first."""
    wanted = list(statuses or (PENDING, SENDING, DEAD))
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxItem)
            .where(col(OutboxItem.status).in_(wanted))
            .order_by(col(OutboxItem.id))
            .limit(limit)
        ).all()
        return [outbox_row(row) for row in rows]


def outbox_counts(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
        ).all()
        return {status: int(count) for status, count in rows}


def show_outbox_item(engine: Engine, item_id: int) -> dict[str, Any]:
    """One row with its payload and what was last written to its target."""
    with unit_of_work(engine) as session:
        row = session.get(OutboxItem, item_id)
        if row is None:
            raise OutboxItemNotFound(
                f"no outbox row {item_id}; `bridge outbox --status all` lists them"
            )
        shown = outbox_row(row, with_payload=True)
        written = session.get(OutboxWritten, row.target_key)
        shown["last_written"] = (
            {"data": written.data, "written_at": written.written_at} if written else None
        )
        return shown


def retry_outbox(
    engine: Engine,
    item_id: int | None = None,
    *,
    all_dead: bool = False,
    now: datetime | None = None,
) -> int:
    """Make a dead (or waiting) row due now with fresh attempts, or every dead row; how many.

    ``in_doubt`` is kept, so a note that may have reached the shop is still looked for first.
    """
    if (item_id is None) == (not all_dead):
        raise PermanentError("name one outbox row id, or --all-dead")
    now = now or utcnow()
    with unit_of_work(engine) as session:
        statement = select(OutboxItem).with_for_update()
        if all_dead:
            statement = statement.where(OutboxItem.status == DEAD)
        else:
            statement = statement.where(OutboxItem.id == item_id)
        rows = session.exec(statement).all()
        if item_id is not None and not rows:
            raise OutboxItemNotFound(f"no outbox row {item_id}")
        changed = 0
        for row in rows:
            if row.status not in (DEAD, PENDING):
                raise PermanentError(
                    f"outbox row {row.id} is {row.status}; only dead or pending rows can be retried"
                )
            row.status = PENDING
            row.attempts = 0
            row.next_attempt_at = now
            row.claimed_at = None
            session.add(row)
            changed += 1
        session.commit()
        return changed
