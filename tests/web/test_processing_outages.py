"""Processing outlives database outages: the worker and the processing thread pause, log once,
resume and drain what was acknowledged; they start on what is stored; /healthz shows a stopped
processor. Real outages on both databases: SQLite's write lock held by another connection,
PostgreSQL refusing connections to the test's database (never the shared server)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bridge.cli.main import main
from bridge.rules.inbound.signatures import sign
from bridge.services.inbox import InboxDrain, one_at_a_time
from bridge.services.inbox.batches import CLAIM_LEASE, process_batch
from bridge.services.ledger import balances, find_learner
from bridge.services.operations import beat_worker
from bridge.services.operations.job_runs import WORKER_PREFIX
from bridge.services.orders import build_handlers
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, JobRun, utcnow
from tests.support.databases import PG_ADMIN_URL
from tests.support.paths import ROOT
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.web import ClosingClient
from webhooks import create_app
from webhooks.processing import (
    STOPPED,
    WAITING,
    BackgroundProcessor,
    DrainLoop,
    WorkerHeartbeat,
)

SECRET = "whsec-wcreal-test"
FAST = {"first_pause": 0.05, "longest_pause": 0.2}


class DatabaseOutage:
    """Takes the test's database away and gives it back.

    SQLite: another connection holds the write lock (the engine's busy timeout is cut to 100 ms,
    so writers give up at once with "database is locked"). PostgreSQL: the test database stops
    accepting connections and its sessions are ended (``ALLOW_CONNECTIONS false`` and
    ``pg_terminate_backend``): the server and every other database stay up.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._holder: sqlite3.Connection | None = None
        if self.sqlite:

            @event.listens_for(engine, "connect")
            def _short_busy_timeout(dbapi_connection, _record):  # type: ignore[no-untyped-def]
                dbapi_connection.execute("PRAGMA busy_timeout=100")

            engine.dispose()
        self.down = False

    def _admin(self, statement: str, **params: str) -> None:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(statement), params)
        finally:
            admin.dispose()

    def begin(self) -> None:
        if self.sqlite:
            self._holder = sqlite3.connect(
                self.engine.url.database or "", isolation_level=None, check_same_thread=False
            )
            self._holder.execute("BEGIN IMMEDIATE")
        else:
            name = self.engine.url.database
            self._admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            self._admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()",
                name=name or "",
            )
        self.down = True

    def end(self) -> None:
        if not self.down:
            return
        if self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None
        if not self.sqlite:
            self._admin(f'ALTER DATABASE "{self.engine.url.database}" WITH ALLOW_CONNECTIONS true')
        self.down = False


@pytest.fixture
def outage(engine: Engine) -> Iterator[DatabaseOutage]:
    taken = DatabaseOutage(engine)
    try:
        yield taken
    finally:
        taken.end()


def web_client(engine: Engine, settings: Settings) -> FlaskClient:
    """A web process of a worker deployment: it verifies, stores and answers, nothing else."""
    app = create_app(
        settings.replace(inbox={"worker": True}), engine, handlers={"order": one_at_a_time(str)}
    )
    app.test_client_class = ClosingClient
    return app.test_client()


def acknowledge(client: FlaskClient, order_id: int) -> None:
    body = json.dumps(
        make_order(order_id, [("MENTOR-1H", 1)], modified=f"2026-11-28T16:{order_id % 60:02d}:00")
    ).encode()
    response = client.post(
        "/webhooks/woocommerce",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Signature": sign(body, SECRET),
            "X-WC-Webhook-Delivery-ID": str(order_id),
        },
    )
    assert response.status_code == 200 and response.get_json()["status"] == "received"


def statuses(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(InboxDelivery.status).order_by(InboxDelivery.id)).all())


