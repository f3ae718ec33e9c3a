"""Shared fixtures: a real database (SQLite and PostgreSQL), settings, and fixture payloads."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bridge.services.inbox.rejections import cancel_pending
from bridge.settings import VARIABLES, Settings
from bridge.store.db import make_engine, upgrade
from webhooks.processing import stop_all_processors

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "woocommerce-real"
PG_ADMIN_URL = os.environ.get(
    "BRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder, none of the bridge's variables set, logging restored after."""
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield tmp_path
    # CLI commands point the root logger at the runner's stderr, which is closed by now.
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _background_work_stays_in_its_test() -> Iterator[None]:
    """A test's processing threads stop with it (they poll every few seconds and would process a
    later test's deliveries), and the unsigned requests its app counted in memory are never
    flushed (a minute later, by their timer) into a later test's database."""
    yield
    stop_all_processors()
    cancel_pending()


def load_json(relative: str) -> object:
    """A JSON fixture by its path under tests/fixtures (a fresh copy each call)."""
    return json.loads((FIXTURES / relative).read_bytes())


def real_delivery(name: str) -> tuple[dict[str, str], bytes]:
    """A captured delivery: its headers as a dict and its raw body bytes."""
    meta = json.loads((REAL / "deliveries" / f"{name}.headers.json").read_text())
    headers = {key: value for key, value in meta["headers"]}
    return headers, (REAL / "deliveries" / f"{name}.body").read_bytes()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own on the local PostgreSQL, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001  (any failure to connect means: no server here)
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable on CI at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    name = f"bridge_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_all(engine: Engine) -> None:
    """Delete every row and restart the id sequences: as TRUNCATE, but ten times faster here."""
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(text(
            "SELECT setval(c.oid, 1, false) FROM pg_class c WHERE c.relkind = 'S'"
        ))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: once SQLite, once PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "bridge.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    cleanup = make_engine(url)
    _empty_all(cleanup)
    cleanup.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


HISTORY_IS_NEWS = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for a configured shop over https, on the test database."""
    return Settings(
        woocommerce_url="https://shop.example.com",
        consumer_key="ck_test_0123456789",
        consumer_secret="cs_test_0123456789",
        webhook_secret="whsec-wcreal-test",
        database_url=database_url,
        http_max_attempts=3,
        http_retry_budget_seconds=5,
        # The fixtures' orders are dated in the past: tests of live behaviour treat them as news;
        # tests of history (tests/test_live_shop.py) unset this.
        notify_since=HISTORY_IS_NEWS,
    )
