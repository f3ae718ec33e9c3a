"""A paid line that sells no micro-SKU is visible everywhere a creator looks, unless marked so."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime

from click.testing import CliRunner
from sqlmodel import select

from bridge.cli.main import main
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.rules.catalogue.products import ProductRecord, resolve_catalogue
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.rules.report.rows import report_period
from bridge.services.inbox import Delivery, process_delivery, record_delivery
from bridge.services.orders import build_handlers, process_order
from bridge.services.reporting import build_report
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, LedgerEntry, UnmappedLine
from tests.support.paths import ROOT
from tests.support.sample_shop import make_order


def bridge(database_url: str, *args: str):
    env = {"DATABASE_URL": database_url, "BRIDGE_CATALOG_FILE": str(ROOT / "catalog.example.toml")}
    return CliRunner().invoke(main, ["--env-file", "/dev/null", *args], env=env, terminal_width=120)


def unmapped_rows(engine) -> list[tuple]:
    with unit_of_work(engine) as session:
        return [
            (r.order_id, r.line_item_id, r.sku, r.product_id, r.quantity)
            for r in session.exec(select(UnmappedLine)).all()
        ]


def test_a_paid_line_that_sells_nothing_is_recorded_with_the_order_and_warned_in_the_inbox(
    engine, settings, catalogue
):
    """NOPE-SKU is kept with its order, line and product; the delivery has warnings."""
    order = make_order(400, [("MENTOR-1H", 1), ("NOPE-SKU", 2)])
    delivery = Delivery(
        topic="order.created",
        webhook_id="5",
        delivery_id="d-400",
        headers={},
        body=json.dumps(order).encode(),
        payload=order,
    )
    inbox_id = record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    assert process_delivery(engine, inbox_id, handlers, max_attempts=3) == DeliveryStatus.PROCESSED
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, inbox_id)
        assert row.status == DeliveryStatus.PROCESSED
        assert row.last_error.startswith("processed with warnings: order 400 sells no micro-SKU")
        assert "NOPE-SKU" in row.last_error and "product 999" in row.last_error
    assert unmapped_rows(engine) == [(400, 40001, "NOPE-SKU", 999, 2)]
    # Cancelled, the order sells nothing any more: nothing is left to warn about.
    process_order(
        engine,
        make_order(
            400,
            [("MENTOR-1H", 1), ("NOPE-SKU", 2)],
            status="cancelled",
            modified="2026-11-29T10:00:00",
        ),
        catalogue=catalogue,
        settings=settings,
    )
    assert unmapped_rows(engine) == []


def test_products_marked_as_no_offer_are_silent(engine, settings, catalogue):
    """not_offers in the file, or bridge_kind = none on the product: no row, no warning."""
    marked = dataclasses.replace(catalogue, not_offers=frozenset({"TEMPLATE-PACK"}))
    record = ProductRecord(
        woo_id=999, sku="MUG", name="Mug", virtual=False, bridge_meta={"bridge_kind": "none"}
    )
    resolved = resolve_catalogue(marked, [record]).catalogue
    assert resolved.not_offer_ids == frozenset({999})
    process_order(
        engine,
        make_order(401, [("TEMPLATE-PACK", 1), ("MUG", 1)]),
        catalogue=resolved,
        settings=settings,
    )
    assert unmapped_rows(engine) == []
    text = 'not_offers = ["TEMPLATE-PACK"]\n' + (ROOT / "catalog.example.toml").read_text()
    assert parse_catalogue(text).not_offers == frozenset({"TEMPLATE-PACK"})


def test_an_unmapped_virtual_product_is_a_warning_and_strict_makes_it_fail(
    engine, settings, catalogue, database_url
):
    """catalog --check lists the SKUs sold but missing, with counts; --strict fails on them."""
    for order_id in (402, 403):
        process_order(
            engine,
            make_order(
                order_id, [("NOPE-SKU", 1)], email=f"l{order_id}@example.com", customer_id=order_id
            ),
            catalogue=catalogue,
            settings=settings,
        )
    virtual = ProductRecord(woo_id=77, sku="EBOOK", name="E-book", virtual=True)
    [problem] = [
        p for p in resolve_catalogue(catalogue, [virtual]).problems if p.code == "unmapped_product"
    ]
    assert problem.severity == "warning" and "not_offers" in problem.message

    result = bridge(database_url, "catalog", "--check", "--json")
    data = json.loads(result.output)
    assert data["unmapped_skus"] == [
        {
            "sku": "NOPE-SKU",
            "lines": 2,
            "orders": 2,
            "units": 2,
            "product_ids": [999],
            "order_ids": [402, 403],
        }
    ]
    assert [w["code"] for w in data["warnings"]] == ["unmapped_sku"]
    text = bridge(database_url, "catalog").output
    assert "SKUs sold in orders but missing from the catalogue" in text
    assert "NOPE-SKU" in text and "2 lines in 2 orders, 2 units" in text
    strict = bridge(database_url, "catalog", "--check", "--strict")
    assert strict.exit_code == 1
    assert result.exit_code == (1 if data["problems"] else 0)
    doctor = bridge(database_url, "doctor", "--json")
    [lines] = [c for c in json.loads(doctor.output) if c["check"] == "order lines"]
    assert lines["ok"] is False and "NOPE-SKU (2)" in lines["detail"]


def test_healthz_reports_unmapped_skus(engine, settings, catalogue, database_url):
    """/healthz says which SKUs were sold without granting anything."""
    from webhooks.app import create_app

    process_order(
        engine, make_order(404, [("NOPE-SKU", 1)]), catalogue=catalogue, settings=settings
    )
    body = create_app(settings, engine).test_client().get("/healthz").get_json()
    assert body["unmapped_skus"] == {"NOPE-SKU": 1}


def test_the_report_keeps_unmapped_revenue_apart_and_dates_grants_by_the_sale(
    engine, settings, catalogue
):
    """A backfilled 2025 order's minutes land in its month; NOPE-SKU is no micro-SKU revenue."""
    order = make_order(
        405,
        [("MENTOR-1H", 1), ("NOPE-SKU", 1)],
        modified="2025-03-10T10:00:00",
        paid="2025-03-10T10:00:00",
    )
    order["line_items"][0]["total"] = "60.00"
    order["line_items"][1]["total"] = "25.00"
    process_order(engine, order, catalogue=catalogue, settings=settings)
    with unit_of_work(engine) as session:
        sales = {row.sale_at for row in session.exec(select(LedgerEntry)).all()}
    assert sales == {datetime(2025, 3, 10, 10, 0, tzinfo=UTC)}
    period = report_period(
        date(2025, 1, 1), date(2025, 12, 31), "UTC", datetime(2026, 1, 1, tzinfo=UTC)
    )
    report = build_report(engine, period, datetime(2026, 1, 1, tzinfo=UTC))
    march = next(m for m in report.mentor_months if m.month == "2025-03")
    assert march.granted == 60 + 30
    assert sum(m.granted for m in report.mentor_months if m.month != "2025-03") == 0
    skus = [row.sku for row in report.revenue]
    assert skus == ["MENTOR-1H", "NOPE-SKU (not a micro-SKU)"]
    [total] = report.revenue_totals
    assert str(total.revenue) == "60.00"
