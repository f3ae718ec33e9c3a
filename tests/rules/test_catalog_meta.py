"""Catalogue rules on real product payloads: meta keys, file precedence, problems (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.rules.catalogue.catalog import Catalogue, CatalogueError
from bridge.rules.catalogue.products import (
    META_KEYS,
    REQUIRED_PRODUCT_FIELDS,
    ProductRecord,
    offer_for_record,
    offer_from_meta,
    product_record,
    resolve_catalogue,
)
from bridge.services.catalogue import read_catalogue_file
from tests.support.paths import ROOT, load_json, real_delivery
from tests.support.sample_shop import team_pack_product

EXAMPLE = ROOT / "catalog.example.toml"


def products() -> list[dict[str, Any]]:
    """The real shop's products (ids 11 to 26), a fresh copy."""
    captured = load_json("woocommerce-real/rest/5-products-per_page-100.json")
    return [team_pack_product(), *captured]  # type: ignore[list-item]


def variations() -> list[dict[str, Any]]:
    """The real variations 19 (MENTOR-PACK-3H) and 20 (MENTOR-PACK-5H) of product 18."""
    return load_json("woocommerce-real/rest/5-product-variations.json")  # type: ignore[return-value]


def product(woo_id: int) -> dict[str, Any]:
    return next(p for p in products() + variations() if p["id"] == woo_id)


def with_meta(payload: dict[str, Any], **meta: str) -> dict[str, Any]:
    payload["meta_data"] = [
        {"id": 900 + index, "key": key, "value": value}
        for index, (key, value) in enumerate(meta.items())
    ]
    return payload


def real_records() -> list[ProductRecord]:
    return [product_record(payload) for payload in products() + variations()]


def test_the_real_shop_resolves_against_the_example_without_problems() -> None:
    """Every sample SKU binds to its product or variation; test products stay unmapped."""
    resolution = resolve_catalogue(read_catalogue_file(EXAMPLE), real_records())
    assert resolution.problems == ()
    assert dict(resolution.catalogue.bindings) == {
        17: "MENTOR-1H",
        19: "MENTOR-PACK-3H",
        20: "MENTOR-PACK-5H",
        21: "PROJ-DATAVIZ",
        22: "COHORT-DV-2027-01",
        23: "ASSESS-DV",
        24: "PREVIEW-DV",
        25: "SUB-MENTOR-MONTHLY",
        26: "BUNDLE-DV-STACK",
        27: "TEAM-DV-PROJECT-5",
    }
    # The shop's product 21 carries `bridge_offer`, which is no bridge key: said, not used.
    (note,) = resolution.notes
    assert note.startswith("product 21: meta key bridge_offer is not a bridge key")


def test_variations_of_the_variable_product_are_separate_skus() -> None:
    """An order line of variation 19 or 20 maps to its own pack; product 17 is the 1 h offer."""
    catalogue = resolve_catalogue(read_catalogue_file(EXAMPLE), real_records()).catalogue
    three = catalogue.offer_for_line({"product_id": 18, "variation_id": 19, "sku": ""})
    five = catalogue.offer_for_line({"product_id": 18, "variation_id": 20, "sku": ""})
    one = catalogue.offer_for_line({"product_id": 17, "variation_id": 0, "sku": ""})
    assert (three.sku, three.credits) == ("MENTOR-PACK-3H", {"mentor_minutes": 180})
    assert (five.sku, five.credits) == ("MENTOR-PACK-5H", {"mentor_minutes": 300})
    assert (one.sku, one.credits) == ("MENTOR-1H", {"mentor_minutes": 60})


def test_meta_keys_define_an_offer_the_file_does_not_know() -> None:
    """A product with bridge_kind and bridge_credits becomes an offer with source "meta"."""
    payload = with_meta(
        product(17),
        bridge_kind="mentor_hours",
        bridge_credits="critique_minutes=30, portfolio_reviews=1",
        bridge_competencies="data-visualisation,storytelling",
    )
    payload["sku"] = "CRIT-30"
    offer, problems = offer_for_record(Catalogue(), product_record(payload))
    assert problems == ()
    assert offer is not None
    assert (offer.sku, offer.kind, offer.source, offer.title) == (
        "CRIT-30",
        "mentor_hours",
        "meta",
        "Mentor hour",
    )
    assert offer.credits == {"critique_minutes": 30, "portfolio_reviews": 1}
    assert offer.competencies == ("data-visualisation", "storytelling")


def test_protected_meta_keys_with_a_leading_underscore_work_the_same() -> None:
    """_bridge_kind and friends (hidden in WP admin, set by plugins) define the same offer."""
    payload = with_meta(
        product(24),
        _bridge_kind="preview",
        _bridge_cohort="DV-2027-01",
        _bridge_duration_minutes="120",
    )
    payload["sku"] = "PREVIEW-META"
    offer, _ = offer_for_record(Catalogue(), product_record(payload))
    assert offer is not None
    assert (offer.kind, offer.cohort, offer.duration_minutes) == ("preview", "DV-2027-01", 120)


