"""Catalogue sync and product webhooks on both databases, the shop faked at the HTTP level."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import responses
from sqlalchemy import Engine
from sqlmodel import select

from bridge.rules.catalogue.catalog import Catalogue, CatalogueError
from bridge.services.catalogue import (
    apply_product_payload,
    inspect_catalogue,
    load_catalogue,
    read_catalogue_file,
    store_cohorts,
    sync_catalogue,
)
from bridge.settings import Settings
from bridge.shop.client import WooClient
from bridge.store.db import unit_of_work
from bridge.store.models import Cohort, Learner, ProductBinding, Seat
from bridge.store.models import Offer as OfferRow
from tests.support.catalogue import real_products, real_variations, serve_shop
from tests.support.paths import ROOT, real_delivery

EXAMPLE = ROOT / "catalog.example.toml"
SAMPLE_BINDINGS = {
    17: "MENTOR-1H",
    19: "MENTOR-PACK-3H",
    20: "MENTOR-PACK-5H",
    21: "PROJ-DATAVIZ",
    22: "COHORT-DV-2027-01",
    23: "ASSESS-DV",
    24: "PREVIEW-DV",
    25: "SUB-MENTOR-MONTHLY",
    27: "TEAM-DV-PROJECT-5",
    26: "BUNDLE-DV-STACK",
}


def real_order(name: str) -> dict[str, Any]:
    return json.loads(real_delivery(name)[1])


def example() -> Catalogue:
    return read_catalogue_file(EXAMPLE)


@pytest.fixture
def shop() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def woo_client(settings: Settings) -> Iterator[WooClient]:
    with WooClient(settings, sleep=lambda _seconds: None) as client:
        yield client


def synced(engine: Engine, shop: responses.RequestsMock, woo_client: WooClient) -> None:
    """The real sample shop, synced against the example file."""
    serve_shop(shop, real_products(), variations=real_variations())
    sync_catalogue(engine, woo_client, example())


def bindings(engine: Engine) -> dict[int, ProductBinding]:
    with unit_of_work(engine) as session:
        return {row.woo_id: row for row in session.exec(select(ProductBinding)).all()}


def apply(engine: Engine, payload: dict[str, Any], catalogue: Catalogue | None = None) -> Any:
    with unit_of_work(engine) as session:
        outcome = apply_product_payload(session, payload, catalogue or example())
        session.commit()
    return outcome


def test_sync_binds_every_product_and_variation_of_the_real_shop(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """Two pages of products, the trash listing and product 18's variations: 12 bindings."""
    serve_shop(shop, real_products(), variations=real_variations(), pages=2)
    result = sync_catalogue(engine, woo_client, example())
    assert (result.products, result.variations, result.requests) == (11, 2, 4)
    assert dict(result.actions) == {"bound": 10, "unmapped": 3}
    assert result.rejected == [] and result.problems == []
    assert result.newest_modified_gmt == datetime(2026, 11, 28, 15, 58, 53, tzinfo=UTC)
    rows = bindings(engine)
    assert {woo_id: row.offer_sku for woo_id, row in rows.items() if row.offer_sku} == (
        SAMPLE_BINDINGS
    )
    assert {woo_id for woo_id, row in rows.items() if not row.offer_sku} == {11, 13, 18}
    variation = rows[19]
    assert (variation.parent_id, variation.woo_type, variation.price, variation.sku) == (
        18,
        "variation",
        "170.00",
        "MENTOR-PACK-3H",
    )
    assert variation.date_modified_gmt == datetime(2026, 11, 28, 15, 58, 46, tzinfo=UTC)


