"""Entitlement rules (pure): what an order confers in its current state.

An order JSON (WooCommerce REST v3 shape), its refunds and the catalogue go in; the set of
entitlements comes out, each with a stable key ``order:<id>:line:<line id>:unit:<n>:<kind>``.
Reconciling the ledger toward this set (bridge.services.ledger.ledger) is what makes duplicates,
retries and out-of-order deliveries harmless.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from bridge.rules.catalogue.catalog import Catalogue, Offer
from bridge.rules.claims import place_key
from bridge.rules.inbound.payloads import PayloadRejected
from bridge.rules.periods import SubscriptionTerms

# Each place is a row and a link in the buyer's note: a line may not hold more.
MAX_PLACES_PER_LINE = 1000


class OrderStatus(StrEnum):
    """WooCommerce's order statuses (OrderState.status holds the shop's word as it came).

    The shop's state machine, not the bridge's: a plugin may add statuses, so a stored status
    may be none of these; which ones are paid is the BRIDGE_PAID_STATUSES setting.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    FAILED = "failed"
    CHECKOUT_DRAFT = "checkout-draft"
    TRASH = "trash"


class OrderPayloadError(PayloadRejected):
    """An order payload lacks a field the rules need; the message names it."""


@dataclass(frozen=True)
class Entitlement:
    """One thing one unit of one order line confers."""

    key: str
    kind: str  # "credit", "seat" or "access"
    order_id: int
    line_item_id: int
    unit: int
    offer_sku: str
    credit_type: str | None = None
    amount: int = 0
    cohort: str | None = None
    access_kind: str | None = None  # "project", "assessment" or "preview"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    # Subscription credits: the end of their period plus the rollover (see bridge.rules.periods).
    expires_at: datetime | None = None


@dataclass(frozen=True)
class OrderFacts:
    """The parts of an order payload the bridge keeps, parsed and checked."""

    order_id: int
    status: str
    customer_id: int
    email: str
    date_created_gmt: datetime | None
    date_modified_gmt: datetime | None
    date_paid_gmt: datetime | None
    total: str
    currency: str
    refund_ids: tuple[int, ...]
    renewal_of: tuple[int, ...]  # subscription ids from meta _subscription_renewal
    switch_of: tuple[int, ...] = ()  # subscription ids from meta _subscription_switch
    name: str = ""  # billing first and last name, for finding the learner


@dataclass(frozen=True)
class UnmappedLine:
    line_item_id: int
    product_id: int
    variation_id: int
    sku: str
    name: str
    quantity: int = 0
    total: str = "0"


@dataclass(frozen=True)
class ClaimablePlace:
    """One place of a claimable line, keyed ``order:<id>:line:<id>:unit:<n>:place:<n>``."""

    key: str
    line_item_id: int
    unit: int
    place: int


@dataclass(frozen=True)
class ClaimableLine:
    """A line selling a claimable offer: every place it sold, and how many it confers now."""

    order_id: int
    line_item_id: int
    offer_sku: str
    places: tuple[ClaimablePlace, ...]
    kept: int  # (quantity - refunded units) x places per unit


@dataclass(frozen=True)
class OrderEntitlements:
    facts: OrderFacts
    entitlements: tuple[Entitlement, ...]
    unmapped: tuple[UnmappedLine, ...]
    # Places of claimable lines (paid orders only): they confer nothing on the buyer.
    claimable: tuple[ClaimableLine, ...] = ()


