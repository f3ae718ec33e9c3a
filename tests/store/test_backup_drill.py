"""The backup drill: the scheduler's backup job copies the database into the operator's folder
(private files, the newest N kept); the database is lost; `bridge db restore FILE` brings it
back with every balance and seat as they were. SQLite through its online backup API,
PostgreSQL through pg_dump and pg_restore (when they are installed, as on CI)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from bridge.cli.main import main
from bridge.settings import Settings
from bridge.store.db import make_engine
from sync.context import JobResult
from sync.jobs import run_job
from sync.scheduler import SyncScheduler
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.sync import make_ports

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BUYERS = ("ann@example.com", "bo@example.com", "cy@example.com")


def needs_pg_client(database_url: str) -> None:
    """PostgreSQL's half needs pg_dump and pg_restore: on CI (which installs them) their
    absence fails the test, elsewhere it is skipped, saying so."""
    if database_url.startswith("sqlite") or (
        shutil.which("pg_dump") and shutil.which("pg_restore")
    ):
        return
    message = "pg_dump and pg_restore are not installed (apt-get install postgresql-client)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def seed(engine: Engine) -> None:
    """Three buyers: mentor packs and cohort seats, one of them refunded."""
    from bridge.services.orders import process_order

    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    settings = Settings().replace(orders={"complimentary_call_minutes": 0})
    for number, email in enumerate(BUYERS):
        order = make_order(
            700 + number,
            [("MENTOR-PACK-5H", 1), ("COHORT-DV-2027-01", 1)],
            email=email,
            customer_id=70 + number,
        )
        process_order(engine, order, catalogue=catalogue, settings=settings)
    refunded = make_order(
        700, [("MENTOR-PACK-5H", 1), ("COHORT-DV-2027-01", 1)], email=BUYERS[0], customer_id=70
    )
    refunded.update(status="refunded", date_modified_gmt="2026-11-29T10:00:00")
    process_order(engine, refunded, catalogue=catalogue, settings=settings)


def holdings(engine: Engine) -> dict[str, Any]:
    """Every learner's balances and seats, by e-mail."""
    with engine.connect() as connection:
        balances = connection.execute(
            text(
                "SELECT l.email, e.credit_type, SUM(e.amount) FROM ledger_entry e "
                "JOIN learner l ON l.id = e.learner_id GROUP BY l.email, e.credit_type "
                "ORDER BY l.email, e.credit_type"
            )
        ).all()
        seats = connection.execute(
            text(
                "SELECT l.email, s.cohort_code, s.status FROM seat s "
                "JOIN learner l ON l.id = s.learner_id ORDER BY l.email, s.id"
            )
        ).all()
    return {"balances": [tuple(row) for row in balances], "seats": [tuple(row) for row in seats]}


def backup_settings(database_url: str, folder: Path, keep: int = 2) -> Settings:
    """The backup job every hour into ``folder``; every other job off."""
    schedules = {f"{job}_schedule": "off" for job in Settings().sync.jobs()}
    return Settings().replace(
        database={"url": database_url, "backup_dir": folder, "backup_keep": keep},
        sync={**schedules, "backup_schedule": "1h"},
    )


def bridge(*args: str, database_url: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database_url})


def test_the_backup_job_runs_on_the_scheduler_into_private_files(engine, database_url, tmp_path):
    """Started, the scheduler runs the backup job at once (an interval job catches up), even
    without a shop; the file is readable by its owner only."""
    needs_pg_client(database_url)
    seed(engine)
    folder = tmp_path / "backups"
    settings = backup_settings(database_url, folder)
    results: list[JobResult] = []
    done = threading.Event()

    def seen(result: JobResult) -> None:
        results.append(result)
        done.set()

    scheduler = SyncScheduler(make_ports(engine, settings, sample_catalogue()), on_result=seen)
    assert scheduler.planned == [("backup", "1h")]
    scheduler.start()
    try:
        assert done.wait(60), "the backup job did not run"
    finally:
        scheduler.shutdown()
    assert [(r.job, r.status) for r in results] == [("backup", "ok")], results[0].reason
    [backup] = list(folder.iterdir())
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0


