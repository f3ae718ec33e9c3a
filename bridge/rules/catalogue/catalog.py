"""Catalogue rules (pure): which WooCommerce product or variation is which micro-SKU.

Plain data in, plain data out: no I/O here. Product payloads and their ``bridge_*`` meta are
mapped in bridge.rules.catalogue.products; the TOML text is parsed in
bridge.rules.catalogue.catalog_file; the file and the database are read in
bridge.services.catalogue.catalogue.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bridge.errors import PermanentError
from bridge.rules.bookings.events import BookingType
from bridge.rules.catalogue.alignments import FrameworkAlignment
from bridge.rules.catalogue.sessions import CohortSessions
from bridge.rules.words import credit_text, duration, plural

KINDS = (
    "mentor_hours",
    "project",
    "cohort_seat",
    "assessment",
    "preview",
    "subscription",
    "bundle",
)

# The most places one unit of a claimable offer may hold.
MAX_PLACES = 100
# Kinds a team-pack place cannot confer, and why.
UNCLAIMABLE_KINDS = {
    "cohort_seat": "a place cannot hold a cohort seat (seats are allocated at purchase)",
    "subscription": "a place cannot hold a subscription (its credits follow renewals)",
}

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
    public_outcomes: bool = False  # the cohort appears on the public outcome pages
    sessions: CohortSessions | None = None  # when it meets (catalogue sessions table)

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
    # Team packs: one unit holds ``places`` places, each conferring what a unit of this offer
    # would, on whoever claims it with its code (bridge.rules.claims); the buyer holds none.
    claimable: bool = False
    places: int | None = None


@dataclass(frozen=True)
class Competency:
    """A competency as the published competency catalogue names it."""

    tag: str
    title: str
    description: str = ""
    url: str = ""  # the competency in a public framework (ESCO, CASE), if the creator names one
    # Its places in public frameworks (ESCO, O*NET-SOC, ...): OB alignments of its achievements.
    alignments: tuple[FrameworkAlignment, ...] = ()


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
class PathwayStep:
    """One step of a pathway: an offer SKU whose credential counts, or a competency tag that any
    credential-issuing offer evidencing it fulfils."""

    ref: str
    kind: str  # "offer" or "competency"


@dataclass(frozen=True)
class Pathway:
    """A skill stack: steps whose credentials add up to one achievement (and a CLR record).

    ``required`` of the steps (all by default) complete it; ``precedes`` pairs say which step
    comes before which where the order matters. Parsed and checked in
    bridge.rules.catalogue.pathways.
    """

    code: str
    title: str
    steps: tuple[PathwayStep, ...]
    required: int
    description: str = ""
    criteria: str = ""
    precedes: tuple[tuple[str, str], ...] = ()
    competencies: tuple[str, ...] = ()  # what the pathway's achievement aligns to

    def step(self, ref: str) -> PathwayStep | None:
        return next((step for step in self.steps if step.ref == ref), None)


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
    # Products that are not offers (templates, merchandise): their order lines are silent.
    # SKUs from the file's ``not_offers``; WooCommerce ids whose meta says bridge_kind = none.
    not_offers: frozenset[str] = frozenset()
    not_offer_ids: frozenset[int] = frozenset()
    # What a Cal.com or Calendly booking of an event type spends (``[[bookings]]``).
    booking_types: tuple[BookingType, ...] = ()
    # Skill stacks: pathways of credentials that add up to a record (``[pathways.<code>]``).
    pathways: Mapping[str, Pathway] = field(default_factory=dict)

    @functools.cached_property
    def memo(self) -> dict[str, Any]:
        """What pure rules derive from the catalogue once, by their own key (a catalogue does
        not change once built: a new one starts empty)."""
        return {}

    def is_not_offer(self, line_item: Mapping[str, object]) -> bool:
        """The line sells something marked as no offer, so it maps to nothing on purpose."""
        ids = {line_item.get("variation_id"), line_item.get("product_id")}
        return bool(ids & self.not_offer_ids) or line_item.get("sku") in self.not_offers

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
    check_claimable(offer, source, key_for)


def check_claimable(offer: Offer, source: str, key_for: Callable[[str], str]) -> None:
    """A claimable offer's places are handed on one by one: what each confers must allow it."""
    if isinstance(offer.claimable, bool) is False:
        raise CatalogueError(source, key_for("claimable"), "must be true or false")
    if offer.places is not None:
        if not offer.claimable:
            raise CatalogueError(
                source,
                key_for("places"),
                "only a claimable offer has places (add claimable = true)",
            )
        if isinstance(offer.places, bool) or not 1 <= offer.places <= MAX_PLACES:
            raise CatalogueError(
                source, key_for("places"), f"must be a whole number from 1 to {MAX_PLACES}"
            )
    if not offer.claimable:
        return
    if offer.kind in UNCLAIMABLE_KINDS:
        raise CatalogueError(source, key_for("claimable"), UNCLAIMABLE_KINDS[offer.kind])