def parse_gmt(value: object) -> datetime | None:
    """WooCommerce's ``*_gmt`` fields ("2026-11-28T15:54:32", no offset) as aware UTC."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    if len(value) == 19 and value[10] == "T" and value[13] == ":" and value[16] == ":":
        # WooCommerce's own form, which has no offset: read as UTC at once (a third of the
        # time of reading it, then setting the zone). Anything it does not take is read below.
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            pass
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalise_email(email: str) -> str:
    return email.strip().lower()


# name@domain.tld without spaces, control characters or lone surrogates (no column holds one).
_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f\ud800-\udfff]{1,64}@"
    r"[^@\s\x00-\x1f\x7f\ud800-\udfff]+\.[^@\s\x00-\x1f\x7f\ud800-\udfff]{2,}$"
)


def plausible_email(email: str) -> bool:
    """Whether a normalised text can be a person's e-mail address, and so a new learner's."""
    return len(email) <= 254 and _EMAIL.match(email) is not None


def _require(payload: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in payload:
        raise OrderPayloadError(f"order payload has no field {name!r}")
    value = payload[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise OrderPayloadError(f"order field {name!r} has an unexpected value {value!r}")
    return value


def _meta_values(payload: Mapping[str, Any], key: str) -> list[Any]:
    return [row.get("value") for row in payload.get("meta_data") or [] if row.get("key") == key]


def billing_name(billing: object) -> str:
    """``first_name last_name`` of a billing address, blanks dropped, at most 200 characters."""
    if not isinstance(billing, Mapping):
        return ""
    parts = (billing.get("first_name"), billing.get("last_name"))
    words = [part.strip() for part in parts if isinstance(part, str) and part.strip()]
    return " ".join(words)[:200]


def order_facts(payload: Mapping[str, Any]) -> OrderFacts:
    """Parse and check the order fields the rules rely on."""
    order_id = _require(payload, "id", int)
    status = _require(payload, "status", str)
    get = payload.get
    billing = get("billing") or {}
    created_text = get("date_created_gmt")
    modified_text = get("date_modified_gmt")
    paid_text = get("date_paid_gmt")
    try:
        created = parse_gmt(created_text)
        # An order paid when it was made (or not changed since) repeats a date: read it once.
        modified = (
            created
            if type(modified_text) is str and modified_text == created_text
            else parse_gmt(modified_text)
        )
        paid = (
            created
            if type(paid_text) is str and paid_text == created_text
            else parse_gmt(paid_text)
        )
    except ValueError as exc:
        raise OrderPayloadError(f"order {order_id}: {exc}") from None
    refunds = get("refunds")
    return _frozen(
        OrderFacts,
        {
            "order_id": order_id,
            "status": status,
            "customer_id": int(get("customer_id") or 0),
            "email": normalise_email(str(billing.get("email") or "")),
            "date_created_gmt": created,
            "date_modified_gmt": modified,
            "date_paid_gmt": paid,
            "total": str(get("total") or "0"),
            "currency": str(get("currency") or ""),
            "refund_ids": (
                tuple(sorted(int(r["id"]) for r in refunds if "id" in r)) if refunds else ()
            ),
            "renewal_of": _subscription_ids(payload, order_id, "_subscription_renewal"),
            "switch_of": _subscription_ids(payload, order_id, "_subscription_switch"),
            "name": billing_name(billing),
        },
    )


_T = TypeVar("_T")
# A frozen dataclass -> the names of all its fields.
_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _frozen(cls: type[_T], values: dict[str, Any]) -> _T:
    """``cls(**values)`` for a frozen dataclass given every one of its fields, made in a third
    of the time: its __init__ sets each field with ``object.__setattr__``; here the instance's
    dict is set at once (with any field missing or unknown, ``cls`` itself is called)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
    if values.keys() != names:
        return cls(**values)
    made = object.__new__(cls)
    object.__setattr__(made, "__dict__", values)
    return made


# Order meta `bridge simulate` sets: the order is made up, so nothing about it goes to a shop.
SIMULATED_META = "_bridge_simulated"


def is_simulated(payload: Mapping[str, Any]) -> bool:
    """Whether the order is one `bridge simulate` made up (its meta ``_bridge_simulated``)."""
    return any(
        str(value).strip().lower() in ("1", "yes", "true")
        for value in _meta_values(payload, SIMULATED_META)
    )


def _subscription_ids(payload: Mapping[str, Any], order_id: int, key: str) -> tuple[int, ...]:
    """Subscription ids from order meta (strings, possibly several rows), sorted, unique."""
    if not payload.get("meta_data"):
        return ()
    ids = set()
    for value in _meta_values(payload, key):
        try:
            ids.add(int(value))
        except (TypeError, ValueError):
            raise OrderPayloadError(
                f"order {order_id}: meta {key} is not an id: {value!r}"
            ) from None
    return tuple(sorted(ids))


def confers(status: str, paid_statuses: Iterable[str]) -> bool:
    """Only a paid status confers; everything else (pending, refunded, trash...) confers nothing."""
    return status in set(paid_statuses)


