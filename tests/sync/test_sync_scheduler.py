"""The clock: schedules from settings, one instance per job, and a clean stop mid-run."""

from __future__ import annotations

import logging
from datetime import timedelta
from threading import Event

import pytest
import responses
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bridge.cli.operations.sync import embedded_scheduler
from bridge.settings import Settings, SettingsError, load_settings
from bridge.store.models import utcnow
from sync.scheduler import SyncScheduler, planned_jobs
from sync.storage import advance_cursor, read_cursor
from tests.support.sample_shop import sample_catalogue, store_cohorts
from tests.support.sync import HttpShop, make_ports

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ALL_OFF = {
    f"{job}_schedule": "off"
    for job in (
        "orders",
        "catalog",
        "subscriptions",
        "inbox",
        "outbox",
        "expiry",
        "webhooks",
        "alerts",
        "backup",
    )
}


def test_schedules_are_intervals_cron_lines_or_off_and_a_bad_one_names_its_variable():
    """BRIDGE_SYNC_*_SCHEDULE accepts 15m, 1h, a cron line or off, and explains a mistake."""
    settings = load_settings(
        {
            "BRIDGE_SYNC_ORDERS_SCHEDULE": "*/10  * * * *",
            "BRIDGE_SYNC_INBOX_SCHEDULE": "90S",
            "BRIDGE_SYNC_EXPIRY_SCHEDULE": "OFF",
        },
        env_file=None,
    )
    assert (
        settings.sync.orders_schedule,
        settings.sync.inbox_schedule,
        settings.sync.expiry_schedule,
        settings.sync.catalog_schedule,
    ) == ("*/10 * * * *", "90s", "off", "1h")
    for bad in ("every hour", "0m", "61 * * * *"):
        with pytest.raises(SettingsError) as error:
            load_settings({"BRIDGE_SYNC_WEBHOOKS_SCHEDULE": bad}, env_file=None)
        assert str(error.value).startswith("BRIDGE_SYNC_WEBHOOKS_SCHEDULE ")


@sqlite_only
def test_every_scheduled_job_runs_one_instance_at_a_time_and_coalesces_missed_runs(
    engine, settings
):
    """Each job is added once, max_instances=1 and coalesce, on its interval or cron line."""
    settings = settings.replace(sync={"orders_schedule": "*/15 * * * *", "expiry_schedule": "off"})
    runner = SyncScheduler(
        make_ports(engine, settings, sample_catalogue()),
        scheduler=BackgroundScheduler(timezone="UTC"),
    )
    jobs = {job.id: job for job in runner.scheduler.get_jobs()}
    assert list(jobs) == [
        "catalog",
        "orders",
        "subscriptions",
        "inbox",
        "outbox",
        "webhooks",
        "alerts",
        "backup",
    ]
    for job in jobs.values():
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, None)
    assert isinstance(jobs["orders"].trigger, CronTrigger)
    assert isinstance(jobs["inbox"].trigger, IntervalTrigger)
    assert jobs["inbox"].trigger.interval == timedelta(minutes=1)


def test_without_a_shop_only_the_local_jobs_are_scheduled():
    """Inbox retries, expiry, alerts and backups need no shop; the rest wait for one."""
    assert [name for name, _ in planned_jobs(Settings())] == ["inbox", "expiry", "alerts", "backup"]


@sqlite_only
def test_a_stop_lets_the_running_job_finish_its_page_then_the_scheduler_exits(engine, settings):
    """As on SIGTERM: the page in hand is committed, no page read ahead is applied."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    settings = settings.replace(sync={**ALL_OFF, "orders_schedule": "1h"})
    finished = Event()
    results = []

    def on_result(result):
        results.append(result)
        finished.set()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        shop = HttpShop(rsps)
        t0 = (utcnow() - timedelta(days=1)).replace(microsecond=0)
        for n in range(6):
            shop.place(1001 + n, [("MENTOR-1H", 1)], t0 + timedelta(minutes=n))
        advance_cursor(engine, "orders", t0 - timedelta(hours=1))  # synced an hour before
        runner = SyncScheduler(make_ports(engine, settings, catalogue), on_result=on_result)
        shop.before_orders_page = lambda page: runner.request_stop()  # SIGTERM arrives
        runner.start()
        assert finished.wait(timeout=20)
        runner.shutdown()
        pages = [c for c in rsps.calls if c.request.url.split("?")[0].endswith("/orders")]
    assert not runner.scheduler.running
    [result] = results
    assert result.status == "ok" and result.tally.fetched == 2
    assert len(pages) <= 1 + settings.http.connections
    assert read_cursor(engine, "orders") == t0 + timedelta(minutes=1)


@sqlite_only
def test_serve_hooks_start_the_scheduler_in_the_worker_and_stop_it_on_exit(database_url, caplog):
    """`bridge serve` passes these to gunicorn: started after the worker boots, stopped on exit."""
    settings = Settings().replace(database={"url": database_url}, sync=ALL_OFF)
    start, stop = embedded_scheduler(settings)
    with caplog.at_level(logging.INFO, logger="sync.scheduler"):
        start()
        stop()
        stop()  # a second exit call is harmless
    assert [r.getMessage() for r in caplog.records] == ["scheduler started", "scheduler stopped"]
