"""Products as the catalogue sees them (pure): WooCommerce product JSON and its ``bridge_*`` meta
mapped to micro-SKU offers, the catalogue resolved against the shop, and the problems found."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bridge.rules.catalogue.catalog import (
    VARIABLE_TYPES,
    Catalogue,
    CatalogueError,
    Offer,
    check_offer,
    claimable_problems,
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
    "claimable",
    "places",
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
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise CatalogueError(source, key, f"must be a whole number greater than zero, not {text!r}")
    return int(text)


def _meta_bool(value: Any, source: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = _meta_text(value, source, key).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise CatalogueError(source, key, f"must be yes or no, not {text!r}")


def _meta_list(value: Any, source: str, key: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _meta_text(value, source, key).split(",") if part.strip())


def _meta_credits(value: Any, source: str, key: str) -> dict[str, int]:
    credits: dict[str, int] = {}
    for part in _meta_list(value, source, key):
        credit_type, sep, amount = (piece.strip() for piece in part.partition("="))
        if not sep or not (amount.isascii() and amount.isdigit()):
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
    "claimable": _meta_bool,
    "places": _meta_int,
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
        claimable=fields.get("claimable", False),
        places=fields.get("places"),
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
    invalid_meta, unknown_reference, not_synced, no_catalogue_file, unmapped_sku. A
    ``warning`` (an unmapped virtual product, a SKU sold that maps to nothing) fails the check
    only with ``--strict``.
    """

    code: str
    message: str
    sku: str | None = None
    woo_id: int | None = None
    severity: str = "problem"  # or "warning"


@dataclass(frozen=True)
class Resolution:
    """The merged catalogue (file + product meta + bindings), its problems and notes."""

    catalogue: Catalogue
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()


def is_marked_not_offer(meta: Mapping[str, Any]) -> bool:
    """Product meta ``bridge_kind = none``: the product is no offer (a template, merchandise)."""
    kind = meta.get("bridge_kind", meta.get("_bridge_kind"))
    return isinstance(kind, str) and kind.strip().lower() == "none"


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
    not_offer_ids: set[int] = set()
    for record in sorted(by_id.values(), key=lambda r: (not r.active, r.woo_id)):
        parent = by_id.get(record.parent_id) if record.parent_id else None
        if is_marked_not_offer(effective_meta(record, parent)) or (
            record.sku and record.sku in file_catalogue.not_offers
        ):
            not_offer_ids.add(record.woo_id)  # a template, merchandise: silent on purpose
            continue
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
        file_catalogue,
        offers=offers,
        bindings=bindings,
        inactive_ids=frozenset(inactive),
        not_offer_ids=frozenset(not_offer_ids),
    )
    problems.extend(_reference_problems(catalogue, sorted(defined_by)))
    problems.extend(
        Problem("invalid_meta", f"{sku}: bridge_{name}: {reason}", sku)
        for sku, name, reason in claimable_problems(catalogue)
        if sku in defined_by
    )
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
    # A virtual product may be a template or a download: a warning, unless bridge meta says
    # it was meant as an offer.
    return Problem(
        "unmapped_product",
        f"{record.label} {record.name!r} (SKU {record.sku or 'none'}) looks like an offer but "
        f"maps to no micro-SKU: add it to {file_name}, set bridge_kind, or mark it as no offer "
        f"(not_offers in {file_name}, or bridge_kind = none)",
        record.sku or None,
        record.woo_id,
        severity="problem" if record.bridge_meta else "warning",
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


def offer_prices(catalogue: Catalogue, records: Iterable[ProductRecord]) -> dict[str, str]:
    """Each SKU's price as WooCommerce shows it, from the first product that sells it."""
    prices: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.woo_id):
        sku = catalogue.bindings.get(record.woo_id)
        if sku and record.active and record.price and sku not in prices:
            prices[sku] = record.price
    return prices