def test_sync_stores_the_cohort_with_its_capacity_and_utc_dates(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """The Cohort row carries code, title, UTC start and end, zone, capacity 3 and waitlist."""
    synced(engine, shop, woo_client)
    with unit_of_work(engine) as session:
        cohort = session.get(Cohort, "DV-2027-01")
    assert cohort is not None
    assert (cohort.title, cohort.timezone, cohort.capacity, cohort.waitlist) == (
        "Data-viz cohort, January 2027",
        "Europe/Berlin",
        3,
        True,
    )
    assert cohort.starts_at == datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    assert cohort.ends_at == datetime(2027, 2, 19, 17, 0, tzinfo=UTC)


def test_loaded_catalogue_maps_the_real_orders_lines(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """Order 0030's variation line and project line, and renewal 0074's line, map to offers."""
    synced(engine, shop, woo_client)
    catalogue = load_catalogue(engine, example())
    pack, project = (
        catalogue.offer_for_line(line) for line in real_order("0030-order.created")["line_items"]
    )
    assert (pack.sku, pack.credits) == ("MENTOR-PACK-3H", {"mentor_minutes": 180})
    assert project.sku == "PROJ-DATAVIZ"
    (renewal,) = real_order("0074-order.created")["line_items"]
    subscription = catalogue.offer_for_line(renewal)
    assert subscription.kind == "subscription"
    assert catalogue.credits_per_unit(subscription.sku) == {
        "mentor_minutes": 60,
        "portfolio_reviews": 1,
    }
    assert subscription.perks == ("priority job intros",)


def test_the_variable_products_variations_are_separate_skus(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """The 1 h product and the 3 h and 5 h variations map to three offers."""
    synced(engine, shop, woo_client)
    catalogue = load_catalogue(engine, example())
    lines = [
        {"product_id": 17, "variation_id": 0},
        {"product_id": 18, "variation_id": 19},
        {"product_id": 18, "variation_id": 20},
    ]
    assert [
        catalogue.credits_per_unit(catalogue.offer_for_line(line).sku)["mentor_minutes"]
        for line in lines
    ] == [60, 180, 300]


def test_the_bundle_product_confers_project_assessment_and_mentor_time(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """A line of product 26 is the bundle: both included offers plus 120 minutes."""
    synced(engine, shop, woo_client)
    catalogue = load_catalogue(engine, example())
    bundle = catalogue.offer_for_line({"product_id": 26, "variation_id": 0, "sku": ""})
    assert [offer.sku for offer in catalogue.expand(bundle.sku)] == [
        "BUNDLE-DV-STACK",
        "PROJ-DATAVIZ",
        "ASSESS-DV",
    ]
    assert catalogue.credits_per_unit(bundle.sku) == {"mentor_minutes": 180}


def test_sync_records_offers_with_their_definition(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """Every offer gets a row: kind, source, definition, and active while a product sells it."""
    synced(engine, shop, woo_client)
    with unit_of_work(engine) as session:
        rows = {row.sku: row for row in session.exec(select(OfferRow)).all()}
    assert set(rows) == set(SAMPLE_BINDINGS.values())
    assert all(row.active and row.source == "file" for row in rows.values())
    assert rows["SUB-MENTOR-MONTHLY"].definition["perks"] == ["priority job intros"]


def test_incremental_sync_asks_for_changes_only_and_keeps_unseen_products(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """modified_after goes to WooCommerce as GMT; products not listed then stay bound."""
    synced(engine, shop, woo_client)
    changed = [p for p in real_products() if p["id"] == 22]
    changed[0].update(date_modified_gmt="2026-11-29T10:00:00", price="420.00")
    serve_shop(
        shop, changed, extra={"modified_after": "2026-11-29T00:00:00", "dates_are_gmt": "true"}
    )
    berlin_one_am = datetime(2026, 11, 29, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    result = sync_catalogue(engine, woo_client, example(), modified_after=berlin_one_am)
    assert (result.full, result.products, dict(result.actions)) == (False, 1, {"bound": 1})
    rows = bindings(engine)
    assert rows[22].price == "420.00"
    assert all(row.active for row in rows.values())


def test_a_stale_product_payload_is_ignored(engine: Engine) -> None:
    """An older payload of variation 19 (from a late webhook) changes nothing."""
    _headers, body = real_delivery("0082-product.updated")
    assert apply(engine, json.loads(body)).action == "bound"
    older = json.loads(body)
    older.update(date_modified_gmt="2026-11-28T15:52:21", price="150.00", sku="OLD-SKU")
    outcome = apply(engine, older)
    assert (outcome.action, outcome.offer_sku) == ("stale", "MENTOR-PACK-3H")
    row = bindings(engine)[19]
    assert (row.price, row.sku, row.offer_sku) == ("170.00", "MENTOR-PACK-3H", "MENTOR-PACK-3H")


def test_the_same_payload_again_is_applied_again_harmlessly(engine: Engine) -> None:
    """Equal dates re-apply, so an edited catalogue file takes effect on a redelivery."""
    _headers, body = real_delivery("0082-product.updated")
    apply(engine, json.loads(body))
    outcome = apply(engine, json.loads(body), Catalogue())
    assert outcome.action == "unmapped"
    assert bindings(engine)[19].offer_sku is None


def test_trash_deactivates_the_offer_but_keeps_its_history(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """product.deleted ({"id": 22}) stops selling the cohort; old orders still map to it."""
    synced(engine, shop, woo_client)
    outcome = apply(engine, {"id": 22})
    assert (outcome.action, outcome.offer_sku) == ("deactivated", "COHORT-DV-2027-01")
    row = bindings(engine)[22]
    assert (row.active, row.woo_status, row.offer_sku) == (False, "trash", "COHORT-DV-2027-01")
    catalogue = load_catalogue(engine, example())
    assert catalogue.offer_for_line({"product_id": 22, "variation_id": 0}).sku == (
        "COHORT-DV-2027-01"
    )
    assert not catalogue.is_on_sale("COHORT-DV-2027-01")
    assert catalogue.cohort_products("DV-2027-01") == ()
    with unit_of_work(engine) as session:
        assert session.get(OfferRow, "COHORT-DV-2027-01").active is False
    codes = {p.code for p in inspect_catalogue(engine, example()).resolution.problems}
    assert codes == {"sku_not_in_shop", "cohort_not_sold"}


def test_a_trashed_variable_product_takes_its_variations_with_it(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """Status trash on product 18 retires variations 19 and 20 too; restoring revives them."""
    synced(engine, shop, woo_client)
    parent = next(p for p in real_products() if p["id"] == 18)
    parent.update(status="trash", date_modified_gmt="2026-11-29T09:00:00")
    assert apply(engine, parent).action == "deactivated"
    rows = bindings(engine)
    assert (rows[18].active, rows[19].active, rows[20].active) == (False, False, False)
    late = next(v for v in real_variations() if v["id"] == 19)
    late.update(date_modified_gmt="2026-11-29T09:01:00")
    assert apply(engine, late).action == "deactivated"
    parent.update(status="publish", date_modified_gmt="2026-11-29T09:05:00")
    apply(engine, parent)
    rows = bindings(engine)
    assert (rows[18].active, rows[19].active, rows[20].active) == (True, True, True)


def test_a_variation_no_longer_listed_by_its_product_is_deactivated(engine: Engine) -> None:
    """A deleted variation disappears from the product's variations list, and so from sale."""
    parent = next(p for p in real_products() if p["id"] == 18)
    apply(engine, parent)
    for variation in real_variations():
        apply(engine, variation)
    parent.update(variations=[19], date_modified_gmt="2026-11-29T09:00:00")
    apply(engine, parent)
    rows = bindings(engine)
    assert (rows[19].active, rows[20].active) == (True, False)
    assert not load_catalogue(engine, example()).is_on_sale("MENTOR-PACK-5H")


def test_full_sync_deactivates_products_the_shop_no_longer_lists(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """A product deleted for good is absent from both listings: the full sync retires it."""
    synced(engine, shop, woo_client)
    remaining = [p for p in real_products() if p["id"] != 23]
    serve_shop(shop, remaining, variations=real_variations())
    result = sync_catalogue(engine, woo_client, example())
    assert result.deactivated == [23]
    assert bindings(engine)[23].active is False


def test_incremental_sync_reads_the_trash_too(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """A trash whose webhook was lost is caught by the status=trash listing."""
    synced(engine, shop, woo_client)
    trashed = next(p for p in real_products() if p["id"] == 24)
    trashed.update(status="trash", date_modified_gmt="2026-11-29T10:00:00")
    serve_shop(
        shop,
        [],
        trashed=[trashed],
        extra={"modified_after": "2026-11-29T00:00:00", "dates_are_gmt": "true"},
    )
    result = sync_catalogue(
        engine, woo_client, example(), modified_after=datetime(2026, 11, 29, tzinfo=UTC)
    )
    assert result.deactivated == [24]
    assert not load_catalogue(engine, example()).is_on_sale("PREVIEW-DV")


def test_dry_run_reads_the_shop_and_stores_nothing(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """A dry run reports what it would bind and leaves the database as it was."""
    serve_shop(shop, real_products(), variations=real_variations())
    result = sync_catalogue(engine, woo_client, example(), dry_run=True)
    assert (result.dry_run, result.actions["bound"]) == (True, 10)
    assert bindings(engine) == {}
    with unit_of_work(engine) as session:
        assert session.exec(select(Cohort)).all() == []


def test_a_deletion_of_an_unknown_product_is_ignored(engine: Engine) -> None:
    """{"id": N} for a product never seen has nothing to deactivate."""
    assert apply(engine, {"id": 999}).action == "unknown"
    assert bindings(engine) == {}


def test_a_payload_missing_a_field_is_rejected_and_the_sync_goes_on(
    engine: Engine, shop: responses.RequestsMock, woo_client: WooClient
) -> None:
    """apply_product_payload names the missing field; the sync reports it and binds the rest."""
    broken = next(p for p in real_products() if p["id"] == 17)
    del broken["date_modified_gmt"]
    with (
        pytest.raises(CatalogueError, match="date_modified_gmt: missing"),
        unit_of_work(engine) as session,
    ):
        apply_product_payload(session, broken, example())
    products = [broken if p["id"] == 17 else p for p in real_products()]
    serve_shop(shop, products, variations=real_variations())
    result = sync_catalogue(engine, woo_client, example())
    assert result.rejected == ["product 17 payload: date_modified_gmt: missing"]
    assert result.actions["bound"] == 9


def test_a_product_defined_by_meta_alone_is_bound_with_source_meta(engine: Engine) -> None:
    """A product.created webhook with bridge meta makes a new offer, stored with source meta."""
    payload = next(p for p in real_products() if p["id"] == 17)
    payload.update(id=50, sku="CRIT-30", name="Critique session")
    payload["meta_data"] = [
        {"id": 1, "key": "bridge_kind", "value": "mentor_hours"},
        {"id": 2, "key": "bridge_credits", "value": "critique_minutes=30"},
    ]
    outcome = apply(engine, payload)
    assert (outcome.action, outcome.offer_sku) == ("bound", "CRIT-30")
    catalogue = load_catalogue(engine, example())
    offer = catalogue.offer_for_line({"product_id": 50, "variation_id": 0})
    assert (offer.source, offer.credits) == ("meta", {"critique_minutes": 30})
    with unit_of_work(engine) as session:
        row = session.get(OfferRow, "CRIT-30")
    assert (row.source, row.kind, row.active) == ("meta", "mentor_hours", True)


def test_invalid_meta_on_a_webhook_payload_is_stored_and_reported(engine: Engine) -> None:
    """The product is kept (unmapped) and the report says which meta key is wrong."""
    payload = next(p for p in real_products() if p["id"] == 17)
    payload.update(id=51, sku="CRIT-X")
    payload["meta_data"] = [{"id": 1, "key": "bridge_kind", "value": "mentoring"}]
    outcome = apply(engine, payload)
    assert outcome.action == "invalid"
    (problem,) = outcome.problems
    assert problem.message.startswith("product 51: bridge_kind: unknown kind 'mentoring'")
    report = inspect_catalogue(engine, Catalogue())
    assert "invalid_meta" in {p.code for p in report.resolution.problems}


def seat(learner_id: int | None, number: int, status: str) -> Seat:
    """A seat row in DV-2027-01; the entitlements work owns the other columns, so fill any."""
    fields = {
        "cohort_code": "DV-2027-01",
        "learner_id": learner_id,
        "status": status,
        "source_key": f"test:{number}",
        "grant_key": f"test:{number}",
        "queued_seq": number,
    }
    return Seat(**{name: value for name, value in fields.items() if name in Seat.model_fields})


def test_report_counts_active_seats_per_cohort(engine: Engine) -> None:
    """Taken seats are the active rows of table seat; waitlisted and released do not count."""
    with unit_of_work(engine) as session:
        store_cohorts(session, example())
        session.commit()
    with unit_of_work(engine) as session:
        learner = Learner(email="ada@example.com")
        session.add(learner)
        session.flush()
        for number, status in enumerate(["active", "active", "waitlisted", "released"]):
            session.add(seat(learner.id, number, status))
        session.commit()
    report = inspect_catalogue(engine, example())
    assert dict(report.seats_taken) == {"DV-2027-01": 2}
