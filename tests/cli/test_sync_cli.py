"""`bridge sync` and `bridge scheduler` for people and cron: summaries, exit codes, dry runs."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel

from bridge.errors import PermanentError
from bridge.services.inbox import Delivery, one_at_a_time, process_delivery, record_delivery
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, Learner, LedgerEntry, utcnow
from sync.lease import acquire
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.sync import API, HttpShop, bridge, real_orders, shop_env

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def _in_workdir(workdir: Path) -> Path:
    """Every test here runs in an empty folder with none of the bridge's variables set."""
    return workdir


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, to prove that nothing was written."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    sa_select(table).order_by(*table.primary_key.columns)
                ).all()
            ]
            for table in SQLModel.metadata.sorted_tables
        }


@sqlite_only
def test_sync_orders_prints_what_changed_and_a_summary_and_exits_zero(engine, database_url):
    """Each order that changed gets a line, then the counts every run reports (or JSON)."""
    store_cohorts(engine, sample_catalogue())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        HttpShop(rsps).add(*real_orders())
        result = bridge("sync", "orders", "--full", env=shop_env(database_url))
        again = bridge("sync", "orders", "--json", env=shop_env(database_url))
        assert "per_page=100&" in rsps.calls[0].request.url  # WooCommerce's largest page
    assert result.exit_code == 0, result.output
    assert "  orders: order 28 changed: +3 h of mentor time, +1 h of mentor time" in result.stdout
    summary = result.stdout.splitlines()[-1]
    assert re.fullmatch(
        r"orders +ok +fetched 4, changed 4, grants 6, reversals 0, seats 3, waitlisted 0, "
        r"write-backs queued \d+, customers to notify 0, requests 2, \d+\.\ds",
        summary,
    ), summary
    assert result.stderr == ""
    [job] = json.loads(again.stdout)  # --json: one object per job, for scripts
    assert (job["job"], job["status"], job["fetched"], job["changed"], job["requests"]) == (
        "orders",
        "ok",
        4,
        0,
        1,
    )


@sqlite_only
def test_a_failed_job_exits_one_with_its_reason_on_one_line(engine, database_url):
    """The shop refusing the key fails the job: exit 1, and one line saying why and what to do."""
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{API}/orders",
            status=401,
            json={
                "code": "woocommerce_rest_cannot_view",
                "message": "Sorry, you cannot list resources.",
                "data": {"status": 401},
            },
        )
        result = bridge("sync", "orders", env=shop_env(database_url))
    assert result.exit_code == 1
    [reason] = result.stderr.splitlines()
    assert reason.startswith(
        "error: orders: shop shop.example.com refused GET orders (401 "
        "woocommerce_rest_cannot_view: Sorry, you cannot list resources.)"
    )
    assert result.stdout.splitlines()[-1].startswith("orders        failed  fetched 0")


@sqlite_only
def test_a_job_held_by_another_runner_exits_75_and_says_who(engine, database_url):
    """A cron run during a scheduler run does not run the job twice: it exits EX_TEMPFAIL."""
    acquire(engine, "orders", "clock-host:7:ab", timedelta(minutes=5))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        HttpShop(rsps)
        result = bridge("sync", "orders", env=shop_env(database_url))
        assert len(rsps.calls) == 0
    assert result.exit_code == 75
    assert "busy: orders: orders is already running (clock-host:7:ab until" in result.stderr


@sqlite_only
def test_full_and_since_together_are_refused(database_url):
    """--full means from the beginning, so a --since with it is a mistake."""
    result = bridge("sync", "orders", "--full", "--since", "2026-11-01", env=shop_env(database_url))
    assert result.exit_code == 2
    assert "--full and --since exclude each other" in result.stderr


@sqlite_only
def test_without_a_shop_the_local_jobs_run_and_sync_and_sync_orders_both_exit_one(database_url):
    """All jobs or one: the shop's cannot run, which both report and exit 1 for, alike."""
    env = {"DATABASE_URL": database_url, "BRIDGE_LOG_LEVEL": "ERROR"}
    everything = bridge("sync", env=env)
    assert everything.exit_code == 1, everything.output
    assert "error: orders: did not run: no shop configured" in everything.stderr
    assert re.search(r"^expiry +ok", everything.stdout, re.M)
    assert re.search(r"^inbox +ok", everything.stdout, re.M)
    one = bridge("sync", "orders", env=env)
    assert one.exit_code == 1
    assert "error: orders: did not run: no shop configured" in one.stderr


