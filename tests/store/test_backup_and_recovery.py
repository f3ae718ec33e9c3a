"""`bridge init` records when the bridge started watching; `bridge db backup` copies SQLite live."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from bridge.cli.main import main
from bridge.services.orders import process_order
from bridge.services.orders.watch import WATCH_KEY, watch_since
from bridge.settings import Settings
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import WatchState
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def bridge(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, terminal_width=100)


def test_init_records_when_the_bridge_started_watching_and_a_second_init_keeps_it(workdir: Path):
    """Customers hear only of what happens after the first init; running it again moves nothing."""
    first = bridge("init")
    assert first.exit_code == 0, first.output
    assert "watching the shop since" in first.output
    engine = make_engine(f"sqlite:///{workdir / 'creator-bridge.db'}")
    try:
        since, source = recorded_watch(engine)
        assert source == "init"
        assert f"watching the shop since {since:%Y-%m-%d %H:%M} UTC" in first.output
        again = bridge("init")
        assert again.exit_code == 0
        assert f"watching the shop since {since:%Y-%m-%d %H:%M} UTC" in again.output
        assert recorded_watch(engine) == (since, "init")
        moved = since.replace(year=2020)
        with unit_of_work(engine) as session:
            assert watch_since(session, Settings()) == since
            assert (
                watch_since(
                    session,
                    Settings().replace(
                        writeback={"notify_since": moved},
                    ),
                )
                == moved
            )
    finally:
        engine.dispose()


def recorded_watch(engine: Engine) -> tuple[datetime, str]:
    """The stored watch start and what recorded it."""
    with unit_of_work(engine) as session:
        state = session.get(WatchState, WATCH_KEY)
        assert state is not None
        return state.since, state.source


@sqlite_only
def test_db_backup_copies_the_live_database_and_never_overwrites(
    engine, settings, database_url, tmp_path: Path
):
    """The copy holds every ledger row; a second backup to the same file is refused in one line."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    process_order(
        engine,
        make_order(300, [("MENTOR-PACK-3H", 1)]),
        catalogue=catalogue,
        settings=settings.replace(shop={"url": None}),
    )
    target = tmp_path / "backup.db"
    env = {"DATABASE_URL": database_url}
    result = bridge("--env-file", "/dev/null", "db", "backup", str(target), env=env)
    assert result.exit_code == 0, result.output
    assert "backed up to" in result.output and "schema revision" in result.output
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT sum(amount) FROM ledger_entry").fetchone() == (210,)
    finally:
        copy.close()
    again = bridge("--env-file", "/dev/null", "db", "backup", str(target), env=env)
    assert again.exit_code == 1
    assert again.output.strip().startswith("error:") and "never overwrites" in again.output
    assert "Traceback" not in again.output


def test_db_backup_on_postgresql_says_to_use_pg_dump(tmp_path: Path):
    """PostgreSQL is backed up with pg_dump: the command says so instead of failing obscurely."""
    env = {"DATABASE_URL": "postgresql+psycopg://bridge@127.0.0.1:5432/nothing-here"}
    result = bridge("--env-file", "/dev/null", "db", "backup", str(tmp_path / "x.db"), env=env)
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.db").exists()
