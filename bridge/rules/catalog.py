"""Catalogue rules (pure): which WooCommerce product or variation is which micro-SKU.

Plain data in, plain data out: no I/O here. Product payloads and their ``bridge_*`` meta are
read here from plain dicts; the TOML file is read in bridge.rules.catalog_file and the database in
bridge.services.catalogue.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bridge.errors import PermanentError

KINDS = (
    "mentor_hours",
    "project",
    "cohort_seat",
    "assessment",
    "preview",
    "subscription",
    "bundle",
)

# Kinds whose offer names a cohort; only a cohort_seat takes a seat in it.
COHORT_KINDS = ("cohort_seat", "preview")
# WooCommerce product types whose purchasable units are their variations.
VARIABLE_TYPES = ("variable", "variable-subscription")
COUPON_TRIGGERS = ("first_paid_offer",)
DISCOUNT_TYPES = ("percent", "fixed_cart", "fixed_product")

CREDIT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SKU = re.compile(r"^\S{1,100}$")
COHORT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CatalogueError(PermanentError):
    """A catalogue file, product meta or product payload the bridge cannot use: where, what, why."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.source = source  # the file, or the product, the bad value came from
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class CohortSpec:
    """A timed cohort and the real limits that bound its seats."""

    code: str
    title: str
    starts_at: datetime  # timezone-aware UTC
    ends_at: datetime  # timezone-aware UTC
    timezone: str
    mentors: int
    learners_per_mentor: int
    assessment_slots: int | None = None
    waitlist: bool = True

    @property
    def capacity(self) -> int:
        """Mentor headcount x learners per mentor, bounded by live assessment slots."""
        by_mentors = self.mentors * self.learners_per_mentor
        if self.assessment_slots is None:
            return by_mentors
        return min(by_mentors, self.assessment_slots)


@dataclass(frozen=True)
class Offer:
    """A micro-SKU and what one unit of it confers."""

    sku: str
    kind: str
    title: str = ""
    credits: Mapping[str, int] = field(default_factory=dict)  # per unit, by credit type
    cohort: str | None = None  # cohort code, for cohort_seat and preview
    access_weeks: int | None = None
    competencies: tuple[str, ...] = ()
    badge: str | None = None
    includes: tuple[str, ...] = ()  # bundle: SKUs whose units it confers too
    perks: tuple[str, ...] = ()  # subscription: perks while active
    source: str = "file"  # "file" or "meta"
    duration_minutes: int | None = None  # live time one unit includes, e.g. a 120-minute preview


@dataclass(frozen=True)
class Competency:
    """A competency as the published competency catalogue names it."""

    tag: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class StackRule:
    """Micro-offers that together make up one traditional course (read by write-back upsells)."""

    name: str
    skus: tuple[str, ...]
    course_price: Decimal  # the traditional course's price: the whole stack costs this much
    title: str = ""
    upsells: tuple[str, ...] = ()  # SKUs each product of the stack points its upsells to
    coupon_expires_days: int = 30


@dataclass(frozen=True)
class CouponRule:
    """A personal coupon for ``offer``, created once per learner when ``when`` happens."""

    name: str
    when: str
    offer: str
    discount_type: str
    amount: Decimal
    expires_days: int = 14


