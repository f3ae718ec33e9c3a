"""`bridge catalog`: the report, --check exit codes, sync, and the exported competency catalogue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import responses
from click.testing import CliRunner, Result

from bridge.cli.main import main
from tests.support.catalogue import real_products, real_variations, serve_shop
from tests.support.paths import EXAMPLE_CATALOGUE, ROOT

SCHEMA = ROOT / "schemas" / "competency-catalogue.schema.json"
SHOP_ENV = (
    "WOOCOMMERCE_URL=https://shop.example.com\n"
    "WOOCOMMERCE_CONSUMER_KEY=ck_test_0123456789\n"
    "WOOCOMMERCE_CONSUMER_SECRET=cs_test_0123456789\n"
    "BRIDGE_HTTP_MAX_ATTEMPTS=1\n"
)


@pytest.fixture
def workdir(workdir: Path, database_url: str) -> Path:
    """The conftest's empty folder with catalog.toml (the example) and a test.env on the test
    database, no shop."""
    shutil.copy(EXAMPLE_CATALOGUE, workdir / "catalog.toml")
    (workdir / "test.env").write_text(
        f"DATABASE_URL={database_url}\nBRIDGE_CATALOG_FILE=catalog.toml\n"
    )
    return workdir


def bridge(*args: str) -> Result:
    return CliRunner().invoke(main, ["--env-file", "test.env", *args], terminal_width=100)


def with_shop(workdir: Path) -> None:
    with (workdir / "test.env").open("a") as env:
        env.write(SHOP_ENV)


def sync_real_shop(workdir: Path, products: list[dict] | None = None) -> Result:
    """Run `bridge catalog sync` against the real sample shop's products."""
    with_shop(workdir)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as shop:
        serve_shop(
            shop, real_products() if products is None else products, variations=real_variations()
        )
        return bridge("catalog", "sync")


def test_check_fails_before_the_first_sync_and_passes_once_the_shop_matches(
    workdir: Path,
) -> None:
    """--check exits 1 while nothing is synced, and 0 once every SKU has its product."""
    before = bridge("catalog", "--check")
    assert before.exit_code == 1, before.output
    assert "no WooCommerce products known yet" in before.output
    synced = sync_real_shop(workdir)
    assert synced.exit_code == 0, synced.output
    after = bridge("catalog", "--check")
    assert after.exit_code == 0, after.output
    assert "No problems." in after.output


def test_check_fails_when_a_file_sku_has_no_product(workdir: Path) -> None:
    """The assessment product gone from the shop is a problem; without --check it exits 0."""
    sync_real_shop(workdir, [p for p in real_products() if p["id"] != 23])
    checked = bridge("catalog", "--check")
    assert checked.exit_code == 1
    assert "ASSESS-DV is in catalog.toml but no WooCommerce product" in checked.output
    assert bridge("catalog").exit_code == 0


def test_catalog_shows_product_price_what_a_unit_confers_and_seats(workdir: Path) -> None:
    """Each micro-SKU block names its product, price and conferral; the cohort its seats."""
    sync_real_shop(workdir)
    output = bridge("catalog").output
    assert (
        "MENTOR-PACK-5H  mentor_hours  [file]  Mentor hour pack, 5 hours\n"
        "  sold by   variation 20 of product 18 '5', price 260.00\n"
        "  confers   5 h of mentor time\n" in output
    )
    assert "  seats     capacity 3, taken 0, left 3\n" in output
    assert "  confers   what PROJ-DATAVIZ and ASSESS-DV confer; plus 2 h of mentor time\n" in (
        output
    )
    assert "DV-2027-01  2027-01-11 to 2027-02-19 Europe/Berlin  capacity 3" in output
    assert "product 21: meta key bridge_offer is not a bridge key" in output


