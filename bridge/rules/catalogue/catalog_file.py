"""The catalogue file (TOML in) and the competency catalogue (Markdown, HTML, JSON out).

Parsing and rendering are pure: they take text or plain data and return plain data.
``read_catalogue_file`` is the one function here that touches the file system.
"""

from __future__ import annotations

import html
import math
import tomllib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.rules.bookings.events import BookingType, BookingTypeError, booking_types_from_data
from bridge.rules.catalogue.alignments import AlignmentError, FrameworkAlignment, read_alignments
from bridge.rules.catalogue.catalog import (
    COHORT_CODE,
    COUPON_TRIGGERS,
    DISCOUNT_TYPES,
    SLUG,
    Catalogue,
    CatalogueError,
    CohortSpec,
    Competency,
    CouponRule,
    Offer,
    StackRule,
    check_offer,
    claimable_problems,
)
from bridge.rules.catalogue.pathways import (
    manifest_pathways,
    pathways_from_data,
    pathways_html,
    pathways_markdown,
)
from bridge.rules.catalogue.products import META_FIELDS
from bridge.rules.catalogue.sessions import parse_sessions

MANIFEST_FORMAT = "creator-bridge/competency-catalogue"
MANIFEST_VERSION = 1

_TOP_KEYS = {
    "version",
    "shop",
    "competencies",
    "cohorts",
    "offers",
    "stacks",
    "coupons",
    "not_offers",
    "bookings",
    "pathways",
}
_SHOP_KEYS = {"title", "url", "currency"}
_COMPETENCY_KEYS = {"title", "description", "url", "alignments"}
_COHORT_KEYS = {
    "title",
    "starts",
    "ends",
    "timezone",
    "mentors",
    "learners_per_mentor",
    "assessment_slots",
    "waitlist",
    "public_outcomes",
    "sessions",
}
_OFFER_KEYS = set(META_FIELDS)  # an offer is described by the same fields in both sources
_STACK_KEYS = {"name", "title", "skus", "course_price", "upsells", "coupon_expires_days"}
_COUPON_KEYS = {"name", "when", "offer", "discount_type", "amount", "expires_days"}