@sqlite_only
@pytest.mark.parametrize("option", ["--since"])
def test_a_bad_since_says_use_yyyy_mm_dd_as_the_report_does(database_url, option):
    """sync --since and report --since word a bad date alike and exit 2 (usage)."""
    env = {"DATABASE_URL": database_url}
    for command in (("sync", "orders"), ("report",)):
        result = bridge(*command, option, "01/12/2026", env=env)
        assert result.exit_code == 2, (command, result.output)
        assert "'01/12/2026' is not a date; use YYYY-MM-DD" in result.stderr, command


@sqlite_only
def test_the_scheduler_refuses_to_start_when_sync_is_off(database_url):
    """The clock process with sync disabled says why and exits non-zero, rather than idle."""
    result = bridge("scheduler", env=shop_env(database_url, BRIDGE_SYNC_ENABLED="false"))
    assert result.exit_code == 1
    assert result.stderr == "error: sync is off: BRIDGE_SYNC_ENABLED is false\n"


def test_a_dry_run_of_every_job_reports_changes_and_writes_nothing_here_or_in_the_shop(
    engine, database_url
):
    """Orders, inbox, expiry, outbox and webhooks all have work; --dry-run only reports it."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    settings = Settings().replace(database={"url": database_url})
    # Queued write-backs from an order a webhook delivered, and a delivery that failed.
    process_order(
        engine,
        make_order(940, [("MENTOR-1H", 1)], email="eve@example.com", customer_id=12),
        catalogue=catalogue,
        settings=settings,
    )
    failed = make_order(950, [("MENTOR-1H", 1)], email="frank@example.com", customer_id=13)
    inbox_id = record_delivery(
        engine,
        Delivery("order.created", "5", "d-950", {}, json.dumps(failed).encode(), failed),
        handled=frozenset({"order"}),
    ).inbox_id

    def broken(_payload):
        raise PermanentError("catalogue not loaded")

    process_delivery(
        engine,
        inbox_id,
        {"order": one_at_a_time(broken)},
        max_attempts=8,
        now=utcnow() - timedelta(hours=1),
    )
    with unit_of_work(engine) as session:
        learner = (
            session.exec(sa_select(Learner).where(Learner.woo_customer_id == 12)).scalars().one()
        )
        session.add(
            LedgerEntry(
                learner_id=learner.id,
                credit_type="mentor_minutes",
                amount=60,
                reason="grant",
                grant_key="sub:1:period",
                source_key="sub:1@1",
                expires_at=utcnow() - timedelta(days=1),
            )
        )
        session.commit()
    before = snapshot(engine)
    assert before["outbox"] and before["inbox"]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        shop = HttpShop(rsps)
        shop.add(*real_orders())
        shop.webhooks[0]["status"] = "disabled"
        env = shop_env(
            database_url,
            BRIDGE_PUBLIC_URL="http://127.0.0.1:9100",
            BRIDGE_SYNC_REENABLE_WEBHOOKS="true",
        )
        result = bridge("sync", "--dry-run", "--full", env=env)
        methods = {call.request.method for call in rsps.calls}
    assert result.exit_code == 0, result.output
    assert methods == {"GET"} and shop.writes == []
    assert snapshot(engine) == before
    out = result.stdout
    assert out.startswith("dry run: nothing was written, locally or to WooCommerce\n")
    assert "  orders: order 28 would change: +3 h of mentor time" in out
    assert "  inbox: delivery 1 would be processed" in out
    assert "  expiry: learner 1: would expire 1 h of mentor time of sub:1:period" in out
    assert "  outbox: would send POST " in out
    assert "  webhooks: would re-enable webhook #17 (subscription.deleted)" in out
    assert re.search(
        r"^orders +ok +fetched 4, changed 4, grants 6, reversals 0, seats 3", out, re.M
    )
    assert re.search(r"^total +ok +fetched \d+", out, re.M)
    with unit_of_work(engine) as session:
        assert session.get(InboxDelivery, inbox_id).status == "failed"