def wait_until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Poll until the condition holds; the bound is generous (a loaded 2-core machine)."""
    ends = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < ends, "condition not reached in time"
        time.sleep(0.05)


def all_processed(engine: Engine, count: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return statuses(engine) == ["processed"] * count
        except OperationalError:
            return False

    return check


def minutes(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        return balances(session, find_learner(session, "alice@example.com").id)


@pytest.fixture
def handlers(engine: Engine, settings: Settings) -> dict[str, Any]:
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    return build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)


def outage_lines(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if r.name == "webhooks.processing" and r.levelno >= logging.WARNING
    ]


def test_the_worker_survives_an_outage_and_drains_what_was_acknowledged(
    engine: Engine,
    settings: Settings,
    handlers: dict[str, Any],
    outage: DatabaseOutage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Idle through an outage, the worker pauses (one line), resumes (one line with the length)
    and processes what the web acknowledged before and after; it never exits."""
    caplog.set_level(logging.WARNING)
    web = web_client(engine, settings)
    acknowledge(web, 700)
    loop = DrainLoop(
        InboxDrain(engine, handlers, max_attempts=settings.inbox.max_attempts),
        poll=0.05,
        what="inbox worker",
        **FAST,
    )
    worker = threading.Thread(target=loop.run, daemon=True)
    worker.start()
    try:
        wait_until(all_processed(engine, 1))
        outage.begin()
        wait_until(lambda: loop.state == WAITING and loop.failed_tries >= 3)
        assert worker.is_alive()
        outage.end()
        for order_id in (701, 702, 703):
            acknowledge(web, order_id)
        wait_until(all_processed(engine, 4))
    finally:
        loop.stop()
        worker.join(timeout=30)
    assert not worker.is_alive() and loop.outages == 1
    assert minutes(engine) == {"mentor_minutes": 4 * 60 + 30}
    lines = outage_lines(caplog.records)
    assert len(lines) == 2, lines
    assert lines[0].startswith("inbox worker paused: the database is unavailable")
    assert lines[1].startswith("inbox worker resumed after ") and "failed tries" in lines[1]
    # Nothing else complained: no delivery was failed or put off because of the outage.
    assert [r.getMessage() for r in caplog.records if r.name != "webhooks.processing"] == []


class OutageDuringFirstPage:
    """The order handler, with the database going away just as its first page starts."""

    def __init__(self, handler: Any, outage: DatabaseOutage) -> None:
        self.handler, self.outage, self.pages = handler, outage, 0

    def __call__(self, payloads: list[Any]) -> list[Any]:
        self.pages += 1
        if self.pages == 1:
            self.outage.begin()
        return self.handler(payloads)


def test_a_batch_the_outage_interrupted_is_processed_when_the_database_is_back(
    engine: Engine,
    settings: Settings,
    handlers: dict[str, Any],
    outage: DatabaseOutage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Deliveries claimed just before the outage are not failed and do not wait for their
    claim's two-minute lease: the worker takes them first once the database answers."""
    caplog.set_level(logging.WARNING)
    web = web_client(engine, settings)
    for order_id in (710, 711, 712):
        acknowledge(web, order_id)
    handlers = {**handlers, "order": OutageDuringFirstPage(handlers["order"], outage)}
    loop = DrainLoop(
        InboxDrain(engine, handlers, max_attempts=settings.inbox.max_attempts), poll=0.05, **FAST
    )
    worker = threading.Thread(target=loop.run, daemon=True)
    started = time.monotonic()
    worker.start()
    try:
        wait_until(lambda: loop.state == WAITING and loop.failed_tries >= 2)
        outage.end()
        wait_until(all_processed(engine, 3))
    finally:
        loop.stop()
        worker.join(timeout=30)
    assert time.monotonic() - started < CLAIM_LEASE.total_seconds()
    with unit_of_work(engine) as session:
        # One attempt taken by the interrupted batch, one by the batch that finished.
        assert [row.attempts for row in session.exec(select(InboxDelivery))] == [2, 2, 2]
    assert minutes(engine) == {"mentor_minutes": 3 * 60 + 30}
    assert len(outage_lines(caplog.records)) == 2
    assert [r.getMessage() for r in caplog.records if r.name != "webhooks.processing"] == []


def test_a_statement_that_fails_on_a_database_that_answers_is_the_delivery_s_failure(
    engine: Engine,
    settings: Settings,
) -> None:
    """An OperationalError while the database still answers (a lock or statement timeout on
    one delivery) is recorded as that delivery's failed attempt, not mistaken for an outage."""

    def times_out(payload: Any) -> str:
        raise OperationalError(
            "SELECT ...", {}, Exception("canceling statement due to statement timeout")
        )

    web = web_client(engine, settings)
    acknowledge(web, 720)
    with unit_of_work(engine) as session:
        [inbox_id] = session.exec(select(InboxDelivery.id)).all()
    finals = process_batch(engine, [inbox_id], {"order": one_at_a_time(times_out)}, max_attempts=8)
    assert finals == {inbox_id: "failed"}
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, inbox_id)
        assert row.attempts == 1 and "statement timeout" in row.last_error


