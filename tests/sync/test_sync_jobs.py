"""The other jobs: inbox retries, expiry, webhooks, outbox, catalogue, and the job registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bridge.errors import PermanentError
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.services.inbox import Delivery, one_at_a_time, process_delivery, record_delivery
from bridge.store.db import unit_of_work
from bridge.store.models import Cohort, InboxDelivery, Learner, LedgerEntry, OutboxItem, utcnow
from sync.context import RunOptions
from sync.jobs import JOB_ORDER, JOBS, run_job
from sync.storage import read_cursor
from tests.support.paths import load_json
from tests.support.sample_shop import make_order, sample_catalogue
from tests.support.sync import make_ports

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NOW = utcnow().replace(microsecond=0)


def failed_delivery(engine, order, ago):
    body = json.dumps(order).encode()
    delivery = Delivery("order.updated", "6", f"d-{order['id']}", {}, body, order)
    inbox_id = record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id

    def broken(_payload):
        raise PermanentError("catalogue not loaded")

    process_delivery(
        engine, inbox_id, {"order": one_at_a_time(broken)}, max_attempts=8, now=NOW - ago
    )
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, inbox_id)
        row.received_at = NOW - ago
        session.add(row)
        session.commit()
    return inbox_id


def test_the_inbox_job_retries_due_deliveries_and_drops_old_bodies(engine, ports, shop):
    """A failed delivery that came due is processed; one past retention loses its body."""
    old = failed_delivery(engine, make_order(901, [("MENTOR-1H", 1)]), timedelta(days=40))
    due = failed_delivery(
        engine,
        make_order(902, [("MENTOR-1H", 1)], email="b@example.com", customer_id=9),
        timedelta(hours=1),
    )
    first = run_job("inbox", ports)
    assert first.status == "ok", first.reason
    assert (first.tally.fetched, first.tally.changed) == (2, 2)
    assert first.tally.grants == 0  # the inbox reports deliveries; grants are the pipeline's
    assert first.tally.writebacks > 0  # what the orders changed is queued for the shop
    assert "dropped the raw bodies of 1 deliveries older than 30 days" in first.notes
    with unit_of_work(engine) as session:
        assert session.get(InboxDelivery, due).status == DeliveryStatus.PROCESSED
        assert session.get(InboxDelivery, old).body is None
        assert session.get(InboxDelivery, due).body is not None
    second = run_job("inbox", ports)
    assert (second.tally.fetched, second.tally.requests, second.notes) == (0, 0, [])


def test_the_expiry_job_writes_off_expired_credits_and_queues_the_new_balance(engine, ports):
    """Expired credits get their expiry row once; the customer's balance meta is queued."""
    with unit_of_work(engine) as session:
        learner = Learner(email="alice@example.com", woo_customer_id=2)
        session.add(learner)
        session.flush()
        session.add(
            LedgerEntry(
                learner_id=learner.id,
                credit_type="mentor_minutes",
                amount=60,
                reason="grant",
                grant_key="sub:39:order:40:credit",
                source_key="sub:39:order:40:credit@1",
                expires_at=NOW - timedelta(hours=1),
            )
        )
        session.commit()
    result = run_job("expiry", ports)
    assert result.status == "ok", result.reason
    assert (result.tally.fetched, result.tally.changed, result.tally.writebacks) == (1, 1, 1)
    assert result.changes == ["learner 1: expired 1 h of mentor time of sub:39:order:40:credit"]
    with unit_of_work(engine) as session:
        meta = session.exec(select(OutboxItem)).one()
        assert meta.target_key == "customer:2:meta"
    assert run_job("expiry", ports).tally.changed == 0


def test_the_webhooks_job_fails_while_a_disabled_webhook_of_the_bridge_is_not_allowed_back(
    engine, settings, catalogue, shop
):
    """Disabled by WooCommerce and not allowed to re-enable: one reason line, no write."""
    ours = "http://127.0.0.1:9100/webhooks/woocommerce"
    settings = settings.replace(web={"public_url": "http://127.0.0.1:9100"})
    shop.webhooks[0]["status"] = "disabled"
    shop.webhooks[1]["status"] = "paused"
    assert shop.webhooks[0]["delivery_url"] == ours
    result = run_job("webhooks", make_ports(engine, settings, catalogue))
    assert result.status == "failed"
    assert result.reason.startswith(
        "1 of the bridge's webhooks are disabled (webhook #17 (subscription.deleted))"
    )
    assert "BRIDGE_SYNC_REENABLE_WEBHOOKS=true" in result.reason
    assert result.notes == ["webhook #16 (subscription.switched) is paused (the bridge's)"]
    assert (result.tally.fetched, result.tally.requests) == (17, 1)
    assert shop.writes == []


