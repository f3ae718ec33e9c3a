"""Safe on a live shop: a first install and a rebuild tell no customer anything twice.

Against a shop with history that keeps the notes and coupons it is sent and refuses a
duplicate coupon code, as WooCommerce does; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlmodel import func, select

from bridge.services.orders import record_watch_start
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, OutboxItem, Seat, SQLModel, utcnow
from sync.context import RunOptions
from sync.jobs import run_job
from tests.support.live_shop import LiveShop, history, holdings
from tests.support.sync import make_ports, wc_time
from tests.support.writeback import shop_catalogue, store_shop

NOW = utcnow().replace(microsecond=0)
A_YEAR_AGO = NOW - timedelta(days=365)
MARKER = re.compile(r"\[bridge:|[0-9a-f]{12,}")


@pytest.fixture
def shop(http) -> LiveShop:
    return LiveShop(http)


@pytest.fixture
def live(settings):
    """The settings of a real install: customers hear only of what happens while it watches."""
    return settings.replace(writeback={"notify_since": None}, shop={"timezone": "Europe/Berlin"})


@pytest.fixture
def catalogue(engine):
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    return catalogue


def figures(result) -> dict:
    """Every figure of a job's summary except how long it took."""
    return {name: value for name, value in vars(result.tally).items()}