@dataclass(frozen=True)
class Catalogue:
    """All offers and cohorts, plus which WooCommerce ids sell which SKU."""

    offers: Mapping[str, Offer] = field(default_factory=dict)
    cohorts: Mapping[str, CohortSpec] = field(default_factory=dict)
    # WooCommerce product or variation id -> offer SKU (from the product sync's bindings).
    bindings: Mapping[int, str] = field(default_factory=dict)
    # Bound ids whose product is trashed: still mapped, so existing orders keep what they
    # confer, but no longer sold (no stock, upsells or export).
    inactive_ids: frozenset[int] = frozenset()
    title: str = ""  # the creator or shop, as the competency catalogue names it
    url: str = ""
    currency: str = ""
    competencies: Mapping[str, Competency] = field(default_factory=dict)
    stacks: tuple[StackRule, ...] = ()
    coupon_rules: tuple[CouponRule, ...] = ()

    def offer_for_line(self, line_item: Mapping[str, object]) -> Offer | None:
        """The offer an order line sells: by variation id, product id, then the line's SKU."""
        for key in ("variation_id", "product_id"):
            woo_id = line_item.get(key)
            if isinstance(woo_id, int) and woo_id in self.bindings:
                return self.offers.get(self.bindings[woo_id])
        sku = line_item.get("sku")
        if isinstance(sku, str) and sku:
            return self.offers.get(sku)
        return None

    def expand(self, sku: str) -> tuple[Offer, ...]:
        """The offer and, for a bundle, every offer it includes (each once, depth first)."""
        found: list[Offer] = []
        seen: set[str] = set()

        def visit(current: str) -> None:
            offer = self.offers.get(current)
            if offer is None or current in seen:
                return
            seen.add(current)
            found.append(offer)
            for included in offer.includes:
                visit(included)

        visit(sku)
        return tuple(found)

    def credits_per_unit(self, sku: str) -> dict[str, int]:
        """Credits one unit confers by credit type, a bundle's included offers counted in."""
        total: dict[str, int] = {}
        for offer in self.expand(sku):
            for credit_type, amount in offer.credits.items():
                total[credit_type] = total.get(credit_type, 0) + amount
        return total

    def competencies_of(self, sku: str) -> tuple[str, ...]:
        """Competency tags one unit evidences, a bundle's included offers counted in."""
        tags: dict[str, None] = {}
        for offer in self.expand(sku):
            tags.update(dict.fromkeys(offer.competencies))
        return tuple(tags)

    def woo_ids_for(self, sku: str, *, include_inactive: bool = False) -> tuple[int, ...]:
        """WooCommerce product or variation ids bound to a SKU, trashed ones only if asked."""
        return tuple(
            sorted(
                woo_id
                for woo_id, bound in self.bindings.items()
                if bound == sku and (include_inactive or woo_id not in self.inactive_ids)
            )
        )

    def is_on_sale(self, sku: str) -> bool:
        """True when some product or variation that is not trashed sells the SKU."""
        return bool(self.woo_ids_for(sku))

    def cohort_products(self, code: str) -> tuple[int, ...]:
        """Ids of the products and variations that sell seats in a cohort (for seat stock)."""
        skus = {
            offer.sku
            for offer in self.offers.values()
            if offer.kind == "cohort_seat" and offer.cohort == code
        }
        return tuple(sorted(woo_id for sku in skus for woo_id in self.woo_ids_for(sku)))


def check_offer(offer: Offer, source: str, key_for: Callable[[str], str]) -> None:
    """Apply the rules every offer obeys, wherever it was defined; ``key_for`` names a field."""
    if offer.kind not in KINDS:
        raise CatalogueError(
            source,
            key_for("kind"),
            f"unknown kind {offer.kind!r} (expected one of {', '.join(KINDS)})",
        )
    if not SKU.match(offer.sku):
        raise CatalogueError(source, key_for("sku"), "a SKU is 1 to 100 characters, no spaces")
    for credit_type, amount in offer.credits.items():
        if not CREDIT_TYPE.match(credit_type):
            raise CatalogueError(
                source,
                key_for("credits"),
                f"credit type {credit_type!r} must be lower_snake_case, e.g. mentor_minutes",
            )
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise CatalogueError(
                source,
                key_for("credits"),
                f"{credit_type} must be a whole number greater than zero",
            )
    for tag in offer.competencies:
        if not SLUG.match(tag):
            raise CatalogueError(
                source,
                key_for("competencies"),
                f"competency {tag!r} must be lower-case words joined by hyphens",
            )
    for name in ("access_weeks", "duration_minutes"):
        value = getattr(offer, name)
        if value is not None and (isinstance(value, bool) or value <= 0):
            raise CatalogueError(source, key_for(name), "must be a whole number greater than zero")
    if offer.kind in COHORT_KINDS and not offer.cohort:
        raise CatalogueError(source, key_for("cohort"), f"required for a {offer.kind} offer")
    if offer.cohort and offer.kind not in COHORT_KINDS:
        raise CatalogueError(
            source, key_for("cohort"), "only cohort_seat and preview offers name a cohort"
        )
    if offer.kind == "bundle" and not offer.includes:
        raise CatalogueError(
            source, key_for("includes"), "required for a bundle: the SKUs it confers"
        )
    if offer.includes and offer.kind != "bundle":
        raise CatalogueError(source, key_for("includes"), "only a bundle includes other SKUs")
    if offer.sku in offer.includes:
        raise CatalogueError(source, key_for("includes"), "a bundle cannot include itself")
    if offer.perks and offer.kind != "subscription":
        raise CatalogueError(source, key_for("perks"), "only a subscription has perks")
    if offer.kind == "mentor_hours" and not offer.credits:
        raise CatalogueError(
            source, key_for("credits"), "required for mentor_hours, e.g. mentor_minutes = 60"
        )
    if offer.kind == "subscription" and not (offer.credits or offer.perks):
        raise CatalogueError(
            source, key_for("credits"), "a subscription confers credits per paid period or perks"
        )
    if offer.kind == "project" and offer.access_weeks is None:
        raise CatalogueError(
            source, key_for("access_weeks"), "required for a project: weeks of access"
        )


