"""Fixtures every folder of tests uses: a real database (SQLite and PostgreSQL), settings, the
sample catalogue stored, the shop's HTTP faked, the `bridge` command in an empty folder, and
background work and password hashing kept cheap and inside each test.

Helpers are not here: they live in tests/support/ and are imported from there."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import responses
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text

from bridge.cli.main import main
from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.inbox.rejections import cancel_pending
from bridge.settings import VARIABLES, Settings
from bridge.store.db import make_engine, upgrade
from tests.support.databases import PG_ADMIN_URL, empty_all, postgres_database
from tests.support.sample_shop import HISTORY_IS_NEWS, sample_catalogue, store_cohorts
from webhooks.processing import stop_all_processors


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


@pytest.fixture
def bridge_env(database_url: str) -> dict[str, str]:
    """The environment `bridge` runs with (the `bridge` fixture): the test database only. A
    module whose commands need more overrides this fixture."""
    return {"DATABASE_URL": database_url}


@pytest.fixture
def bridge(workdir: Path, bridge_env: dict[str, str]) -> Callable[..., Result]:
    """Run `bridge ...` in the empty working folder with `bridge_env` (plus keyword variables)."""

    def run(*args: str, input: str | None = None, **extra: str) -> Result:
        return CliRunner().invoke(main, list(args), env={**bridge_env, **extra}, input=input)

    return run


@pytest.fixture(autouse=True)
def _background_work_stays_in_its_test() -> Iterator[None]:
    """A test's processing threads stop with it (they poll every few seconds and would process a
    later test's deliveries), and the unsigned requests its app counted in memory are never
    flushed (a minute later, by their timer) into a later test's database."""
    yield
    stop_all_processors()
    cancel_pending()


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters: the real ones cost a second a hash on a busy machine."""
    from bridge.services.operations import operators

    monkeypatch.setattr(
        operators, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


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
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable on CI at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    finally:
        admin.dispose()
    with postgres_database("bridge_test") as url:
        yield url


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
    empty_all(cleanup)
    cleanup.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for a configured shop over https, on the test database."""
    return Settings().replace(
        shop={
            "url": "https://shop.example.com",
            "consumer_key": "ck_test_0123456789",
            "consumer_secret": "cs_test_0123456789",
            "webhook_secret": "whsec-wcreal-test",
        },
        database={"url": database_url},
        http={"max_attempts": 3, "retry_budget_seconds": 5},
        # The fixtures' orders are dated in the past: tests of live behaviour treat them as news;
        # tests of history (tests/sync/test_live_shop.py) unset this.
        writeback={"notify_since": HISTORY_IS_NEWS},
    )


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """The shop's HTTP, faked with responses; a test need not call every answer it registers."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def config(database_url: str) -> Settings:
    """Settings with nothing but the test database: no shop, every default."""
    return Settings().replace(database={"url": database_url})


@pytest.fixture
def catalogue(engine: Engine) -> Catalogue:
    """The sample catalogue, its cohort stored in the test database."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    return catalogue