def claimable_problems(catalogue: Catalogue) -> list[tuple[str, str, str]]:
    """(SKU, field, reason) for claimable offers whose places could not be handed on.

    What a place confers must be real offers (a bundle's includes), none of which takes a
    cohort seat or is a subscription; and no bundle may include a claimable offer.
    """
    problems = []
    for sku, offer in sorted(catalogue.offers.items()):
        if offer.claimable:
            for included in offer.includes:
                target = catalogue.offers.get(included)
                if target is None:
                    problems.append(
                        (
                            sku,
                            "includes",
                            f"a place confers {included}, which is not an offer of the catalogue",
                        )
                    )
                    continue
                for inner in catalogue.expand(included):
                    if inner.kind in UNCLAIMABLE_KINDS:
                        problems.append(
                            (
                                sku,
                                "includes",
                                f"a place would confer {inner.sku}: "
                                + UNCLAIMABLE_KINDS[inner.kind],
                            )
                        )
            if not (
                catalogue.credits_per_unit(sku)
                or any(
                    o.kind in ("project", "assessment", "preview") for o in catalogue.expand(sku)
                )
            ):
                problems.append((sku, "claimable", "a place would confer nothing"))
        for included in offer.includes:
            target = catalogue.offers.get(included)
            if target is not None and target.claimable:
                problems.append(
                    (
                        sku,
                        "includes",
                        f"includes the team pack {included}; a "
                        "claimable offer cannot be part of a bundle",
                    )
                )
    return problems


def describe_offer(offer: Offer, catalogue: Catalogue | None = None) -> str:
    """What one unit confers, in one line for people."""
    parts: list[str] = []
    if offer.kind == "bundle" and offer.includes:
        verb = "confers" if len(offer.includes) == 1 else "confer"  # what X confers
        parts.append(f"what {_and(offer.includes)} {verb}")
    if offer.credits:
        credits = " + ".join(credit_text(amount, kind) for kind, amount in offer.credits.items())
        if offer.kind == "subscription":
            credits = f"per paid period: {credits}"
        parts.append(f"plus {credits}" if parts else credits)
    if offer.cohort:
        cohort = catalogue.cohorts.get(offer.cohort) if catalogue else None
        when = f" ({cohort_dates(cohort)})" if cohort else ""
        what = "a seat in" if offer.kind == "cohort_seat" else "the preview of"
        parts.append(f"{what} cohort {offer.cohort}{when}")
    if offer.duration_minutes:
        parts.append(f"{duration(offer.duration_minutes)} live")
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
    text = "; ".join(parts) or "nothing"
    if offer.claimable:
        places = offer.places or 1
        return f"{plural(places, 'claimable place')}, each: {text}"
    return text


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


def offer_from_dict(data: Mapping[str, Any]) -> Offer:
    """The offer ``offer_to_dict`` wrote (fields it does not know are ignored)."""
    known = {f.name for f in dataclasses.fields(Offer)}
    values = {key: value for key, value in data.items() if key in known}
    for name in ("competencies", "includes", "perks"):
        values[name] = tuple(values.get(name) or ())
    values["credits"] = dict(values.get("credits") or {})
    return Offer(**values)