# Product and variation meta_data keys a creator can set in WP admin (Custom Fields box).
# Each may also carry a leading underscore (_bridge_kind): WordPress hides such "protected"
# keys from that box, so plugins and REST clients can use them without creators seeing them.
META_FIELDS = (
    "kind",
    "title",
    "credits",
    "cohort",
    "access_weeks",
    "duration_minutes",
    "competencies",
    "badge",
    "includes",
    "perks",
)
META_KEYS = tuple(f"bridge_{name}" for name in META_FIELDS)
_BRIDGE_KEY = re.compile(r"^_?bridge_")


def bridge_meta(meta_data: object) -> dict[str, Any]:
    """The ``meta_data`` rows whose key starts with ``bridge_`` or ``_bridge_``, key -> value."""
    found: dict[str, Any] = {}
    if not isinstance(meta_data, list):
        return found
    for row in meta_data:
        if isinstance(row, Mapping):
            key = row.get("key")
            if isinstance(key, str) and _BRIDGE_KEY.match(key):
                found[key] = row.get("value")
    return found


def unknown_meta_keys(meta: Mapping[str, Any]) -> tuple[str, ...]:
    """Bridge-looking keys that are not documented (likely typos), sorted."""
    return tuple(sorted(key for key in meta if key.lstrip("_") not in META_KEYS))