def parse_catalogue(text: str, source: str = "catalog.toml") -> Catalogue:
    """Parse catalogue TOML text; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(source, "(syntax)", str(exc)) from None
    return catalogue_from_data(data, source)


def catalogue_from_data(data: Mapping[str, Any], source: str = "catalog.toml") -> Catalogue:
    """Build and cross-check the catalogue from already-parsed TOML data."""
    reader = _Reader(source)
    reader.keys(data, _TOP_KEYS, "")
    version = data.get("version", 1)
    if version != 1:
        raise CatalogueError(source, "version", f"this bridge reads version 1, not {version!r}")
    shop = reader.table(data, "shop", "shop", required=False)
    reader.keys(shop, _SHOP_KEYS, "shop")
    currency = reader.text(shop, "currency", "shop", default="")
    if currency and not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        raise CatalogueError(source, "shop.currency", "an ISO 4217 code such as EUR")

    competencies = {
        tag: _competency(reader, tag, table)
        for tag, table in reader.table(data, "competencies", "competencies", False).items()
    }
    cohorts = {
        code: _cohort(reader, code, table)
        for code, table in reader.table(data, "cohorts", "cohorts", False).items()
    }
    offers = {
        sku: _offer(reader, sku, table)
        for sku, table in reader.table(data, "offers", "offers", False).items()
    }
    _cross_check(source, offers, cohorts, competencies)
    stacks = tuple(
        _stack(reader, f"stacks[{index}]", table, offers)
        for index, table in enumerate(reader.array(data, "stacks", ""))
    )
    coupons = tuple(
        _coupon(reader, f"coupons[{index}]", table, offers)
        for index, table in enumerate(reader.array(data, "coupons", ""))
    )
    not_offers = frozenset(reader.strings(data, "not_offers", ""))
    for sku in sorted(not_offers & set(offers)):
        raise CatalogueError(source, "not_offers", f"{sku} is also under [offers]")
    for label, rules in (("stacks", stacks), ("coupons", coupons)):
        names = [rule.name for rule in rules]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise CatalogueError(source, f"{label}[{index}].name", f"{name!r} is used twice")
    return Catalogue(
        offers=offers,
        cohorts=cohorts,
        title=reader.text(shop, "title", "shop", default=""),
        url=reader.text(shop, "url", "shop", default=""),
        currency=currency,
        competencies=competencies,
        stacks=stacks,
        coupon_rules=coupons,
        not_offers=not_offers,
        booking_types=_booking_types(reader, data),
        pathways=pathways_from_data(data.get("pathways"), offers, competencies, source),
    )


def _booking_types(reader: _Reader, data: Mapping[str, Any]) -> tuple[BookingType, ...]:
    try:
        return booking_types_from_data(reader.array(data, "bookings", ""))
    except BookingTypeError as exc:
        raise reader.fail(exc.key, exc.reason) from None


class _Reader:
    """Typed look-ups that raise a CatalogueError naming the file and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, reason: str) -> CatalogueError:
        return CatalogueError(self.source, key, reason)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    _join(where, key), f"unknown key (expected one of {', '.join(sorted(allowed))})"
                )

    def table(
        self, data: Mapping[str, Any], name: str, key: str, required: bool = True
    ) -> Mapping[str, Any]:
        value = data.get(name)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def array(self, data: Mapping[str, Any], name: str, where: str) -> list[Mapping[str, Any]]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail(_join(where, name), f"must be an array of tables ([[{name}]])")
        return value

    def text(
        self, data: Mapping[str, Any], name: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(name, default)
        if value is None:
            raise self.fail(_join(where, name), "required")
        if not isinstance(value, str):
            raise self.fail(_join(where, name), "must be a string")
        return value.strip()

    def integer(
        self,
        data: Mapping[str, Any],
        name: str,
        where: str,
        *,
        minimum: int = 1,
        default: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = data.get(name, default)
        if value is None:
            if required:
                raise self.fail(_join(where, name), "required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(_join(where, name), "must be a whole number")
        if value < minimum:
            raise self.fail(_join(where, name), f"must be at least {minimum}")
        return value

    def flag(self, data: Mapping[str, Any], name: str, where: str) -> bool:
        value = data.get(name, False)
        if not isinstance(value, bool):
            raise self.fail(_join(where, name), "must be true or false")
        return value

    def strings(self, data: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(_join(where, name), "must be a list of strings")
        items = tuple(item.strip() for item in value)
        for index, item in enumerate(items):
            if not item:
                raise self.fail(f"{_join(where, name)}[{index}]", "must not be empty")
            if item in items[:index]:
                raise self.fail(f"{_join(where, name)}[{index}]", f"{item!r} is listed twice")
        return items

    def money(self, data: Mapping[str, Any], name: str, where: str) -> Decimal:
        value = data.get(name)
        key = _join(where, name)
        if value is None:
            raise self.fail(key, "required")
        if isinstance(value, float):
            raise self.fail(key, 'write money as a string, e.g. "490.00", so it stays exact')
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(key, 'must be an amount such as "490.00"')
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.fail(key, f'{value!r} is not an amount such as "490.00"') from None
        if not amount.is_finite() or amount <= 0:
            raise self.fail(key, "must be greater than zero")
        return amount


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _competency(reader: _Reader, tag: str, table: Any) -> Competency:
    where = f"competencies.{tag}"
    if not SLUG.match(tag):
        raise reader.fail(where, "a competency tag is lower-case words joined by hyphens")
    if not isinstance(table, dict):
        raise reader.fail(where, "must be a table with a title")
    reader.keys(table, _COMPETENCY_KEYS, where)
    return Competency(
        tag=tag,
        title=reader.text(table, "title", where),
        description=reader.text(table, "description", where, default=""),
        url=_framework_url(reader, table, where),
        alignments=_alignments(reader, table, where),
    )


def _alignments(
    reader: _Reader, table: Mapping[str, Any], where: str
) -> tuple[FrameworkAlignment, ...]:
    try:
        return read_alignments(table.get("alignments"), f"{where}.alignments")
    except AlignmentError as exc:
        raise reader.fail(exc.field, str(exc)) from exc


def _framework_url(reader: _Reader, table: Mapping[str, Any], where: str) -> str:
    url = reader.text(table, "url", where, default="")
    if url and not url.startswith(("https://", "http://")):
        raise reader.fail(f"{where}.url", "must be an http(s) URL, e.g. an ESCO skill URI")
    return url


def _cohort(reader: _Reader, code: str, table: Any) -> CohortSpec:
    where = f"cohorts.{code}"
    if not COHORT_CODE.match(code):
        raise reader.fail(where, "a cohort code is letters, digits, '.', '_' or '-', 1 to 64 long")
    if not isinstance(table, dict):
        raise reader.fail(where, "must be a table")
    reader.keys(table, _COHORT_KEYS, where)
    zone_name = reader.text(table, "timezone", where)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.fail(
            f"{where}.timezone", f"unknown time zone {zone_name!r} (e.g. Europe/Berlin)"
        ) from None
    starts_at = _moment(reader, table.get("starts"), f"{where}.starts", zone, end=False)
    ends_at = _moment(reader, table.get("ends"), f"{where}.ends", zone, end=True)
    if ends_at <= starts_at:
        raise reader.fail(f"{where}.ends", "must be after starts")
    waitlist = table.get("waitlist", True)
    if not isinstance(waitlist, bool):
        raise reader.fail(f"{where}.waitlist", "must be true or false")
    public_outcomes = table.get("public_outcomes", False)
    if not isinstance(public_outcomes, bool):
        raise reader.fail(f"{where}.public_outcomes", "must be true or false")
    mentors = reader.integer(table, "mentors", where, required=True)
    per_mentor = reader.integer(table, "learners_per_mentor", where, required=True)
    assert mentors is not None and per_mentor is not None  # required=True guarantees it
    return CohortSpec(
        code=code,
        title=reader.text(table, "title", where, default=""),
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=zone_name,
        mentors=mentors,
        learners_per_mentor=per_mentor,
        assessment_slots=reader.integer(table, "assessment_slots", where),
        waitlist=waitlist,
        public_outcomes=public_outcomes,
        sessions=None
        if table.get("sessions") is None
        else parse_sessions(
            table["sessions"],
            f"{where}.sessions",
            zone_name,
            reader.fail,
            starts_at=starts_at,
            ends_at=ends_at,
        ),
    )


def _moment(reader: _Reader, value: Any, key: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """A TOML date or date-time in the cohort's zone, as UTC.

    A bare date means the whole day: a start at its first moment, an end after its last,
    so ``ends = 2027-02-19`` includes 19 February.
    """
    if value is None:
        raise reader.fail(key, "required (a TOML date or date-time, without quotes)")
    if isinstance(value, datetime):
        local = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    elif isinstance(value, date):
        day = value + timedelta(days=1) if end else value
        local = datetime.combine(day, time(), tzinfo=zone)
    else:
        raise reader.fail(
            key, "must be a TOML date or date-time without quotes, e.g. 2027-01-11T09:00:00"
        )
    return local.astimezone(UTC)


def _offer(reader: _Reader, sku: str, table: Any) -> Offer:
    where = f"offers.{sku}"
    if not isinstance(table, dict):
        raise reader.fail(where, "must be a table with a kind")
    reader.keys(table, _OFFER_KEYS, where)
    credits = table.get("credits", {})
    if not isinstance(credits, dict):
        raise reader.fail(f"{where}.credits", "must be a table, e.g. { mentor_minutes = 60 }")
    for credit_type, amount in credits.items():
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise reader.fail(
                f"{where}.credits.{credit_type}", "must be a whole number greater than zero"
            )
    cohort = reader.text(table, "cohort", where, default="")
    badge = reader.text(table, "badge", where, default="")
    offer = Offer(
        sku=sku,
        kind=reader.text(table, "kind", where),
        title=reader.text(table, "title", where, default=""),
        credits=dict(credits),
        cohort=cohort or None,
        access_weeks=reader.integer(table, "access_weeks", where),
        competencies=reader.strings(table, "competencies", where),
        badge=badge or None,
        includes=reader.strings(table, "includes", where),
        perks=reader.strings(table, "perks", where),
        source="file",
        duration_minutes=reader.integer(table, "duration_minutes", where),
        claimable=reader.flag(table, "claimable", where),
        places=reader.integer(table, "places", where),
    )
    check_offer(offer, reader.source, lambda name: f"{where}.{name}")
    return offer


def _cross_check(
    source: str,
    offers: Mapping[str, Offer],
    cohorts: Mapping[str, CohortSpec],
    competencies: Mapping[str, Competency],
) -> None:
    """References between tables: cohorts, included SKUs, competency tags, bundle cycles."""
    for sku, offer in offers.items():
        if offer.cohort and offer.cohort not in cohorts:
            raise CatalogueError(
                source, f"offers.{sku}.cohort", f"no cohort {offer.cohort!r} under [cohorts]"
            )
        for index, included in enumerate(offer.includes):
            if included not in offers:
                raise CatalogueError(
                    source, f"offers.{sku}.includes[{index}]", f"no offer {included!r}"
                )
        # With a [competencies] table, tags must be defined there: it catches misspellings.
        for index, tag in enumerate(offer.competencies):
            if competencies and tag not in competencies:
                raise CatalogueError(
                    source,
                    f"offers.{sku}.competencies[{index}]",
                    f"{tag!r} is not under [competencies]",
                )
    for sku in offers:
        _check_no_cycle(source, offers, sku, ())
    for sku, name, reason in claimable_problems(Catalogue(offers=offers)):
        raise CatalogueError(source, f"offers.{sku}.{name}", reason)


def _check_no_cycle(
    source: str, offers: Mapping[str, Offer], sku: str, path: tuple[str, ...]
) -> None:
    if sku in path:
        loop = " -> ".join((*path, sku))
        raise CatalogueError(
            source, f"offers.{path[0]}.includes", f"bundles include in a loop: {loop}"
        )
    for included in offers[sku].includes:
        _check_no_cycle(source, offers, included, (*path, sku))


def _skus(
    reader: _Reader, table: Mapping[str, Any], name: str, where: str, offers: Mapping[str, Offer]
) -> tuple[str, ...]:
    skus = reader.strings(table, name, where)
    for index, sku in enumerate(skus):
        if sku not in offers:
            raise reader.fail(f"{where}.{name}[{index}]", f"no offer {sku!r} under [offers]")
    return skus


def _rule_name(reader: _Reader, table: Mapping[str, Any], where: str) -> str:
    name = reader.text(table, "name", where)
    if not SLUG.match(name):
        raise reader.fail(f"{where}.name", "lower-case words joined by hyphens")
    return name


def _stack(
    reader: _Reader, where: str, table: Mapping[str, Any], offers: Mapping[str, Offer]
) -> StackRule:
    reader.keys(table, _STACK_KEYS, where)
    skus = _skus(reader, table, "skus", where, offers)
    if len(skus) < 2:
        raise reader.fail(f"{where}.skus", "a stack has at least two offers")
    expires = reader.integer(table, "coupon_expires_days", where, default=30)
    assert expires is not None  # it has a default
    return StackRule(
        name=_rule_name(reader, table, where),
        title=reader.text(table, "title", where, default=""),
        skus=skus,
        course_price=reader.money(table, "course_price", where),
        upsells=_skus(reader, table, "upsells", where, offers),
        coupon_expires_days=expires,
    )


def _coupon(
    reader: _Reader, where: str, table: Mapping[str, Any], offers: Mapping[str, Offer]
) -> CouponRule:
    reader.keys(table, _COUPON_KEYS, where)
    when = reader.text(table, "when", where)
    if when not in COUPON_TRIGGERS:
        raise reader.fail(
            f"{where}.when", f"unknown trigger (expected {', '.join(COUPON_TRIGGERS)})"
        )
    offer = reader.text(table, "offer", where)
    if offer not in offers:
        raise reader.fail(f"{where}.offer", f"no offer {offer!r} under [offers]")
    discount_type = reader.text(table, "discount_type", where)
    if discount_type not in DISCOUNT_TYPES:
        raise reader.fail(f"{where}.discount_type", f"must be one of {', '.join(DISCOUNT_TYPES)}")
    amount = reader.money(table, "amount", where)
    if discount_type == "percent" and amount > 100:
        raise reader.fail(f"{where}.amount", "a percent discount is at most 100")
    expires = reader.integer(table, "expires_days", where, default=14)
    assert expires is not None  # it has a default
    return CouponRule(
        name=_rule_name(reader, table, where),
        when=when,
        offer=offer,
        discount_type=discount_type,
        amount=amount,
        expires_days=expires,
    )


def offer_duration(offer: Offer, catalogue: Catalogue) -> str | None:
    """How long one unit lasts, as an ISO 8601 duration (P6W, P40D, PT2H), or None."""
    weeks = [o.access_weeks for o in catalogue.expand(offer.sku) if o.access_weeks]
    if weeks:
        return f"P{max(weeks)}W"
    cohort = catalogue.cohorts.get(offer.cohort or "")
    if offer.kind == "cohort_seat" and cohort is not None:
        return f"P{math.ceil((cohort.ends_at - cohort.starts_at) / timedelta(days=1))}D"
    if offer.duration_minutes:
        hours, minutes = divmod(offer.duration_minutes, 60)
        return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return None


def build_manifest(
    catalogue: Catalogue,
    prices: Mapping[str, str],
    generated_at: datetime,
    achievements: Mapping[str, str] | None = None,
    pathway_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The machine-readable competency catalogue (schemas/competency-catalogue.schema.json).

    Each competency lists the micro-SKUs that evidence it, a bundle through what it includes,
    and, given ``achievements`` (SKU -> URL), the Open Badges achievements that certify it.
    File offers appear even when no product sells them yet (``available`` false); offers
    defined only by the meta of trashed products do not.
    """
    listed = [
        offer
        for sku, offer in catalogue.offers.items()
        if offer.source == "file" or catalogue.is_on_sale(sku)
    ]
    used: set[str] = set()
    for offer in listed:
        used.update(catalogue.competencies_of(offer.sku))
    # The file's order first (the creator chose it), then tags only product meta names.
    tags = [tag for tag in catalogue.competencies if tag in used]
    tags += sorted(used - set(tags))
    competencies = []
    for tag in tags:
        known = catalogue.competencies.get(tag)
        entry: dict[str, Any] = {
            "id": tag,
            "title": known.title if known else tag,
            "description": known.description if known else "",
            "alignments": [a.as_dict() for a in known.alignments] if known else [],
            "offers": [
                _manifest_offer(offer, catalogue, prices)
                for offer in listed
                if tag in catalogue.competencies_of(offer.sku)
            ],
        }
        if achievements is not None:
            entry["achievements"] = [
                {
                    "sku": offer.sku,
                    "title": offer.badge or offer.title or offer.sku,
                    "url": achievements[offer.sku],
                }
                for offer in listed
                if tag in offer.competencies and offer.sku in achievements
            ]
        competencies.append(entry)
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "generated_at": generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "creator": {"title": catalogue.title, "url": catalogue.url or None},
        "currency": catalogue.currency or None,
        "competencies": competencies,
        "pathways": manifest_pathways(catalogue, pathway_urls),
    }


def _manifest_offer(
    offer: Offer, catalogue: Catalogue, prices: Mapping[str, str]
) -> dict[str, Any]:
    cohort = catalogue.cohorts.get(offer.cohort or "")
    return {
        "sku": offer.sku,
        "title": offer.title or offer.sku,
        "kind": offer.kind,
        "duration": offer_duration(offer, catalogue),
        "price": prices.get(offer.sku),
        "available": catalogue.is_on_sale(offer.sku),
        "badge": next((o.badge for o in catalogue.expand(offer.sku) if o.badge), None),
        "credits": catalogue.credits_per_unit(offer.sku),
        "includes": list(offer.includes),
        "cohort": None
        if cohort is None
        else {
            "code": cohort.code,
            "title": cohort.title,
            "starts_at": cohort.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ends_at": cohort.ends_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timezone": cohort.timezone,
        },
    }


_DURATION_WORDS: tuple[tuple[str, str], ...] = (
    ("W", "weeks"),
    ("D", "days"),
    ("H", "hours"),
    ("M", "minutes"),
)


def _duration_text(duration: str | None) -> str:
    """P6W -> 6 weeks; PT2H -> 2 hours: the manifest's durations for people."""
    if not duration:
        return ""
    body = duration.removeprefix("P").replace("T", "")
    parts, number = [], ""
    for char in body:
        if char.isdigit():
            number += char
            continue
        word = dict(_DURATION_WORDS)[char]
        parts.append(f"{number} {word.rstrip('s') if number == '1' else word}")
        number = ""
    return " ".join(parts)


def _price_text(manifest: Mapping[str, Any], offer: Mapping[str, Any]) -> str:
    if offer["price"] is None:
        return "not on sale"
    currency = manifest.get("currency") or ""
    return f"{offer['price']} {currency}".strip()


def _rows(manifest: Mapping[str, Any], competency: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            offer["title"],
            offer["sku"],
            offer["kind"].replace("_", " "),
            _duration_text(offer["duration"]) or "-",
            _price_text(manifest, offer),
            offer["badge"] or "",
        ]
        for offer in competency["offers"]
    ]


def _heading(manifest: Mapping[str, Any]) -> str:
    creator = manifest["creator"]["title"]
    return f"{creator}: competency catalogue" if creator else "Competency catalogue"


_HEADERS = ["Offer", "SKU", "Kind", "Duration", "Price", "Badge"]


def render_markdown(manifest: Mapping[str, Any]) -> str:
    """The one-page competency catalogue in Markdown."""
    lines = [f"# {_heading(manifest)}", ""]
    if manifest["creator"]["url"]:
        lines += [manifest["creator"]["url"], ""]
    for competency in manifest["competencies"]:
        lines += [f"## {competency['title']}", ""]
        if competency["description"]:
            lines += [competency["description"], ""]
        for badge in competency.get("achievements") or []:
            lines += [f"Credential: [{badge['title']}]({badge['url']})", ""]
        lines.append("| " + " | ".join(_HEADERS) + " |")
        lines.append("|" + "---|" * len(_HEADERS))
        for row in _rows(manifest, competency):
            cells = [cell.replace("|", "\\|") for cell in row]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if not manifest["competencies"]:
        lines += ["No offer names a competency yet.", ""]
    lines += pathways_markdown(manifest)
    lines.append(f"Generated {manifest['generated_at']}.")
    return "\n".join(lines) + "\n"


def render_html(manifest: Mapping[str, Any]) -> str:
    """The one-page competency catalogue as a self-contained HTML page."""
    esc: Callable[[str], str] = html.escape
    title = _heading(manifest)
    body = [f"<h1>{esc(title)}</h1>"]
    if manifest["creator"]["url"]:
        url = esc(manifest["creator"]["url"])
        body.append(f'<p><a href="{url}">{url}</a></p>')
    for competency in manifest["competencies"]:
        body.append(f'<section id="{esc(competency["id"])}">')
        body.append(f"<h2>{esc(competency['title'])}</h2>")
        if competency["description"]:
            body.append(f"<p>{esc(competency['description'])}</p>")
        for badge in competency.get("achievements") or []:
            body.append(
                f'<p>Credential: <a href="{esc(badge["url"])}">{esc(badge["title"])}</a></p>'
            )
        body.append("<table>")
        body.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in _HEADERS) + "</tr>")
        for row in _rows(manifest, competency):
            body.append("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>")
        body.append("</table>")
        body.append("</section>")
    if not manifest["competencies"]:
        body.append("<p>No offer names a competency yet.</p>")
    body += pathways_html(manifest)
    body.append(f"<footer>Generated {esc(manifest['generated_at'])}.</footer>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;width:100%}"
        "th,td{border-bottom:1px solid #ccc;padding:.4rem;text-align:left}"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n"
        f"<style>{style}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
