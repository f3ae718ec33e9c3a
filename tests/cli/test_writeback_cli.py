"""`bridge outbox`: list, show, retry, drain and the dry run, as a person or a script sees them."""

from __future__ import annotations

import json
import re

import pytest
import responses
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from bridge.cli.main import main
from bridge.services.writeback.plan import enqueue_cohort_stock
from bridge.store.db import unit_of_work
from bridge.store.models import OutboxItem
from tests.support.writeback import FakeShop, outbox, shop_catalogue, store_shop

SHOP_ENV = {
    "WOOCOMMERCE_URL": "https://shop.example.com",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
}


@pytest.fixture
def queued(engine: Engine) -> int:
    """One stock write-back for the cohort product 22; returns its row id."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    with unit_of_work(engine) as session:
        enqueue_cohort_stock(session, catalogue)
        session.commit()
    return outbox(engine)[0].id


def bridge(database_url: str, *args: str, shop: bool = False) -> Result:
    env = {"DATABASE_URL": database_url, **(SHOP_ENV if shop else {})}
    return CliRunner().invoke(main, list(args), env=env, terminal_width=100)


def test_outbox_lists_what_waits_and_dry_runs_the_exact_requests(
    workdir, database_url, engine, queued
):
    """`bridge outbox` lists with counts (--json alike); --dry-run prints the requests only."""
    result = bridge(database_url, "outbox")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "outbox: 1 pending"
    assert re.search(rf"#{queued} +pending +product:22:stock +not tried yet", result.output)
    data = json.loads(bridge(database_url, "outbox", "--json").output)
    assert data["counts"] == {"pending": 1}
    assert data["rows"][0]["target_key"] == "product:22:stock"
    with responses.RequestsMock():  # any request would fail the test
        result = bridge(database_url, "outbox", "--dry-run", shop=True)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "POST https://shop.example.com/wp-json/wc/v3/products/batch"
    body = json.loads("\n".join(lines[1:-1]))
    assert body == {
        "update": [{"id": 22, "manage_stock": True, "stock_quantity": 3, "backorders": "notify"}]
    }
    assert lines[-1] == "would send 1 request; 0 unchanged, 0 deferred; customers to notify: 0"
    assert outbox(engine)[0].status == "pending"


def test_outbox_drain_without_a_shop_says_so_in_one_line(workdir, database_url, queued):
    """Draining with no shop configured is one human line and exit status 1."""
    result = bridge(database_url, "outbox", "drain")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("error: the shop is not configured: set WOOCOMMERCE_URL")


def test_outbox_drain_sends_and_show_and_retry_follow_a_row(workdir, database_url, engine, queued):
    """drain sends to the configured shop; show prints the row; retry revives a dead one."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        shop = FakeShop(rsps)
        result = bridge(database_url, "outbox", "drain", shop=True)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "sent 1, 0 unchanged, 0 to retry, 0 dead, 0 deferred, "
        "0 left; 1 request; customers notified: 0"
    )
    assert [path for _, path, _ in shop.requests] == ["products/batch"]
    shown = json.loads(bridge(database_url, "outbox", "show", str(queued), "--json").output)
    assert shown["status"] == "sent"
    assert shown["last_written"]["data"]["stock_quantity"] == 3
    with unit_of_work(engine) as session:
        row = session.get(OutboxItem, queued)
        row.status = "dead"
        session.add(row)
        session.commit()
    result = bridge(database_url, "outbox", "retry", "--all-dead")
    assert result.output.strip() == "1 write-back due again"
    missing = bridge(database_url, "outbox", "show", "999")
    assert (missing.exit_code, missing.output.startswith("error: no outbox row 999")) == (1, True)