def test_the_webhooks_job_re_enables_the_bridges_disabled_webhooks_when_allowed(
    engine, settings, catalogue, shop, http
):
    """With the setting on, a disabled webhook of the bridge is set active again; paused stay."""
    settings = settings.replace(
        web={"public_url": "http://127.0.0.1:9100"},
        sync={"reenable_webhooks": True},
    )
    shop.webhooks[0]["status"] = "disabled"
    shop.webhooks[1]["status"] = "paused"
    ports = make_ports(engine, settings, catalogue)
    dry = run_job("webhooks", ports, RunOptions(dry_run=True))
    assert dry.changes == ["would re-enable webhook #17 (subscription.deleted)"]
    assert shop.writes == []

    result = run_job("webhooks", ports)
    assert result.status == "ok", result.reason
    assert shop.writes == [("PUT", "webhooks/17")]
    assert json.loads(http.calls[-1].request.body) == {"status": "active"}
    assert shop.webhooks[0]["status"] == "active" and shop.webhooks[1]["status"] == "paused"
    assert (result.tally.changed, result.tally.requests) == (1, 2)


def test_the_outbox_job_drains_through_the_write_back_service(engine, ports, shop):
    """An empty outbox costs no request; the drain's own summary is in the notes."""
    result = run_job("outbox", ports)
    assert result.status == "ok", result.reason
    assert result.tally.requests == 0
    assert result.notes and result.notes[0].startswith("sent 0")


def test_the_catalog_job_syncs_the_shop_and_stores_the_cohorts(engine, settings, shop, http):
    """The first catalogue run is a full sync (products, then trashed ones) storing cohorts."""
    ports = make_ports(engine, settings, sample_catalogue())
    result = run_job("catalog", ports)
    assert result.status == "ok", result.reason
    assert result.tally.requests == 2
    assert [c.request.params.get("status") for c in http.calls] == [None, "trash"]
    with unit_of_work(engine) as session:
        assert [c.code for c in session.exec(select(Cohort)).all()] == ["DV-2027-01"]
    assert read_cursor(engine, "products") is None  # the shop has no products yet


def test_a_shop_without_woocommerce_subscriptions_is_said_so_and_not_a_failure(engine, ports, shop):
    """The subscriptions job asks once, learns there is no plugin, and ends ok."""
    result = run_job("subscriptions", ports)
    assert result.status == "ok", result.reason
    assert result.notes == ["the shop has no WooCommerce Subscriptions: skipped"]
    assert result.tally.requests == 1


def test_the_subscriptions_job_reconciles_through_the_subscriptions_service(
    engine, ports, shop, http
):
    """The real subscriptions page is applied and the cursor follows the newest change."""
    shop.subscriptions = load_json("woocommerce-real/rest/5-subscriptions.json")
    result = run_job("subscriptions", ports)
    assert result.status == "ok", result.reason
    assert (result.tally.fetched, result.tally.requests) == (2, 2)
    assert result.notes[0].startswith("2 subscriptions fetched, 2 applied")
    assert read_cursor(engine, "subscriptions") == datetime(2026, 11, 28, 15, 58, 7, tzinfo=UTC)
    again = run_job("subscriptions", ports)
    assert again.tally.changed == 0
    assert http.calls[-1].request.params["modified_after"] == "2026-11-28T15:53:07"


def test_every_job_is_registered_once_in_run_order(engine):
    """`bridge sync` runs the catalogue first, checks the webhooks, and backs up last."""
    from bridge.cli.operations.sync import JOB_NAMES

    assert JOB_ORDER == JOB_NAMES == tuple(JOBS)
    assert JOB_ORDER[0] == "catalog" and JOB_ORDER[-1] == "backup"
    assert JOB_ORDER.index("webhooks") > JOB_ORDER.index("outbox")


def test_jobs_that_need_the_shop_are_skipped_without_one(engine, catalogue):
    """Without WOOCOMMERCE_URL the orders job says so instead of failing; expiry still runs."""
    from bridge.settings import Settings

    ports = make_ports(engine, Settings().replace(database={"url": "sqlite://"}), catalogue)
    assert run_job("orders", ports).status == "skipped"
    assert run_job("expiry", ports).status == "ok"
