"""Bounded work (issue 36, S4): report periods are limited, page queries have a time budget, a
process prepares only so many pages at once, and signed deliveries never wait behind pages.

The probe: `GET /report?token=...&since=0001-01-01&until=9999-12-31` ran 13.6 s (PostgreSQL) to
more than 8 minutes (SQLite), and with 4 of them on `bridge serve` 8 of 8 signed WooCommerce
deliveries timed out. Slow queries here are slow by construction (pg_sleep, or an SQLite
function that sleeps before a long recursive query), never by the machine's speed; time bounds
are generous and say only "did not wait for the slow thing".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import Engine, event, text
from sqlmodel import Session, select

from bridge.cli.main import main as bridge_main
from bridge.rules.inbound.signatures import sign
from bridge.rules.report.rows import DEFAULT_MAX_DAYS, ReportRows
from bridge.services.inbox import one_at_a_time
from bridge.services.operations import add_operator
from bridge.services.reporting import report
from bridge.settings import VARIABLES, Settings, SettingsError, load_settings
from bridge.store.db import QueryTimeout, make_engine, query_budget, unit_of_work
from bridge.store.models import InboxDelivery
from tests.support.console import PASSWORD, SECRET_KEY, VIEWER, log_in
from tests.support.page_limits import PAGE_CONCURRENCY, SECRET
from tests.support.paths import ROOT
from tests.support.redemptions import make_token
from tests.support.web import ClosingClient
from webhooks import create_app

THOUSAND_YEARS = "since=0001-01-01&until=9999-12-31"
JSON = {"Accept": "application/json"}
# Tables the report reads; a refused period must not touch any of them.
REPORT_TABLES = (
    "order_state",
    "ledger_entry",
    "redemption",
    "booking",
    "subscription",
    "cohort",
    "seat",
    "outcome_event",
    "offer",
    "claim_place",
)
HOLD_SECONDS = 0.6  # how long a slow statement sleeps before its long part
BUDGET = 0.2  # the page budget in tests: well under HOLD_SECONDS


def slow_statement(engine: Engine) -> str:
    """A statement that sleeps HOLD_SECONDS, then (SQLite) steps through a long query, so the
    progress handler is asked after the deadline has passed."""
    if engine.dialect.name == "postgresql":
        return f"SELECT pg_sleep({HOLD_SECONDS})"
    return (
        "WITH RECURSIVE c(x) AS (SELECT hold() UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 300000) SELECT count(*) FROM c"
    )


@pytest.fixture
def sleepy_engine(database_url: str) -> Iterator[Engine]:
    """The test database; SQLite connections know hold(): sleep HOLD_SECONDS, return 1."""
    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _hold(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.create_function("hold", 0, lambda: time.sleep(HOLD_SECONDS) or 1)

    yield engine
    engine.dispose()


def signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": sign(body, SECRET),
        "X-WC-Webhook-ID": "5",
    }


def make_app(engine: Engine, database_url: str, **changes: Any) -> Any:
    handlers = changes.pop("handlers", {})
    settings = (
        Settings()
        .replace(
            database={"url": database_url},
            shop={"webhook_secret": SECRET},
            console={"secret_key": SECRET_KEY},
        )
        .replace(**changes)
    )
    app = create_app(settings, engine, handlers=handlers, background=False)
    app.test_client_class = ClosingClient
    return app


def statements_during(engine: Engine, action: Callable[[], Any]) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        return action(), seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --- the period limit -------------------------------------------------------------------------


def test_a_thousand_year_report_is_a_400_naming_the_limit_and_reads_no_report_table(
    engine, database_url
):
    """The probe's request answers at once, reading only the token, in HTML or in JSON."""
    app = make_app(engine, database_url)
    token = make_token(engine, "phone", "read")
    client = app.test_client()
    began = time.monotonic()
    response, statements = statements_during(
        engine, lambda: client.get(f"/report?token={token}&{THOUSAND_YEARS}")
    )
    assert time.monotonic() - began < 5
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "at most 731 days (BRIDGE_REPORT_MAX_DAYS)" in page
    assert "3,652,058 days" in page
    assert statements, "the token was looked up"
    read = [s for s in statements if any(f" {t}" in s.lower() for t in REPORT_TABLES)]
    assert read == [], "a refused period reads nothing of the report"

    answer = client.get(
        f"/report?{THOUSAND_YEARS}", headers={**JSON, "Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["code"] == "period_too_long"
    assert body["max_days"] == 731 and body["days"] == 3_652_058
    assert "BRIDGE_REPORT_MAX_DAYS" in body["error"]


def test_two_calendar_years_are_allowed_and_a_day_more_is_not(engine, database_url):
    app = make_app(engine, database_url)
    token = make_token(engine, "phone", "read")
    client = app.test_client()
    assert client.get(f"/report?token={token}&since=2024-01-01&until=2026-01-01").status_code == 200
    refused = client.get(f"/report?token={token}&since=2024-01-01&until=2026-01-02", headers=JSON)
    assert refused.status_code == 400
    assert refused.get_json()["days"] == 732


def test_the_limit_is_a_setting(engine, database_url):
    """BRIDGE_REPORT_MAX_DAYS moves the limit; values under a year or over a century are
    refused when the settings are read."""
    app = make_app(engine, database_url, report={"max_days": 400})
    token = make_token(engine, "phone", "read")
    client = app.test_client()
    assert client.get(f"/report?token={token}&since=2025-01-01&until=2026-02-01").status_code == 200
    refused = client.get(f"/report?token={token}&since=2025-01-01&until=2026-03-01", headers=JSON)
    assert refused.status_code == 400 and refused.get_json()["max_days"] == 400
    assert load_settings({"BRIDGE_REPORT_MAX_DAYS": "1000"}, env_file=None).report.max_days == 1000
    for bad in ("365", "36526", "two years"):
        with pytest.raises(SettingsError, match="BRIDGE_REPORT_MAX_DAYS"):
            load_settings({"BRIDGE_REPORT_MAX_DAYS": bad}, env_file=None)


def test_the_rules_default_limit_is_the_settings_default() -> None:
    """report_period's own default (for callers without settings) is BRIDGE_REPORT_MAX_DAYS'."""
    declared = next(var for var in VARIABLES if var.name == "BRIDGE_REPORT_MAX_DAYS")
    assert int(declared.default or "0") == Settings().report.max_days == DEFAULT_MAX_DAYS


def test_a_period_outside_the_calendar_in_utc_is_a_400_not_a_500(engine, database_url):
    """Year 1 in a zone east of UTC begins in year 0 in UTC, which Python cannot hold."""
    app = make_app(engine, database_url)
    token = make_token(engine, "phone", "read")
    response = app.test_client().get(
        f"/report?token={token}&since=0001-01-01&until=0001-02-01&tz=Asia/Tokyo", headers=JSON
    )
    assert response.status_code == 400
    assert "years 1 to 9999" in response.get_json()["error"]


def test_the_console_report_refuses_a_long_period_as_a_console_page(engine, database_url):
    app = make_app(engine, database_url)
    add_operator(engine, VIEWER, PASSWORD, "viewer")
    client = app.test_client()
    log_in(client, VIEWER)
    response, statements = statements_during(
        engine, lambda: client.get(f"/console/report?{THOUSAND_YEARS}")
    )
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "at most 731 days (BRIDGE_REPORT_MAX_DAYS)" in response.get_data(as_text=True)
    assert not [s for s in statements if " order_state" in s.lower()]


def test_bridge_report_refuses_a_long_period_in_one_line(database_url, workdir):
    result = CliRunner().invoke(
        bridge_main,
        ["report", "--since", "0001-01-01", "--until", "9999-12-31"],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: the period is 3,652,058 days long")
    assert "BRIDGE_REPORT_MAX_DAYS" in lines[0] and "Traceback" not in result.output
    longer = CliRunner().invoke(
        bridge_main,
        ["report", "--since", "2023-01-01", "--until", "2026-01-01", "--format", "json"],
        env={"DATABASE_URL": database_url, "BRIDGE_REPORT_MAX_DAYS": "1100"},
    )
    assert longer.exit_code == 0, longer.output
    assert json.loads(longer.output)["period"]["since"] == "2023-01-01"


def test_bridge_serve_keeps_threads_for_deliveries(database_url, workdir):
    """`bridge serve --threads` not above BRIDGE_PAGE_CONCURRENCY is refused in one line."""
    result = CliRunner().invoke(
        bridge_main,
        ["serve", "--port", str(free_port()), "--threads", "2"],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: --threads 2 leaves no thread for webhook deliveries when 2 pages run "
        "(BRIDGE_PAGE_CONCURRENCY): use --threads 4 or lower the setting"
    ]


# --- the query budget -------------------------------------------------------------------------


def test_query_budget_stops_a_slow_statement_and_the_connection_goes_on(sleepy_engine):
    """Inside a budget the slow statement is stopped (QueryTimeout); the pooled connection
    answers the next query; outside any budget the same statement runs to its end."""
    slow = slow_statement(sleepy_engine)
    with query_budget(BUDGET):
        with (
            pytest.raises(QueryTimeout, match="longer than 0.2 s"),
            unit_of_work(sleepy_engine, read_only=True) as session,
        ):
            session.exec(text(slow)).all()  # type: ignore[call-overload]
        with unit_of_work(sleepy_engine) as session:
            assert session.exec(text("SELECT 1")).one() == (1,)  # type: ignore[call-overload]
    with unit_of_work(sleepy_engine) as session:
        assert session.exec(text(slow)).one() is not None  # type: ignore[call-overload]


@pytest.fixture
def slow_report(sleepy_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's reads begin with the slow statement."""
    original = report.load_rows

    def slow(session: Session, end: datetime) -> ReportRows:
        session.exec(text(slow_statement(sleepy_engine))).all()  # type: ignore[call-overload]
        return original(session, end)

    monkeypatch.setattr(report, "load_rows", slow)


def test_a_page_query_past_its_budget_answers_503_with_retry_after(
    sleepy_engine, database_url, slow_report
):
    """/report (HTML, or JSON when asked) and the console's report (a console page) both say
    the query took too long; the next page is served as usual."""
    app = make_app(sleepy_engine, database_url, web={"page_query_timeout_seconds": BUDGET})
    token = make_token(sleepy_engine, "phone", "read")
    add_operator(sleepy_engine, VIEWER, PASSWORD, "viewer")
    client = app.test_client()
    page = client.get(f"/report?token={token}")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "1"
    assert "took longer than 0.2 s" in page.get_data(as_text=True)
    answer = client.get(f"/report?token={token}", headers=JSON)
    assert answer.status_code == 503
    assert answer.get_json()["code"] == "query_timeout"
    log_in(client, VIEWER)
    console = client.get("/console/report")
    assert console.status_code == 503 and console.mimetype == "text/html"
    assert console.headers["Retry-After"] == "1"
    assert "took longer than 0.2 s" in console.get_data(as_text=True)
    assert client.get("/console/").status_code == 200


def test_receivers_and_inbox_processing_have_no_page_budget(sleepy_engine, database_url):
    """A delivery whose processing runs the slow statement is acknowledged and processed: the
    page budget (0.2 s) does not reach the receiver or the processing after it."""
    ran: list[str] = []

    def handle_order(payload: Any) -> str:
        with unit_of_work(sleepy_engine) as session:
            session.exec(text(slow_statement(sleepy_engine))).all()  # type: ignore[call-overload]
        ran.append(str(payload["id"]))
        return "slow but done"

    app = make_app(
        sleepy_engine,
        database_url,
        handlers={"order": one_at_a_time(handle_order)},
        web={"page_query_timeout_seconds": BUDGET},
    )
    body, headers = signed({"id": 4242, "status": "processing"})
    response = app.test_client().post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 200
    assert ran == ["4242"]
    with unit_of_work(sleepy_engine) as session:
        row = session.exec(select(InboxDelivery)).one()
    assert row.status == "processed", row.last_error


# --- pages at once ----------------------------------------------------------------------------


@pytest.fixture
def held_report(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The report reads its rows, then waits inside its transaction until released."""
    started, release = threading.Event(), threading.Event()
    original = report.load_rows

    def held(session: Session, end: datetime) -> ReportRows:
        rows = original(session, end)
        started.set()
        assert release.wait(60), "the test never released the report"
        return rows

    monkeypatch.setattr(report, "load_rows", held)
    yield started, release
    release.set()


def test_a_page_beyond_the_limit_is_503_while_deliveries_health_and_writes_go_on(
    engine, database_url, held_report
):
    """One page slot: while a report holds it (and its read transaction), another page answers
    503 with Retry-After at once, and a signed delivery is stored (on SQLite the report's read
    takes no write lock); once the report is done the next page is served."""
    started, release = held_report
    app = make_app(engine, database_url, web={"page_concurrency": 1})
    token = make_token(engine, "phone", "read")
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(lambda: app.test_client().get(f"/report?token={token}"))
        assert started.wait(30)
        client = app.test_client()
        busy = client.get(f"/report?token={token}", headers=JSON)
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "10"
        assert busy.get_json()["code"] == "pages_busy"
        assert client.get("/healthz").status_code == 200
        body, headers = signed({"id": 77, "status": "processing"})
        began = time.monotonic()
        assert client.post("/webhooks/woocommerce", data=body, headers=headers).status_code == 200
        assert time.monotonic() - began < 10  # SQLite's busy timeout is 30 s
        assert not first.done()
        release.set()
        assert first.result(60).status_code == 200
    assert client.get(f"/report?token={token}").status_code == 200
    with unit_of_work(engine) as session:
        assert len(session.exec(select(InboxDelivery)).all()) == 1


# --- the probe's figures, on the server `bridge serve` runs ----------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            requests.get(f"{url}/healthz", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError("the server did not come up within 60 s")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[str]:
    """webhooks.server (gunicorn, 4 threads) over the test database; reports hold 8 s."""
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tests.support.page_limits", database_url, str(port), "8"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        log.close()


def test_signed_deliveries_stay_fast_while_four_long_reports_run(served, engine):
    """The probe's load on the real server: 4 long reports at once (each holds 8 s), then 8
    signed deliveries one after the other. Two reports take the two page slots, the other two
    are told to come back (503, Retry-After); every delivery is acknowledged while the long
    reports still run, each well within WooCommerce's patience."""
    token = make_token(engine, "phone", "read")
    finished: list[tuple[float, int, str]] = []

    def long_report() -> None:
        response = requests.get(
            f"{served}/report", params={"token": token}, headers=JSON, timeout=60
        )
        code = response.json().get("code", "") if response.status_code != 200 else ""
        finished.append((time.monotonic(), response.status_code, code))

    reports = [threading.Thread(target=long_report) for _ in range(4)]
    for thread in reports:
        thread.start()
    deadline = time.monotonic() + 30
    while len(finished) < 4 - PAGE_CONCURRENCY and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = sorted(finished)
    assert [(status, code) for _, status, code in refused] == [(503, "pages_busy")] * 2

    latencies = []
    for number in range(8):
        body, headers = signed({"id": 9000 + number, "status": "processing"})
        began = time.monotonic()
        response = requests.post(
            f"{served}/webhooks/woocommerce", data=body, headers=headers, timeout=30
        )
        latencies.append(time.monotonic() - began)
        assert response.status_code == 200, response.text
    deliveries_done = time.monotonic()
    for thread in reports:
        thread.join(60)
    served_reports = [entry for entry in finished if entry[1] == 200]
    assert len(served_reports) == PAGE_CONCURRENCY
    assert all(done > deliveries_done for done, _, _ in served_reports), (
        "the deliveries were answered while the long reports ran"
    )
    assert max(latencies) < 5, latencies
    with unit_of_work(engine) as session:
        assert len(session.exec(select(InboxDelivery)).all()) == 8