def needs_refund_lookup(payload: Mapping[str, Any], paid_statuses: Iterable[str]) -> bool:
    """Refunded quantities per line live only in /orders/<id>/refunds: fetch when it matters."""
    return confers(str(payload.get("status")), paid_statuses) and bool(payload.get("refunds"))


def refunded_quantities(refunds: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Refunded units per order line id, from the refunds' ``_refunded_item_id`` meta."""
    refunded: dict[int, int] = {}
    for refund in refunds:
        for line in refund.get("line_items") or []:
            item_ids = _meta_values(line, "_refunded_item_id")
            if not item_ids:
                continue
            quantity = abs(int(line.get("quantity") or 0))
            line_id = int(item_ids[0])
            refunded[line_id] = refunded.get(line_id, 0) + quantity
    return refunded


# Offer kinds that confer access, and the access kind each confers.
_ACCESS_KINDS = {"project": "project", "assessment": "assessment", "preview": "preview"}

_FIELDS = frozenset(f.name for f in fields(Entitlement))
_REQUIRED = frozenset(
    f.name for f in fields(Entitlement) if f.default is MISSING and f.default_factory is MISSING
)
_DEFAULTS = {f.name: f.default for f in fields(Entitlement) if f.default is not MISSING}


def _entitlement(values: dict[str, Any]) -> Entitlement:
    """``Entitlement(**values)``, made in a third of the time: a frozen dataclass's __init__
    sets each of its fourteen fields with ``object.__setattr__``; here they are set at once."""
    if not _REQUIRED <= values.keys() <= _FIELDS:
        return Entitlement(**values)  # says which field is missing or unknown
    entitlement = object.__new__(Entitlement)
    object.__setattr__(entitlement, "__dict__", {**_DEFAULTS, "details": {}, **values})
    return entitlement


def _unit_entitlements(
    offer: Offer,
    catalogue: Catalogue,
    base_key: str,
    base: Mapping[str, Any],
    starts_at: datetime | None,
    seen: frozenset[str] = frozenset(),
    *,
    terms: SubscriptionTerms | None = None,
) -> list[Entitlement]:
    """What one unit of ``offer`` confers; a bundle adds what each included SKU confers."""
    out: list[Entitlement] = []
    common = dict(base, offer_sku=offer.sku)
    credits = offer.credits
    for credit_type, amount in sorted(credits.items()) if credits else ():
        if amount:
            values = dict(
                common,
                key=f"{base_key}:credit:{credit_type}",
                kind="credit",
                credit_type=credit_type,
                amount=int(amount),
            )
            if offer.kind == "subscription":
                # One paid period's credits: they start with the payment and then expire.
                values["starts_at"] = starts_at
                values["expires_at"] = (terms or SubscriptionTerms()).credit_expiry(
                    offer, credit_type, starts_at
                )
            out.append(_entitlement(values))
    if offer.kind == "cohort_seat" and offer.cohort:
        out.append(
            _entitlement(dict(common, key=f"{base_key}:seat", kind="seat", cohort=offer.cohort))
        )
    access_kind = _ACCESS_KINDS.get(offer.kind)
    if access_kind:
        ends_at = None
        if offer.access_weeks and starts_at is not None:
            ends_at = starts_at + timedelta(weeks=offer.access_weeks)
        details: dict[str, Any] = {}
        if offer.badge:
            details["badge"] = offer.badge
        if offer.cohort:
            details["cohort"] = offer.cohort
        if offer.competencies:
            details["competencies"] = list(offer.competencies)
        out.append(
            _entitlement(
                dict(
                    common,
                    key=f"{base_key}:access:{access_kind}",
                    kind="access",
                    access_kind=access_kind,
                    cohort=offer.cohort,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    details=details,
                )
            )
        )
    for included_sku in offer.includes:
        included = catalogue.offers.get(included_sku)
        if included is None or included_sku in seen:
            continue
        out.extend(
            _unit_entitlements(
                included,
                catalogue,
                f"{base_key}:{included_sku}",
                base,
                starts_at,
                seen | {offer.sku},
                terms=terms,
            )
        )
    return out


def order_entitlements(
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    *,
    paid_statuses: Iterable[str],
    refunds: Sequence[Mapping[str, Any]] = (),
    subscription_terms: SubscriptionTerms | None = None,
) -> OrderEntitlements:
    """The entitlements an order confers now: N units per line, less refunded units.

    ``subscription_terms`` (the stored subscriptions the order pays for, and the creator's
    policy) decide when subscription credits expire; without them a period is the offer's own
    or one month, with the default rollover.
    """
    facts = order_facts(payload)
    lines = payload.get("line_items")
    if not isinstance(lines, list):
        lines = []
    unmapped: list[UnmappedLine] = []
    entitlements: list[Entitlement] = []
    claimable: list[ClaimableLine] = []
    paid = confers(facts.status, paid_statuses)
    refunded = refunded_quantities(refunds) if paid else {}
    starts_at = facts.date_paid_gmt or facts.date_created_gmt
    for line in lines:
        line_id = int(line.get("id") or 0)
        offer = catalogue.offer_for_line(line)
        if offer is None:
            if not catalogue.is_not_offer(line):
                unmapped.append(
                    UnmappedLine(
                        line_item_id=line_id,
                        product_id=int(line.get("product_id") or 0),
                        variation_id=int(line.get("variation_id") or 0),
                        sku=str(line.get("sku") or ""),
                        name=str(line.get("name") or ""),
                        quantity=int(line.get("quantity") or 0),
                        total=str(line.get("total") or "0"),
                    )
                )
            continue
        if not paid:
            continue
        quantity = int(line.get("quantity") or 0)
        # Refunds take units off the end so that the keys of the units kept never change.
        kept = max(0, quantity - refunded.get(line_id, 0))
        if offer.claimable:
            claimable.append(claimable_line(facts.order_id, line_id, offer, quantity, kept))
            continue
        for unit in range(kept):
            base = {"order_id": facts.order_id, "line_item_id": line_id, "unit": unit}
            base_key = f"order:{facts.order_id}:line:{line_id}:unit:{unit}"
            entitlements.extend(
                _unit_entitlements(
                    offer, catalogue, base_key, base, starts_at, terms=subscription_terms
                )
            )
    return OrderEntitlements(facts, tuple(entitlements), tuple(unmapped), tuple(claimable))


def claimable_line(
    order_id: int, line_id: int, offer: Offer, quantity: int, kept_units: int
) -> ClaimableLine:
    """Every place ``quantity`` units of a claimable offer hold; ``kept_units`` still paid."""
    per_unit = offer.places or 1
    if quantity * per_unit > MAX_PLACES_PER_LINE:
        raise OrderPayloadError(
            f"order {order_id} line {line_id}: {quantity} x {per_unit} places of {offer.sku} "
            f"exceed the {MAX_PLACES_PER_LINE} places one line may hold"
        )
    places = tuple(
        ClaimablePlace(place_key(order_id, line_id, unit, place), line_id, unit, place)
        for unit in range(quantity)
        for place in range(per_unit)
    )
    return ClaimableLine(order_id, line_id, offer.sku, places, kept_units * per_unit)


def place_entitlements(
    offer: Offer,
    catalogue: Catalogue,
    place_key: str,
    base: Mapping[str, Any],
    starts_at: datetime | None,
) -> list[Entitlement]:
    """What one place of a claimable offer confers on its claimant, keyed under the place."""
    return _unit_entitlements(offer, catalogue, place_key, base, starts_at)


def pays_for_an_offer(lines: Iterable[Mapping[str, Any]], *, free_counts: bool = False) -> bool:
    """An order's stored lines (bridge.services.ledger.order_summary) include a micro-SKU
    bought for money: a €0 free preview (unless ``free_counts``), or a line that sells no
    micro-SKU, does not count."""
    for line in lines:
        if not line.get("offer"):
            continue
        if free_counts:
            return True
        try:
            if Decimal(str(line.get("total") or "0")) > 0:
                return True
        except (InvalidOperation, ValueError):
            continue
    return False


def qualifies_for_complimentary_call(
    orders: Iterable[tuple[str, Iterable[Mapping[str, Any]]]],
    paid_statuses: Iterable[str],
    *,
    free_counts: bool = False,
) -> bool:
    """A learner earns the complimentary call while any order of theirs is paid and pays for a
    micro-SKU (a line above zero); a fully refunded or cancelled order earns it no more."""
    paid = set(paid_statuses)
    return any(
        status in paid and pays_for_an_offer(lines, free_counts=free_counts)
        for status, lines in orders
    )