def test_json_report_carries_offers_cohorts_and_problems(workdir: Path) -> None:
    """--json prints the same report as data: products, capacity / taken / left, problems."""
    sync_real_shop(workdir)
    result = bridge("catalog", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    offers = {offer["sku"]: offer for offer in data["offers"]}
    assert offers["MENTOR-1H"]["products"][0]["woo_id"] == 17
    assert offers["MENTOR-1H"]["price"] == "60.00"
    assert offers["COHORT-DV-2027-01"]["cohort"]["capacity"] == 3
    assert (data["cohorts"][0]["taken"], data["cohorts"][0]["left"]) == (0, 3)
    assert data["problems"] == []


def test_an_invalid_catalogue_file_exits_1_naming_file_key_and_reason(workdir: Path) -> None:
    """An unknown kind in the file stops `bridge catalog` with one error line."""
    path = workdir / "catalog.toml"
    path.write_text(path.read_text().replace('kind = "assessment"', 'kind = "exam"'))
    result = bridge("catalog", "--check")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: catalog.toml: offers.ASSESS-DV.kind: unknown kind 'exam' (expected one of "
        "mentor_hours, project, cohort_seat, assessment, preview, subscription, bundle)"
    ]


def test_a_missing_catalogue_file_is_a_problem_but_meta_still_works(workdir: Path) -> None:
    """Without the file, the report runs on product meta and --check fails, naming the file."""
    (workdir / "catalog.toml").unlink()
    result = bridge("catalog", "--check")
    assert result.exit_code == 1
    assert "catalogue file catalog.toml not found" in result.output


def test_sync_without_a_shop_says_woocommerce_url_is_not_set(workdir: Path) -> None:
    """No shop configured: one line naming WOOCOMMERCE_URL and exit status 1."""
    result = bridge("catalog", "sync")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "WOOCOMMERCE_URL is not set" in result.output


def test_sync_prints_a_summary(workdir: Path) -> None:
    """The sync reports products, variations, what was bound and how many requests it took."""
    result = sync_real_shop(workdir)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "synced 11 products and 2 variations (10 bound, 3 unmapped, 0 invalid, 0 stale, "
        "0 deactivated; 13 changed); 1 cohort and 10 offers stored; 3 requests"
    ]


def test_exported_json_manifest_validates_against_the_schema(workdir: Path) -> None:
    """The manifest follows schemas/competency-catalogue.schema.json, with shop prices."""
    sync_real_shop(workdir)
    result = bridge("catalog", "export", "--format", "json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(manifest)
    (competency,) = manifest["competencies"]
    assert (competency["id"], competency["title"]) == ("data-visualisation", "Data visualisation")
    offers = {offer["sku"]: offer for offer in competency["offers"]}
    assert list(offers) == ["PROJ-DATAVIZ", "ASSESS-DV", "BUNDLE-DV-STACK", "TEAM-DV-PROJECT-5"]
    assert offers["PROJ-DATAVIZ"] | {"credits": None} == {
        "sku": "PROJ-DATAVIZ",
        "title": "Data-viz portfolio project",
        "kind": "project",
        "duration": "P6W",
        "price": "149.00",
        "available": True,
        "badge": None,
        "credits": None,
        "includes": [],
        "cohort": None,
    }
    assert offers["BUNDLE-DV-STACK"]["badge"] == "Data-viz practitioner"
    assert manifest["currency"] == "EUR"


def test_the_schema_rejects_a_manifest_that_breaks_it(workdir: Path) -> None:
    """An employer's tool can rely on the schema: a wrong kind or a float price fails it."""
    result = bridge("catalog", "export", "--format", "json")
    manifest = json.loads(result.output)
    manifest["competencies"][0]["offers"][0]["kind"] = "course"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert not validator.is_valid(manifest)


def test_export_writes_markdown_or_html_for_people(workdir: Path) -> None:
    """--output picks the format from the file name; both list the competency and its offers."""
    sync_real_shop(workdir)
    assert bridge("catalog", "export", "--output", "catalogue.md").exit_code == 0
    markdown = (workdir / "catalogue.md").read_text()
    assert "## Data visualisation" in markdown
    assert "| Data-viz portfolio project | PROJ-DATAVIZ | project | 6 weeks | 149.00 EUR |  |" in (
        markdown
    )
    result = bridge("catalog", "export", "--format", "html", "--output", "catalogue.html")
    assert result.output == "wrote catalogue.html (html, 1 competency)\n"
    page = (workdir / "catalogue.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "<td>Data-viz practitioner</td>" in page