def test_every_documented_meta_key_is_read() -> None:
    """A subscription and a bundle defined wholly in meta carry every documented field."""
    sub = with_meta(
        product(25),
        bridge_kind="subscription",
        bridge_title="Mentor club",
        bridge_credits="mentor_minutes=60,portfolio_reviews=1",
        bridge_perks="priority job intros, office hours",
    )
    sub["sku"] = "SUB-META"
    bundle = with_meta(
        product(26),
        bridge_kind="bundle",
        bridge_includes="SUB-META",
        bridge_access_weeks="4",
        bridge_badge="Stacker",
        bridge_credits="mentor_minutes=120",
    )
    bundle["sku"] = "BUNDLE-META"
    catalogue = resolve_catalogue(
        Catalogue(), [product_record(sub), product_record(bundle)]
    ).catalogue
    assert catalogue.offers["SUB-META"].title == "Mentor club"
    assert catalogue.offers["SUB-META"].perks == ("priority job intros", "office hours")
    assert catalogue.credits_per_unit("BUNDLE-META") == {
        "mentor_minutes": 180,
        "portfolio_reviews": 1,
    }
    bundle_offer = catalogue.offers["BUNDLE-META"]
    assert (bundle_offer.access_weeks, bundle_offer.badge) == (4, "Stacker")
    assert {key.removeprefix("bridge_") for key in META_KEYS} == {
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
    }


def test_the_file_wins_over_meta_and_the_conflict_is_reported() -> None:
    """Meta saying PROJ-DATAVIZ is 90 minutes of mentor_hours loses to the file, loudly."""
    payload = with_meta(
        product(21),
        bridge_kind="mentor_hours",
        bridge_credits="mentor_minutes=90",
        bridge_access_weeks="6",
    )
    records = [product_record(p) for p in products() if p["id"] != 21]
    resolution = resolve_catalogue(
        read_catalogue_file(EXAMPLE),
        [*records, *map(product_record, variations()), product_record(payload)],
        file_name="catalog.toml",
    )
    offer = resolution.catalogue.offers["PROJ-DATAVIZ"]
    assert (offer.kind, offer.source, offer.credits) == ("project", "file", {"mentor_minutes": 60})
    conflicts = [p for p in resolution.problems if p.code == "meta_conflict"]
    assert [(p.woo_id, p.sku) for p in conflicts] == [(21, "PROJ-DATAVIZ")] * 2
    assert "bridge_kind is 'mentor_hours' in WooCommerce but 'project' in catalog.toml" in (
        conflicts[1].message
    )
    assert all("catalog.toml wins" in p.message for p in conflicts)


def test_meta_that_agrees_with_the_file_is_no_conflict() -> None:
    """Saying the same thing twice is fine: only disagreements are reported."""
    payload = with_meta(
        product(21),
        bridge_kind="project",
        bridge_access_weeks="6",
        bridge_credits="mentor_minutes=60",
    )
    offer, problems = offer_for_record(read_catalogue_file(EXAMPLE), product_record(payload))
    assert offer is not None and offer.source == "file"
    assert problems == ()


@pytest.mark.parametrize(
    ("meta", "key", "reason"),
    [
        (
            {"bridge_kind": "mentor_hour", "bridge_credits": "mentor_minutes=60"},
            "bridge_kind",
            "unknown kind 'mentor_hour'",
        ),
        (
            {"bridge_kind": "mentor_hours", "bridge_credits": "sixty minutes"},
            "bridge_credits",
            "is not type=amount",
        ),
        ({"bridge_credits": "mentor_minutes=60"}, "bridge_kind", "missing"),
        (
            {"bridge_kind": "project", "bridge_access_weeks": "six"},
            "bridge_access_weeks",
            "whole number",
        ),
        ({"bridge_kind": "cohort_seat"}, "bridge_cohort", "required"),
        (
            {"bridge_kind": "assessment", "_bridge_kind": "project"},
            "bridge_kind",
            "different values",
        ),
    ],
)
def test_invalid_meta_is_a_problem_naming_the_product_and_key_never_a_silent_skip(
    meta: dict[str, str], key: str, reason: str
) -> None:
    """Bad meta leaves the product unmapped and reports which key is wrong and why."""
    payload = with_meta(product(17), **meta)
    payload["sku"] = "META-1"
    resolution = resolve_catalogue(Catalogue(), [product_record(payload)])
    assert "META-1" not in resolution.catalogue.offers
    (problem,) = [p for p in resolution.problems if p.code == "invalid_meta"]
    assert problem.woo_id == 17
    assert problem.message.startswith(f"product 17: {key}: ")
    assert reason in problem.message
    with pytest.raises(CatalogueError):
        offer_from_meta("META-1", "t", payload_meta(payload), "product 17")