@sqlite_only
def test_the_job_keeps_the_newest_n_backups(engine, database_url, tmp_path):
    """Three runs an hour apart with keep 2: the oldest is deleted, the run says so."""
    seed(engine)
    folder = tmp_path / "backups"
    settings = backup_settings(database_url, folder, keep=2)
    start = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    for hour in range(3):
        ports = make_ports(
            engine, settings, sample_catalogue(), clock=lambda h=hour: start + timedelta(hours=h)
        )
        result = run_job("backup", ports)
        assert result.status == "ok", result.reason
    assert sorted(p.name for p in folder.iterdir()) == [
        "creator-bridge-20261207T040000Z.db",
        "creator-bridge-20261207T050000Z.db",
    ]
    assert any(
        "deleted the old backup creator-bridge-20261207T030000Z.db" in n for n in result.notes
    )


def test_drill_back_up_lose_the_database_restore_and_everything_is_there(
    engine, database_url, tmp_path
):
    """Back up; lose the database; restore with `bridge db restore`: balances and seats equal."""
    needs_pg_client(database_url)
    seed(engine)
    before = holdings(engine)
    assert before["balances"] and before["seats"]
    folder = tmp_path / "backups"
    result = run_job(
        "backup", make_ports(engine, backup_settings(database_url, folder), sample_catalogue())
    )
    assert result.status == "ok", result.reason
    [backup] = list(folder.iterdir())
    engine.dispose()
    lose(database_url)
    restored = bridge("db", "restore", str(backup), "--force", database_url=database_url)
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output
    again = make_engine(database_url)
    try:
        assert holdings(again) == before
    finally:
        again.dispose()


def lose(database_url: str) -> None:
    """The database is gone: the SQLite files deleted, or every PostgreSQL table dropped."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            file.unlink(missing_ok=True)
        return
    lost = make_engine(database_url)
    try:
        with lost.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        lost.dispose()


@sqlite_only
def test_restore_checks_the_file_and_never_overwrites_without_force(engine, database_url, tmp_path):
    """A file that is no backup, a backup of a schema this version does not know, and a
    database in the way are each one error line; nothing is replaced."""
    seed(engine)
    before = holdings(engine)
    folder = tmp_path / "backups"
    run_job("backup", make_ports(engine, backup_settings(database_url, folder), sample_catalogue()))
    [backup] = list(folder.iterdir())
    engine.dispose()

    refused = bridge("db", "restore", str(backup), database_url=database_url)
    assert refused.exit_code == 1
    assert "exists; stop the service and add --force" in refused.output

    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    assert (
        "neither an SQLite backup"
        in bridge("db", "restore", str(junk), "--force", database_url=database_url).output
    )

    newer = tmp_path / "newer.db"
    shutil.copy(backup, newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    answer = bridge("db", "restore", str(newer), "--force", database_url=database_url)
    assert answer.exit_code == 1 and "schema revision 9999" in answer.output
    again = make_engine(database_url)
    try:
        assert holdings(again) == before
    finally:
        again.dispose()


@sqlite_only
def test_a_forced_restore_keeps_the_replaced_database_beside_it(engine, database_url, tmp_path):
    seed(engine)
    folder = tmp_path / "backups"
    run_job("backup", make_ports(engine, backup_settings(database_url, folder), sample_catalogue()))
    [backup] = list(folder.iterdir())
    engine.dispose()
    answer = bridge("db", "restore", str(backup), "--force", "--json", database_url=database_url)
    assert answer.exit_code == 0, answer.output
    path = Path(database_url.removeprefix("sqlite:///"))
    [kept] = path.parent.glob(f"{path.name}.before-restore-*")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
