"""`bridge outbox drain` and `bridge catalog sync` run by hand are their jobs' runs, as `bridge
sync JOB` is: the console stops saying "never" (issue 33, honest state)."""

from __future__ import annotations

import shutil
from pathlib import Path

import responses
from click.testing import CliRunner
from sqlalchemy import Engine

from bridge.cli.main import main
from bridge.services.operations import last_job_runs
from bridge.services.writeback.plan import enqueue_cohort_stock
from bridge.store.db import unit_of_work
from tests.support.catalogue import real_products, real_variations, serve_shop
from tests.support.paths import EXAMPLE_CATALOGUE
from tests.support.writeback import FakeShop, shop_catalogue, store_shop

SHOP_ENV = {
    "WOOCOMMERCE_URL": "https://shop.example.com",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
}


def test_a_drain_by_hand_is_the_outbox_jobs_run(workdir: Path, database_url: str, engine: Engine):
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    with unit_of_work(engine) as session:
        enqueue_cohort_stock(session, catalogue)
        session.commit()
    assert "outbox" not in last_job_runs(engine)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeShop(rsps)
        result = CliRunner().invoke(
            main, ["outbox", "drain"], env={"DATABASE_URL": database_url, **SHOP_ENV}
        )
    assert result.exit_code == 0, result.output
    run = last_job_runs(engine)["outbox"]
    assert run["status"] == "ok" and run["summary"]["manual"] is True
    assert run["summary"]["changed"] == 1


def test_a_catalogue_sync_by_hand_is_the_catalog_jobs_run_and_a_failure_is_kept(
    workdir: Path, database_url: str, engine: Engine
):
    shutil.copy(EXAMPLE_CATALOGUE, workdir / "catalog.toml")
    env = {"DATABASE_URL": database_url, "BRIDGE_CATALOG_FILE": "catalog.toml", **SHOP_ENV}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as shop:
        serve_shop(shop, real_products(), variations=real_variations())
        result = CliRunner().invoke(main, ["catalog", "sync"], env=env)
    assert result.exit_code == 0, result.output
    assert last_job_runs(engine)["catalog"]["status"] == "ok"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as shop:
        shop.get(
            "https://shop.example.com/wp-json/wc/v3/products",
            status=401,
            json={"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list."},
        )
        failed = CliRunner().invoke(main, ["catalog", "sync"], env=env)
    assert failed.exit_code == 1
    run = last_job_runs(engine)["catalog"]
    assert run["status"] == "failed" and run["reason"]