def _meta_fields(meta: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Known fields by name; bridge_x and _bridge_x are one field and must agree."""
    fields: dict[str, Any] = {}
    for key, value in sorted(meta.items()):
        plain = key[1:] if key.startswith("_") else key
        if plain not in META_KEYS:
            continue
        name = plain.removeprefix("bridge_")
        if name in fields and fields[name] != value:
            raise CatalogueError(
                source, plain, f"set both as {plain} and _{plain}, to different values"
            )
        fields[name] = value
    return fields


def _meta_text(value: Any, source: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CatalogueError(source, key, "must be text")
    return str(value).strip()


def _meta_int(value: Any, source: str, key: str) -> int:
    text = _meta_text(value, source, key)
    if not text.isdigit() or int(text) <= 0:
        raise CatalogueError(source, key, f"must be a whole number greater than zero, not {text!r}")
    return int(text)


def _meta_list(value: Any, source: str, key: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _meta_text(value, source, key).split(",") if part.strip())


def _meta_credits(value: Any, source: str, key: str) -> dict[str, int]:
    credits: dict[str, int] = {}
    for part in _meta_list(value, source, key):
        credit_type, sep, amount = (piece.strip() for piece in part.partition("="))
        if not sep or not amount.isdigit():
            raise CatalogueError(
                source,
                key,
                f"{part!r} is not type=amount (write e.g. mentor_minutes=60,portfolio_reviews=1)",
            )
        if credit_type in credits:
            raise CatalogueError(source, key, f"{credit_type} appears twice")
        credits[credit_type] = int(amount)
    return credits


_META_PARSERS: dict[str, Callable[[Any, str, str], Any]] = {
    "kind": _meta_text,
    "title": _meta_text,
    "credits": _meta_credits,
    "cohort": _meta_text,
    "access_weeks": _meta_int,
    "duration_minutes": _meta_int,
    "competencies": _meta_list,
    "badge": _meta_text,
    "includes": _meta_list,
    "perks": _meta_list,
}


def _parsed_meta(meta: Mapping[str, Any], source: str) -> dict[str, Any]:
    return {
        name: _META_PARSERS[name](value, source, f"bridge_{name}")
        for name, value in _meta_fields(meta, source).items()
    }


def offer_from_meta(sku: str, title: str, meta: Mapping[str, Any], source: str) -> Offer | None:
    """The offer a product's bridge meta defines, or None when it sets no bridge key."""
    fields = _parsed_meta(meta, source)
    if not fields:
        return None
    if "kind" not in fields:
        others = ", ".join(f"bridge_{name}" for name in fields)
        raise CatalogueError(source, "bridge_kind", f"missing, but {others} is set")
    if not sku:
        raise CatalogueError(source, "sku", "a product with bridge_kind needs a SKU in WooCommerce")
    offer = Offer(
        sku=sku,
        kind=fields["kind"],
        title=fields.get("title") or title,
        credits=fields.get("credits", {}),
        cohort=fields.get("cohort") or None,
        access_weeks=fields.get("access_weeks"),
        competencies=fields.get("competencies", ()),
        badge=fields.get("badge") or None,
        includes=fields.get("includes", ()),
        perks=fields.get("perks", ()),
        source="meta",
        duration_minutes=fields.get("duration_minutes"),
    )
    check_offer(offer, source, lambda name: f"bridge_{name}")
    return offer


def meta_conflicts(
    file_offer: Offer, meta: Mapping[str, Any], source: str, file_name: str = "the file"
) -> tuple[str, ...]:
    """Where a product's bridge meta disagrees with the file's offer of the same SKU."""
    conflicts = []
    for name, value in _parsed_meta(meta, source).items():
        ours = getattr(file_offer, name)
        if name in ("competencies", "includes", "perks"):
            same = sorted(value) == sorted(ours)
        elif name == "credits":
            same = dict(value) == dict(ours)
        else:
            same = (value or None) == (ours or None)
        if not same:
            shown = _show(ours)
            conflicts.append(
                f"{source} ({file_offer.sku}): bridge_{name} is {_show(value)} in WooCommerce "
                f"but {shown} in {file_name}; {file_name} wins"
            )
    return tuple(conflicts)


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return repr(",".join(f"{key}={amount}" for key, amount in value.items()))
    if isinstance(value, tuple | list):
        return repr(",".join(value))
    return repr(value)


def parse_gmt(value: object, source: str, key: str) -> datetime | None:
    """A WooCommerce ``*_gmt`` timestamp (no offset, UTC) as an aware datetime; null is None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CatalogueError(source, key, "must be a date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CatalogueError(source, key, f"{value!r} is not an ISO 8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class ProductRecord:
    """What the bridge keeps of a WooCommerce product or variation to map it to an offer."""

    woo_id: int
    woo_type: str = "simple"
    status: str = "publish"
    sku: str = ""
    name: str = ""
    price: str = ""
    parent_id: int = 0
    virtual: bool = False
    active: bool = True  # False once trashed or deleted in WooCommerce
    date_modified_gmt: datetime | None = None
    bridge_meta: Mapping[str, Any] = field(default_factory=dict)
    variation_ids: tuple[int, ...] = ()

    @property
    def is_variable_parent(self) -> bool:
        return self.woo_type in VARIABLE_TYPES

    @property
    def family(self) -> int:
        """The product id a variation belongs to, or the product's own id."""
        return self.parent_id or self.woo_id

    @property
    def label(self) -> str:
        if self.parent_id:
            return f"variation {self.woo_id} of product {self.parent_id}"
        return f"product {self.woo_id}"


# Fields a product payload must carry; absent ones are named in the error (null is allowed
# for the date: drafts can lack it).
REQUIRED_PRODUCT_FIELDS = ("id", "type", "status", "sku", "date_modified_gmt", "meta_data")


def is_deletion(payload: Mapping[str, Any]) -> bool:
    """True for WooCommerce's ``product.deleted`` body, which carries only the id."""
    return set(payload) == {"id"}


def product_id(payload: object) -> int:
    """The id of a product payload, or a CatalogueError naming the field."""
    if not isinstance(payload, Mapping):
        raise CatalogueError("product payload", "(body)", "must be a JSON object")
    woo_id = payload.get("id")
    if isinstance(woo_id, bool) or not isinstance(woo_id, int) or woo_id <= 0:
        raise CatalogueError("product payload", "id", "missing or not a positive integer")
    return woo_id


def product_record(payload: Mapping[str, Any]) -> ProductRecord:
    """Read a REST or webhook product/variation payload, rejecting one that lacks a field."""
    woo_id = product_id(payload)
    source = f"product {woo_id} payload"
    for name in REQUIRED_PRODUCT_FIELDS:
        if name not in payload:
            raise CatalogueError(source, name, "missing")
    for name in ("type", "status", "sku"):
        if not isinstance(payload[name], str):
            raise CatalogueError(source, name, "must be a string")
    if not isinstance(payload["meta_data"], list):
        raise CatalogueError(source, "meta_data", "must be a list")
    parent_id = payload.get("parent_id") or 0
    if isinstance(parent_id, bool) or not isinstance(parent_id, int):
        raise CatalogueError(source, "parent_id", "must be an integer")
    if payload["type"] == "variation" and not parent_id:
        raise CatalogueError(source, "parent_id", "missing for a variation")
    variations = payload.get("variations") or []
    if not isinstance(variations, list) or not all(isinstance(v, int) for v in variations):
        raise CatalogueError(source, "variations", "must be a list of ids")
    price = payload.get("price")
    return ProductRecord(
        woo_id=woo_id,
        woo_type=payload["type"],
        status=payload["status"],
        sku=payload["sku"].strip(),
        name=str(payload.get("name") or ""),
        price="" if price is None else str(price),
        parent_id=parent_id,
        virtual=payload.get("virtual") is True,
        active=payload["status"] != "trash",
        date_modified_gmt=parse_gmt(payload["date_modified_gmt"], source, "date_modified_gmt"),
        bridge_meta=bridge_meta(payload["meta_data"]),
        variation_ids=tuple(variations),
    )


def looks_like_offer(record: ProductRecord) -> bool:
    """A virtual product, or one with bridge meta, is probably meant as a micro-offer."""
    return record.virtual or bool(record.bridge_meta)


def effective_meta(record: ProductRecord, parent: ProductRecord | None) -> dict[str, Any]:
    """A variation's bridge meta over its product's: WP admin has no custom fields on variations."""
    merged = dict(parent.bridge_meta) if parent is not None else {}
    merged.update(record.bridge_meta)
    return merged


def record_title(record: ProductRecord, parent: ProductRecord | None) -> str:
    """A readable title; the variations endpoint names a variation only by its attributes."""
    if parent is not None and parent.name and parent.name not in record.name:
        return f"{parent.name} - {record.name}" if record.name else parent.name
    return record.name


@dataclass(frozen=True)
class Problem:
    """Something a creator should fix; ``bridge catalog --check`` fails while any remains.

    Codes: unmapped_product, sku_not_in_shop, duplicate_sku, cohort_not_sold, meta_conflict,
    invalid_meta, unknown_reference, not_synced, no_catalogue_file.
    """

    code: str
    message: str
    sku: str | None = None
    woo_id: int | None = None


@dataclass(frozen=True)
class Resolution:
    """The merged catalogue (file + product meta + bindings), its problems and notes."""

    catalogue: Catalogue
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()


def offer_for_record(
    file_catalogue: Catalogue,
    record: ProductRecord,
    parent: ProductRecord | None = None,
    file_name: str = "the file",
) -> tuple[Offer | None, tuple[Problem, ...]]:
    """The offer a product or variation sells: the file's by SKU, else its own meta; file wins."""
    meta = effective_meta(record, parent)
    source = record.label
    file_offer = file_catalogue.offers.get(record.sku) if record.sku else None
    if file_offer is not None:
        try:
            conflicts = meta_conflicts(file_offer, meta, source, file_name)
        except CatalogueError as exc:
            reason = f"{exc} (ignored: {file_name} defines {record.sku})"
            return file_offer, (Problem("invalid_meta", reason, record.sku, record.woo_id),)
        return file_offer, tuple(
            Problem("meta_conflict", text, record.sku, record.woo_id) for text in conflicts
        )
    try:
        offer = offer_from_meta(record.sku, record_title(record, parent), meta, source)
    except CatalogueError as exc:
        return None, (Problem("invalid_meta", str(exc), record.sku or None, record.woo_id),)
    return offer, ()


def resolve_catalogue(
    file_catalogue: Catalogue,
    records: Iterable[ProductRecord],
    *,
    now: datetime | None = None,
    file_name: str = "the file",
) -> Resolution:
    """Merge the file's offers, offers defined by product meta, and the product bindings.

    The file wins when both speak of one SKU. Trashed products stay bound (existing orders
    keep mapping) but count as not sold. Cohorts that ended before ``now`` need no product.
    """
    by_id = {record.woo_id: record for record in records}
    offers: dict[str, Offer] = dict(file_catalogue.offers)
    defined_by: dict[str, int] = {}  # meta SKU -> the product whose meta defines it
    bindings: dict[int, str] = {}
    inactive: set[int] = set()
    problems: list[Problem] = []
    notes: list[str] = []
    # Active products first, so their meta defines a SKU rather than a trashed one's.
    for record in sorted(by_id.values(), key=lambda r: (not r.active, r.woo_id)):
        parent = by_id.get(record.parent_id) if record.parent_id else None
        offer, found = offer_for_record(file_catalogue, record, parent, file_name)
        if record.active:
            problems.extend(found)
            notes.extend(_meta_notes(record))
        if offer is None:
            if record.active and not record.is_variable_parent and looks_like_offer(record):
                problems.append(_unmapped(record, file_name))
            continue
        if offer.source == "meta":
            if offer.sku not in offers:
                offers[offer.sku] = offer
                defined_by[offer.sku] = record.woo_id
            elif record.active and _definition(offers[offer.sku]) != _definition(offer):
                first = defined_by[offer.sku]
                problems.append(
                    Problem(
                        "meta_conflict",
                        f"{record.label}: its bridge meta defines {offer.sku} differently "
                        f"from product {first}, whose definition is used",
                        offer.sku,
                        record.woo_id,
                    )
                )
        bindings[record.woo_id] = offer.sku
        if not record.active:
            inactive.add(record.woo_id)
    catalogue = dataclasses.replace(
        file_catalogue, offers=offers, bindings=bindings, inactive_ids=frozenset(inactive)
    )
    problems.extend(_reference_problems(catalogue, sorted(defined_by)))
    if not by_id:
        problems.append(
            Problem("not_synced", "no WooCommerce products known yet: run `bridge catalog sync`")
        )
    else:
        problems.extend(_shop_problems(catalogue, by_id, now, file_name))
    return Resolution(catalogue, tuple(problems), tuple(notes))


def _meta_notes(record: ProductRecord) -> list[str]:
    unknown = unknown_meta_keys(record.bridge_meta)
    if not unknown:
        return []
    return [
        f"{record.label}: meta key {', '.join(unknown)} is not a bridge key and is ignored "
        f"(known: {', '.join(META_KEYS)})"
    ]


def _unmapped(record: ProductRecord, file_name: str) -> Problem:
    return Problem(
        "unmapped_product",
        f"{record.label} {record.name!r} (SKU {record.sku or 'none'}) looks like an offer but "
        f"maps to no micro-SKU: add it to {file_name} or set bridge_kind",
        record.sku or None,
        record.woo_id,
    )


def _definition(offer: Offer) -> Offer:
    return dataclasses.replace(offer, title="")


def _reference_problems(catalogue: Catalogue, meta_skus: list[str]) -> list[Problem]:
    """Cohorts and included SKUs named by meta offers must exist (the file checks its own)."""
    problems = []
    for sku in meta_skus:
        offer = catalogue.offers[sku]
        if offer.cohort and offer.cohort not in catalogue.cohorts:
            problems.append(
                Problem(
                    "unknown_reference",
                    f"{sku}: bridge_cohort names cohort {offer.cohort!r}, which the catalogue file "
                    "does not define",
                    sku,
                )
            )
        for included in offer.includes:
            if included not in catalogue.offers:
                problems.append(
                    Problem(
                        "unknown_reference",
                        f"{sku}: bridge_includes names unknown SKU {included}",
                        sku,
                    )
                )
        if any(
            sku in catalogue.offers[other].includes
            for other in offer.includes
            if other in catalogue.offers
        ):
            problems.append(Problem("unknown_reference", f"{sku}: bundles include each other", sku))
    return problems


def _shop_problems(
    catalogue: Catalogue,
    by_id: Mapping[int, ProductRecord],
    now: datetime | None,
    file_name: str,
) -> list[Problem]:
    problems = []
    families: dict[str, set[int]] = {}
    for record in by_id.values():
        if record.active and record.sku:
            families.setdefault(record.sku, set()).add(record.family)
    for sku, family_ids in sorted(families.items()):
        if len(family_ids) > 1:
            shown = ", ".join(f"product {woo_id}" for woo_id in sorted(family_ids))
            problems.append(
                Problem("duplicate_sku", f"SKU {sku} is on more than one product: {shown}", sku)
            )

    def ended(offer: Offer) -> bool:
        cohort = catalogue.cohorts.get(offer.cohort or "")
        return bool(now and cohort and cohort.ends_at < now)

    for sku, offer in sorted(catalogue.offers.items()):
        if offer.source == "file" and not catalogue.is_on_sale(sku) and not ended(offer):
            problems.append(
                Problem(
                    "sku_not_in_shop",
                    f"{sku} is in {file_name} but no WooCommerce product (not trashed) "
                    "has this SKU",
                    sku,
                )
            )
    for code, cohort in sorted(catalogue.cohorts.items()):
        if now and cohort.ends_at < now:
            continue
        if not catalogue.cohort_products(code):
            problems.append(
                Problem(
                    "cohort_not_sold",
                    f"cohort {code} is sold by no product: no cohort_seat offer on sale names it",
                )
            )
    return problems


def describe_offer(offer: Offer, catalogue: Catalogue | None = None) -> str:
    """What one unit confers, in one line for people."""
    parts: list[str] = []
    if offer.kind == "bundle" and offer.includes:
        parts.append(f"what {_and(offer.includes)} confer")
    if offer.credits:
        credits = " + ".join(f"{amount} {kind}" for kind, amount in offer.credits.items())
        if offer.kind == "subscription":
            credits = f"per paid period: {credits}"
        parts.append(f"plus {credits}" if parts else credits)
    if offer.cohort:
        cohort = catalogue.cohorts.get(offer.cohort) if catalogue else None
        when = f" ({cohort_dates(cohort)})" if cohort else ""
        what = "a seat in" if offer.kind == "cohort_seat" else "the preview of"
        parts.append(f"{what} cohort {offer.cohort}{when}")
    if offer.duration_minutes:
        parts.append(f"{offer.duration_minutes} minutes live")
    if offer.access_weeks:
        parts.append(f"{offer.access_weeks} weeks of access")
    if offer.kind == "assessment":
        parts.append("one assessment slot")
    if offer.badge:
        parts.append(f"badge {offer.badge!r}")
    if offer.competencies:
        parts.append(f"competency {', '.join(offer.competencies)}")
    if offer.perks:
        parts.append(f"perk {', '.join(repr(perk) for perk in offer.perks)}")
    return "; ".join(parts) or "nothing"


def cohort_dates(cohort: CohortSpec) -> str:
    """First and last day in the cohort's own time zone, and the zone."""
    zone = ZoneInfo(cohort.timezone)
    # A second before the end, so that an end at midnight names the last day, not the next.
    last = (cohort.ends_at - timedelta(seconds=1)).astimezone(zone)
    return f"{cohort.starts_at.astimezone(zone):%Y-%m-%d} to {last:%Y-%m-%d} {cohort.timezone}"


def _and(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def offer_to_dict(offer: Offer) -> dict[str, Any]:
    """An offer as plain JSON-ready data (stored as the offer row's definition)."""
    data = dataclasses.asdict(offer)
    data["credits"] = dict(offer.credits)
    for name in ("competencies", "includes", "perks"):
        data[name] = list(getattr(offer, name))
    return data


def offer_prices(catalogue: Catalogue, records: Iterable[ProductRecord]) -> dict[str, str]:
    """Each SKU's price as WooCommerce shows it, from the first product that sells it."""
    prices: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.woo_id):
        sku = catalogue.bindings.get(record.woo_id)
        if sku and record.active and record.price and sku not in prices:
            prices[sku] = record.price
    return prices