def count(engine, model) -> int:
    with unit_of_work(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_a_first_install_over_a_year_of_orders_tells_no_customer_anything(
    engine, live, catalogue, shop
):
    """Ledger, seats, order meta and stock for every old order; 0 notes, 0 coupons, 0 told."""
    history(shop, A_YEAR_AGO)
    record_watch_start(engine, NOW, "init")
    ports = make_ports(engine, live, catalogue)
    orders = run_job("orders", ports, RunOptions(full=True))
    drain = run_job("outbox", ports)
    assert orders.ok and drain.ok, (orders.reason, drain.reason)
    assert (orders.tally.seats, orders.tally.waitlisted) == (3, 2)
    assert orders.tally.grants > 0 and count(engine, LedgerEntry) > 0
    assert shop.all_notes() == [] and shop.customer_notes() == []
    assert shop.coupons == {}
    assert (orders.tally.notified, drain.tally.notified) == (0, 0)
    written = {path for _, path in shop.writes}
    assert {"orders/batch", "products/batch", "customers/batch"} <= written


def test_an_order_placed_after_the_install_is_news(engine, live, catalogue, shop):
    """The first order after the watch start gets its notes (no marker) and coupons, once."""
    history(shop, A_YEAR_AGO, cohort_buyers=2)
    record_watch_start(engine, NOW - timedelta(hours=2), "init")
    shop.place(
        900,
        [("PROJ-DATAVIZ", 1)],
        NOW - timedelta(hours=1),
        email="new@example.com",
        customer_id=8000,
    )
    ports = make_ports(engine, live, catalogue)
    orders = run_job("orders", ports, RunOptions(full=True))
    drain = run_job("outbox", ports)
    assert orders.tally.notified == 1 and drain.tally.notified == 1
    assert set(shop.notes) == {900}
    assert all(not MARKER.search(text) for text in shop.all_notes())
    [coupon_note] = [n for n in shop.customer_notes() if "personal coupon" in n and "20%" in n]
    assert len(shop.coupons) == 2
    code = next(code for code in shop.coupons if code.startswith("subscribe-after"))
    assert code in coupon_note
    # WooCommerce 11 takes date_expires in shop time (date_expires_gmt is ignored on write):
    # the end of the day the note names, 14 days after the sale, in Berlin.
    coupon = shop.coupons[code]
    assert "date_expires_gmt" not in coupon
    sold = (NOW - timedelta(hours=1)).astimezone(ZoneInfo("Europe/Berlin"))
    expires = (sold + timedelta(days=14)).date().isoformat()
    assert coupon["date_expires"] == f"{expires}T23:59:59"
    assert f"until {expires}" in coupon_note


@pytest.mark.parametrize("notify", [False, True], ids=["history", "notify"])
def test_a_dry_run_has_the_real_runs_figures_when_orders_compete_for_seats(
    engine, live, catalogue, shop, notify
):
    """Five buyers for three seats over three pages: the dry run sees what earlier pages took."""
    history(shop, NOW - timedelta(days=3))
    ports = make_ports(engine, live, catalogue, page_size=2)
    options = RunOptions(full=True, notify=notify)
    dry = run_job("orders", ports, RunOptions(full=True, notify=notify, dry_run=True))
    assert count(engine, LedgerEntry) == count(engine, Seat) == count(engine, OutboxItem) == 0
    assert shop.writes == []
    dry_drain = run_job("outbox", ports, RunOptions(dry_run=True))
    real = run_job("orders", ports, options)
    assert dry.ok and real.ok, (dry.reason, real.reason)
    assert figures(dry) == figures(real)
    assert (real.tally.seats, real.tally.waitlisted) == (3, 2)
    assert real.tally.notified == (6 if notify else 0)
    assert dry_drain.tally.notified == 0  # nothing was queued: the dry run left nothing behind
    drain_plan = run_job("outbox", ports, RunOptions(dry_run=True))
    drain = run_job("outbox", ports)
    assert drain_plan.tally.notified == drain.tally.notified == real.tally.notified
    assert figures(drain_plan) == figures(drain)  # rows sent, requests, customers told
    assert bool(shop.customer_notes()) is notify


def test_a_rebuild_from_an_empty_database_posts_nothing_the_shop_has(engine, live, catalogue, shop):
    """Database lost, schema and catalogue back, full sync and drain: 0 notes, 0 coupons."""
    start = NOW - timedelta(days=3)
    history(shop, start)
    watching = live.replace(
        writeback={"notify_since": start - timedelta(days=1)},
    )  # it watched all along
    ports = make_ports(engine, watching, catalogue)
    assert run_job("orders", ports, RunOptions(full=True)).ok
    assert run_job("outbox", ports).ok
    before = holdings(engine)
    notes, coupons = shop.posted_notes, shop.created_coupons
    assert notes > 5 and coupons > 0 and len(shop.customer_notes()) > 5
    assert all(not MARKER.search(text) for text in shop.all_notes())

    with engine.begin() as connection:  # the database is lost
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name != "alembic_version":
                connection.execute(delete(table))
    store_shop(engine, catalogue)
    for settings in (watching, live):  # the same settings file, or none that remembers
        rebuilt = run_job(
            "orders",
            make_ports(engine, settings, catalogue),
            RunOptions(full=True, notify=settings is watching),
        )
        drain = run_job("outbox", make_ports(engine, settings, catalogue))
        assert rebuilt.ok and drain.ok, (rebuilt.reason, drain.reason)
        assert (shop.posted_notes, shop.created_coupons) == (notes, coupons)
        assert drain.tally.notified == 0
        assert holdings(engine) == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bridge_sync_dry_run_of_every_job_has_the_real_runs_figures(engine, database_url, shop):
    """`bridge sync --full --dry-run`: catalogue, orders, outbox... each as the real run says."""
    from tests.support.sync import bridge, shop_env

    start = NOW - timedelta(days=3)
    history(shop, start)
    env = shop_env(database_url, BRIDGE_NOTIFY_SINCE=wc_time(start - timedelta(days=1)))
    dry = bridge("sync", "--full", "--dry-run", "--json", env=env)
    assert shop.writes == [] and count(engine, LedgerEntry) == 0
    real = bridge("sync", "--full", "--json", env=env)
    assert dry.exit_code == real.exit_code == 0, (dry.output, real.output)

    def shown(output: str) -> list[dict]:
        return [
            {k: v for k, v in job.items() if k not in ("duration", "dry_run", "notes", "changes")}
            for job in json.loads(output)
        ]

    assert shown(dry.stdout) == shown(real.stdout)
    by_job = {job["job"]: job for job in json.loads(real.stdout)}
    assert (by_job["orders"]["seats"], by_job["orders"]["waitlisted"]) == (3, 2)
    assert by_job["outbox"]["notified"] == by_job["orders"]["notified"] > 0
