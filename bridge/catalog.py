"""Catalogue rules (pure): which WooCommerce product or variation is which micro-SKU.

Plain data in, plain data out: no I/O here. Reading the TOML file, product meta and the
database happens at the edges (see bridge.catalog_sync).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

KINDS = (
    "mentor_hours",
    "project",
    "cohort_seat",
    "assessment",
    "preview",
    "subscription",
    "bundle",
)


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


@dataclass(frozen=True)
class Catalogue:
    """All offers and cohorts, plus which WooCommerce ids sell which SKU."""

    offers: Mapping[str, Offer] = field(default_factory=dict)
    cohorts: Mapping[str, CohortSpec] = field(default_factory=dict)
    # WooCommerce product or variation id -> offer SKU (from the product sync's bindings).
    bindings: Mapping[int, str] = field(default_factory=dict)

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
