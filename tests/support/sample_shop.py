"""The sample shop of catalog.example.toml as plain catalogue data, with real WooCommerce ids."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from bridge.rules.catalogue.catalog import Catalogue, CohortSpec, Offer
from bridge.store.db import unit_of_work
from bridge.store.models import Cohort
from tests.support.paths import REAL, load_json

# The captured orders are dated in the past: as the settings' notify_since, this date makes
# tests of live behaviour treat them as news (tests of history unset it).
HISTORY_IS_NEWS = datetime(2000, 1, 1, tzinfo=UTC)

COHORT = CohortSpec(
    code="DV-2027-01",
    title="Data-viz cohort, January 2027",
    starts_at=datetime(2027, 1, 10, 23, 0, tzinfo=UTC),
    ends_at=datetime(2027, 2, 18, 23, 0, tzinfo=UTC),
    timezone="Europe/Berlin",
    mentors=1,
    learners_per_mentor=3,
    assessment_slots=5,
)

OFFERS = {
    "MENTOR-1H": Offer("MENTOR-1H", "mentor_hours", "Mentor hour", {"mentor_minutes": 60}),
    "MENTOR-PACK-3H": Offer("MENTOR-PACK-3H", "mentor_hours", "3 h", {"mentor_minutes": 180}),
    "MENTOR-PACK-5H": Offer("MENTOR-PACK-5H", "mentor_hours", "5 h", {"mentor_minutes": 300}),
    "PROJ-DATAVIZ": Offer(
        "PROJ-DATAVIZ",
        "project",
        "Data-viz project",
        {"mentor_minutes": 60},
        access_weeks=6,
        competencies=("data-visualisation",),
    ),
    "COHORT-DV-2027-01": Offer("COHORT-DV-2027-01", "cohort_seat", "Cohort", cohort="DV-2027-01"),
    "ASSESS-DV": Offer(
        "ASSESS-DV",
        "assessment",
        "Assessment",
        badge="Data-viz practitioner",
        competencies=("data-visualisation",),
    ),
    "PREVIEW-DV": Offer("PREVIEW-DV", "preview", "Preview", cohort="DV-2027-01"),
    "SUB-MENTOR-MONTHLY": Offer(
        "SUB-MENTOR-MONTHLY",
        "subscription",
        "Mentor subscription",
        {"mentor_minutes": 60, "portfolio_reviews": 1},
        perks=("priority job intros",),
    ),
    "BUNDLE-DV-STACK": Offer(
        "BUNDLE-DV-STACK",
        "bundle",
        "Data-viz stack",
        {"mentor_minutes": 120},
        includes=("PROJ-DATAVIZ", "ASSESS-DV"),
    ),
}

BINDINGS = {
    17: "MENTOR-1H",
    19: "MENTOR-PACK-3H",
    20: "MENTOR-PACK-5H",
    21: "PROJ-DATAVIZ",
    22: "COHORT-DV-2027-01",
    23: "ASSESS-DV",
    24: "PREVIEW-DV",
    25: "SUB-MENTOR-MONTHLY",
    26: "BUNDLE-DV-STACK",
}

PRODUCT_IDS = {sku: woo_id for woo_id, sku in BINDINGS.items()}
PRODUCT_IDS.update({"MENTOR-PACK-3H": 18, "MENTOR-PACK-5H": 18})
VARIATION_IDS = {"MENTOR-PACK-3H": 19, "MENTOR-PACK-5H": 20}


def sample_catalogue(capacity: int | None = None) -> Catalogue:
    cohort = COHORT
    if capacity is not None:
        cohort = CohortSpec(
            **{
                **vars(COHORT),
                "mentors": 1,
                "learners_per_mentor": capacity,
                "assessment_slots": None,
            }
        )
    return Catalogue(offers=OFFERS, cohorts={cohort.code: cohort}, bindings=BINDINGS)


def store_cohorts(engine: Engine, catalogue: Catalogue) -> None:
    with unit_of_work(engine) as session:
        for spec in catalogue.cohorts.values():
            session.add(
                Cohort(
                    code=spec.code,
                    title=spec.title,
                    starts_at=spec.starts_at,
                    ends_at=spec.ends_at,
                    timezone=spec.timezone,
                    capacity=spec.capacity,
                    waitlist=spec.waitlist,
                )
            )
        session.commit()


_TEMPLATE: dict[str, Any] | None = None


def make_order(
    order_id: int,
    lines: list[tuple[str, int]],
    *,
    status: str = "processing",
    email: str = "alice@example.com",
    customer_id: int = 2,
    modified: str = "2026-11-28T16:00:00",
    paid: str | None = "2026-11-28T16:00:00",
    refunds: list[dict[str, Any]] | None = None,
    total: str | None = None,
    meta: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A realistic order payload: the real 0030 delivery with its lines and state replaced."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = json.loads((REAL / "deliveries" / "0030-order.created.body").read_bytes())
    order = copy.deepcopy(_TEMPLATE)
    line_template = order["line_items"][1]
    order["line_items"] = []
    for index, (sku, quantity) in enumerate(lines):
        line = copy.deepcopy(line_template)
        line.update(
            id=order_id * 100 + index,
            sku=sku,
            quantity=quantity,
            product_id=PRODUCT_IDS.get(sku, 999),
            variation_id=VARIATION_IDS.get(sku, 0),
        )
        order["line_items"].append(line)
    order.update(
        id=order_id,
        status=status,
        customer_id=customer_id,
        date_modified_gmt=modified,
        date_paid_gmt=paid,
        date_created_gmt=modified,
        refunds=refunds or [],
        meta_data=meta or [],
    )
    if total is not None:
        order["total"] = total
    order["billing"]["email"] = email
    return order


def team_pack_product() -> dict[str, Any]:
    """A product selling TEAM-DV-PROJECT-5: the captured shop predates team packs, so this is
    the real PROJ-DATAVIZ product (21) copied under a new id, name, SKU and price."""
    products = load_json("woocommerce-real/rest/5-products-per_page-100.json")
    pack = copy.deepcopy(next(p for p in products if p["id"] == 21))  # type: ignore[union-attr]
    pack.update(
        id=27,
        name="Data-viz project for a team of five",
        sku="TEAM-DV-PROJECT-5",
        slug="data-viz-project-team-of-five",
        price="595.00",
        regular_price="595.00",
        permalink="https://127.0.0.1:8443/product/data-viz-project-team-of-five/",
        meta_data=[],
    )
    return pack
