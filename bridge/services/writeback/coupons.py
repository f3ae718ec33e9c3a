"""Personal upsell coupons: which rule a learner now qualifies for, and the coupon to create."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.perks import PERK_STATUSES
from bridge.rules.writeback.identities import coupon_code, coupon_expiry, learner_identity
from bridge.rules.writeback.notes import (
    CENT,
    discount_text,
    personal_coupon_offers,
)
from bridge.services.ledger import GRANT_REASONS, SEAT_HELD
from bridge.services.writeback.queue import enqueue_create, product_families
from bridge.settings import Settings
from bridge.store.bulk import insert_ignore
from bridge.store.models import (
    Access,
    Learner,
    LedgerEntry,
    OrderState,
    PersonalCoupon,
    ProductBinding,
    Seat,
    Subscription,
    utcnow,
)


def held_skus(session: Session, learner_id: int) -> set[str]:
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
    held |= {
        sku
        for sku in session.exec(
            select(Seat.offer_sku).where(
                Seat.learner_id == learner_id, col(Seat.status).in_(SEAT_HELD)
            )
        ).all()
        if sku is not None
    }
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
        held |= {sku for sku in skus or [] if sku is not None}
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
            col(ProductBinding.offer_sku).in_(sorted(set(skus))),
            col(ProductBinding.active).is_(True),
        )
        .order_by(col(ProductBinding.woo_id))
    ).all()
    for sku, price in rows:
        value = _decimal(price)
        if sku and value is not None:
            prices.setdefault(sku, value)
    return prices


def enqueue_personal_coupons(
    session: Session,
    learner_id: int,
    catalogue: Catalogue,
    settings: Settings,
    *,
    order_id: int | None = None,
    now: datetime | None = None,
    granted_at: datetime | None = None,
) -> list[PersonalCoupon]:
    """Create the personal coupons the rules grant now (one per learner and rule, ever).

    Each new coupon is stored and queued for creation in the shop (single use, restricted to
    the learner's e-mail, expiring); returns only the coupons created by this call. Code and
    expiry follow from stable facts (rule, learner, ``granted_at``: the sale), so a rebuild
    asks the shop for the same coupon, which it already has and the drain adopts.
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
    # left, and read list prices (used by stack rules only) only while a stack rule is open.
    open_stacks = [s for s in catalogue.stacks if f"stack:{s.name}" not in taken]
    if not open_stacks and all(f"coupon:{c.name}" in taken for c in catalogue.coupon_rules):
        return []
    held = held_skus(session, learner_id)
    if not held:
        return []  # personal_coupon_offers grants nothing to a learner holding nothing
    # What was paid: stack rules price held offers with it, coupon rules need money paid.
    paid = _paid_prices(session, learner_id, settings.orders.paid_statuses, catalogue)
    list_prices: dict[str, Decimal] = {}
    if open_stacks:
        list_prices = _list_prices(session, {sku for s in open_stacks for sku in s.skus})
    offers = personal_coupon_offers(
        catalogue,
        held,
        paid,
        list_prices,
        taken,
        free_counts=settings.orders.perks_for_free_previews,
    )
    now = now or utcnow()
    created: list[PersonalCoupon] = []
    for offer in offers:
        product_ids = sorted(
            {pid for sku in offer.offer_skus for pid in products_selling(session, catalogue, sku)}
        )
        if not product_ids:
            continue  # nothing on sale to discount
        identity = learner_identity(learner.woo_customer_id, learner.email)
        code = coupon_code(offer.rule, identity)
        expires_at, expires_local = coupon_expiry(
            granted_at or now, offer.expires_days, settings.shop.timezone
        )
        if expires_at <= now:
            continue  # an offer from a sale too long ago has expired: no coupon to make
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
            # WooCommerce 11 ignores date_expires_gmt on write; date_expires is shop-local time.
            "date_expires": expires_local,
            "description": f"creator-bridge: {offer.title} ({identity})",
            "meta_data": [
                {"key": "bridge_rule", "value": offer.rule},
                {"key": "bridge_learner", "value": identity},
            ],
        }
        enqueue_create(
            session,
            "coupon",
            None,
            coupon_key(learner_id, offer.rule),
            data,
            {"notify": learner_id},
        )
        created.append(coupon)
    return created


def coupon_key(learner_id: int, rule: str) -> str:
    return f"coupon:{learner_id}:{rule}"


def products_selling(session: Session, catalogue: Catalogue, sku: str) -> set[int]:
    ids = catalogue.woo_ids_for(sku)
    family = product_families(session, ids)
    return {family.get(woo_id, woo_id) for woo_id in ids}