def test_a_processor_started_takes_what_was_acknowledged_at_once(
    engine: Engine,
    settings: Settings,
    handlers: dict[str, Any],
) -> None:
    """After a crash (kill -9, no clock), the restarted service processes what it had
    acknowledged without waiting for another delivery to wake it."""
    web = web_client(engine, settings)
    for order_id in (730, 731, 732):
        acknowledge(web, order_id)
    app = create_app(settings, engine, handlers=handlers)
    processor = app.extensions["bridge"].processor
    assert isinstance(processor, BackgroundProcessor)
    processor.start()  # what `bridge serve` and gunicorn's web workers do at start; no wake
    try:
        wait_until(all_processed(engine, 3))
    finally:
        processor.stop()
    assert minutes(engine) == {"mentor_minutes": 3 * 60 + 30}


def test_the_processing_thread_outlives_an_outage(
    engine: Engine,
    settings: Settings,
    handlers: dict[str, Any],
    outage: DatabaseOutage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service's processing thread pauses through an outage and processes afterwards;
    /healthz says what it is doing meanwhile."""
    caplog.set_level(logging.WARNING)
    processor = BackgroundProcessor(
        InboxDrain(engine, handlers, max_attempts=settings.inbox.max_attempts), poll=0.05, **FAST
    )
    processor.start()
    web = web_client(engine, settings)
    try:
        outage.begin()
        wait_until(lambda: processor.health()["state"] == WAITING)
        assert processor.health()["failing_for_s"] >= 0
        outage.end()
        for order_id in (740, 741):
            acknowledge(web, order_id)
        processor.wake()
        wait_until(all_processed(engine, 2))
        assert processor.health()["state"] != STOPPED
    finally:
        processor.stop()
    assert len(outage_lines(caplog.records)) == 2


def test_the_cli_worker_processes_at_start_beats_and_leaves_no_row(
    engine: Engine,
    settings: Settings,
    database_url: str,
    workdir: Any,
) -> None:
    """`bridge inbox work` takes what is stored at once, keeps a heartbeat row while it runs
    and removes it when it stops."""
    store_cohorts(engine, sample_catalogue())
    web = web_client(engine, settings)
    for order_id in (750, 751):
        acknowledge(web, order_id)
    env = {
        "DATABASE_URL": database_url,
        "WOOCOMMERCE_WEBHOOK_SECRET": SECRET,
        "BRIDGE_CATALOG_FILE": str(ROOT / "catalog.example.toml"),
    }
    result = CliRunner().invoke(
        main, ["--env-file", "/dev/null", "inbox", "work", "--max-seconds", "1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "2 deliveries processed" in result.output
    assert statuses(engine) == ["processed", "processed"]
    with unit_of_work(engine) as session:
        assert session.exec(select(JobRun).where(JobRun.job.startswith(WORKER_PREFIX))).all() == []  # type: ignore[union-attr]


# The test kills a processing thread on purpose; pytest would report its exception.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_healthz_shows_a_processing_thread_that_stopped(
    engine: Engine,
    settings: Settings,
    handlers: dict[str, Any],
) -> None:
    """A thread that runs is reported with its state; one that stopped or died is `stopped`
    and the status `degraded` (still 200: the process answers)."""
    app = create_app(settings, engine, handlers=handlers)
    client = app.test_client()
    body = client.get("/healthz").get_json()
    assert body["processing"] == {"mode": "thread", "state": "not started"}
    assert body["status"] == "ok"
    processor = app.extensions["bridge"].processor
    processor.start()
    wait_until(lambda: client.get("/healthz").get_json()["processing"]["state"] == "idle")
    processor.stop()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["processing"]["state"] == STOPPED
    assert response.get_json()["status"] == "degraded"

    def dies(stop: Callable[[], bool]) -> int:
        raise SystemExit("the thread's end")  # not an Exception: the loop does not catch it

    dead = BackgroundProcessor(dies)
    dead.start()
    wait_until(lambda: dead.health()["state"] == STOPPED)


def test_healthz_shows_whether_a_worker_beats(
    engine: Engine,
    settings: Settings,
    handlers: dict[str, Any],
) -> None:
    """Beside `bridge inbox work`, the web reads the workers' heartbeats: none (or only old
    ones) is a stopped worker; a recent one is a running worker."""
    app = create_app(settings.replace(inbox={"worker": True}), engine, handlers=handlers)
    client = app.test_client()
    body = client.get("/healthz").get_json()
    assert body["processing"]["mode"] == "worker"
    assert body["processing"]["state"] == STOPPED and body["processing"]["workers"] == 0
    assert body["status"] == "degraded"
    loop = DrainLoop(InboxDrain(engine, handlers, max_attempts=8), poll=1)
    heartbeat = WorkerHeartbeat(engine, loop)
    assert heartbeat.beat()
    body = client.get("/healthz").get_json()
    assert body["processing"]["state"] == "running" and body["processing"]["workers"] == 1
    assert body["status"] == "ok"
    # A worker killed outright stops beating: a minute later it is no longer counted.
    long_ago = utcnow() - timedelta(minutes=2)
    beat_worker(
        engine, heartbeat.name, started_at=long_ago, now=long_ago, state="idle", processed=0
    )
    body = client.get("/healthz").get_json()
    assert body["processing"]["state"] == STOPPED
    assert body["processing"]["silent_workers"] == 1
    heartbeat.stop()  # a clean stop removes its row
    assert client.get("/healthz").get_json()["processing"]["silent_workers"] == 0


def test_the_loop_logs_once_per_outage_and_its_pauses_are_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ten failed tries make one line at the start and one at the end; the pause doubles from
    the first to the longest and stays there."""
    caplog.set_level(logging.DEBUG, logger="webhooks.processing")
    waits: list[float] = []
    tries = {"n": 0}

    def drain(stop: Callable[[], bool]) -> int:
        tries["n"] += 1
        if tries["n"] <= 10:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        loop.stop()
        return 1

    loop = DrainLoop(drain, poll=0.01, first_pause=0.001, longest_pause=0.008)
    original = loop._wait

    def recording_wait(seconds: float, stop: Callable[[], bool], deadline: Any) -> None:
        waits.append(seconds)
        original(seconds, stop, deadline)

    loop._wait = recording_wait  # type: ignore[method-assign]
    assert loop.run() == 1
    assert waits == [0.001, 0.002, 0.004] + [0.008] * 7
    lines = outage_lines(caplog.records)
    assert len(lines) == 2 and "connection refused" in lines[0]
    assert "resumed after" in lines[1] and "(10 failed tries)" in lines[1]


def test_a_gunicorn_web_worker_processes_what_is_stored_at_start(
    engine: Engine,
    settings: Settings,
    database_url: str,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`webhooks:create_app()` (the Procfile's web line) starts its processing thread at once:
    deliveries stored before it started are processed without a new delivery."""
    store_cohorts(engine, sample_catalogue())
    web = web_client(engine, settings)
    for order_id in (760, 761):
        acknowledge(web, order_id)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WOOCOMMERCE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BRIDGE_CATALOG_FILE", str(ROOT / "catalog.example.toml"))
    app = create_app()
    processor = app.extensions["bridge"].processor
    try:
        wait_until(all_processed(engine, 2))
        assert processor.health()["state"] in ("idle", "draining")
    finally:
        processor.stop()
        app.extensions["bridge"].engine.dispose()