def payload_meta(payload: dict[str, Any]) -> dict[str, Any]:
    return {row["key"]: row["value"] for row in payload["meta_data"]}


def test_a_variation_inherits_its_products_meta_and_overrides_it() -> None:
    """WP admin has no custom fields on variations: the product's meta reaches them."""
    parent = with_meta(
        product(18),
        bridge_kind="mentor_hours",
        bridge_credits="mentor_minutes=60",
        bridge_competencies="mentoring",
    )
    child = with_meta(product(20), bridge_credits="mentor_minutes=300")
    child["sku"] = "PACK-5"
    catalogue = resolve_catalogue(
        Catalogue(), [product_record(parent), product_record(child)]
    ).catalogue
    offer = catalogue.offers["PACK-5"]
    assert (offer.kind, offer.credits, offer.competencies) == (
        "mentor_hours",
        {"mentor_minutes": 300},
        ("mentoring",),
    )
    assert offer.title == "Mentor hour pack - 5"


def test_problems_name_unmapped_offers_missing_skus_duplicates_and_unsold_cohorts() -> None:
    """The four problems of the issue, each found on a shop that has them."""
    file_catalogue = read_catalogue_file(EXAMPLE)
    shop = [p for p in products() if p["id"] not in (22, 23)]  # no cohort, no assessment
    stray = product(17)
    stray.update(id=40, sku="WORKSHOP-1", name="Chart workshop")  # virtual, unmapped
    twin = product(17)
    twin.update(id=41, name="Mentor hour (copy)")  # same SKU as product 17
    records = [product_record(p) for p in [*shop, *variations(), stray, twin]]
    problems = resolve_catalogue(file_catalogue, records).problems
    found = {(p.code, p.sku) for p in problems}
    assert found == {
        ("unmapped_product", "WORKSHOP-1"),
        ("sku_not_in_shop", "COHORT-DV-2027-01"),
        ("sku_not_in_shop", "ASSESS-DV"),
        ("duplicate_sku", "MENTOR-1H"),
        ("cohort_not_sold", None),
    }
    duplicate = next(p for p in problems if p.code == "duplicate_sku")
    assert duplicate.message == "SKU MENTOR-1H is on more than one product: product 17, product 41"


def test_an_ended_cohort_needs_no_product() -> None:
    """Once a cohort is over, its product may go: no unsold-cohort or missing-SKU problem."""
    file_catalogue = read_catalogue_file(EXAMPLE)
    records = [product_record(p) for p in [*products(), *variations()] if p["id"] != 22]
    later = datetime(2027, 3, 1, tzinfo=UTC)
    codes = {p.code for p in resolve_catalogue(file_catalogue, records, now=later).problems}
    assert codes == set()
    earlier = datetime(2026, 12, 1, tzinfo=UTC)
    codes = {p.code for p in resolve_catalogue(file_catalogue, records, now=earlier).problems}
    assert codes == {"sku_not_in_shop", "cohort_not_sold"}


def test_nothing_synced_yet_is_one_problem() -> None:
    """Before the first sync the report says so once instead of listing every SKU."""
    problems = resolve_catalogue(read_catalogue_file(EXAMPLE), []).problems
    assert [p.code for p in problems] == ["not_synced"]


def test_meta_offer_naming_an_unknown_cohort_is_a_problem() -> None:
    """bridge_cohort must name a cohort of the file; otherwise the seat could not be given."""
    payload = with_meta(product(22), bridge_kind="cohort_seat", bridge_cohort="DV-2099-01")
    payload["sku"] = "COHORT-META"
    problems = resolve_catalogue(read_catalogue_file(EXAMPLE), [product_record(payload)]).problems
    assert ("unknown_reference", "COHORT-META") in {(p.code, p.sku) for p in problems}


@pytest.mark.parametrize("missing", REQUIRED_PRODUCT_FIELDS)
def test_a_product_payload_missing_a_field_is_rejected_naming_it(missing: str) -> None:
    """The webhook or REST payload must carry what the binding needs; the error says what."""
    payload = product(17)
    del payload[missing]
    with pytest.raises(CatalogueError) as caught:
        product_record(payload)
    assert caught.value.key == missing
    assert missing in str(caught.value)


def test_a_real_variation_webhook_payload_reads_as_a_variation() -> None:
    """Delivery 0082 (product.updated for variation 19) binds like the variations endpoint."""
    _headers, body = real_delivery("0082-product.updated")
    record = product_record(json.loads(body))
    assert (record.woo_id, record.parent_id, record.woo_type, record.sku) == (
        19,
        18,
        "variation",
        "MENTOR-PACK-3H",
    )
    assert record.date_modified_gmt == datetime(2026, 11, 28, 15, 58, 46, tzinfo=UTC)
    assert record.label == "variation 19 of product 18"
