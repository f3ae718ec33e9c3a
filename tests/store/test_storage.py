"""Storage on SQLite and PostgreSQL: migrations match models, pragmas, schema guard, rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import SQLModel, select

from bridge.store import models
from bridge.store.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    SchemaOutdated,
    head_revision,
    make_engine,
    require_current_schema,
    schema_status,
    unit_of_work,
    upgrade,
)


def test_the_migrations_create_exactly_the_tables_the_models_declare(engine: Engine) -> None:
    """Autogenerate finds no difference between the migrated database and the models."""
    # Nothing is ignored on either database: types, nullability, indexes and constraints must match.
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], (
        "models and migrations disagree; write a migration with "
        f'`python scripts/new_migration.py "what changed"`: {differences}'
    )


def test_every_model_table_exists_after_the_migrations(engine: Engine) -> None:
    """Each table on the metadata, and alembic's own, is present in the migrated database."""
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) | {"alembic_version"} <= tables


def test_a_migrated_database_is_at_the_newest_revision(engine: Engine) -> None:
    """The schema status of a migrated database is current, and the guard lets it through."""
    status = schema_status(engine)
    assert status.current == head_revision()
    assert status.up_to_date
    require_current_schema(engine)


def test_the_head_read_from_the_migration_files_is_alembics_and_the_version_row_its_own(
    engine: Engine,
) -> None:
    """The schema check reads the files and the version table without Alembic; both agree with
    what Alembic itself reads."""
    from alembic.script import ScriptDirectory

    from bridge.store.db import MIGRATIONS_DIR, current_revision

    assert head_revision() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    with engine.connect() as connection:
        assert (
            current_revision(engine)
            == MigrationContext.configure(connection).get_current_revision()
        )


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    """`bridge db upgrade` is safe to run again on a current database."""
    assert upgrade(engine) == head_revision()
    assert schema_status(engine).up_to_date


def test_the_schema_guard_refuses_an_empty_database_and_names_the_fix(empty_engine: Engine) -> None:
    """A database without the schema stops the service with the command that fixes it."""
    with pytest.raises(SchemaOutdated) as caught:
        require_current_schema(empty_engine)
    message = str(caught.value)
    assert "bridge db upgrade" in message
    assert "revision none" in message
    assert head_revision() in message


def test_upgrade_creates_the_schema_in_an_empty_database(empty_engine: Engine) -> None:
    """Upgrading an empty database brings it to the newest revision."""
    assert schema_status(empty_engine).current is None
    upgrade(empty_engine)
    require_current_schema(empty_engine)


def test_work_that_is_not_committed_is_rolled_back(engine: Engine) -> None:
    """A unit of work left without commit() leaves no trace in the database."""
    with unit_of_work(engine) as session:
        session.add(models.Counter(name="uncommitted", value=1))
        session.flush()
    with unit_of_work(engine) as session:
        assert session.exec(select(models.Counter)).all() == []


def test_work_that_is_committed_is_kept(engine: Engine) -> None:
    """A unit of work that calls commit() persists its rows."""
    with unit_of_work(engine) as session:
        session.add(models.Counter(name="committed", value=3))
        session.commit()
    with unit_of_work(engine) as session:
        assert session.get(models.Counter, "committed").value == 3


def test_an_error_inside_a_unit_of_work_rolls_it_back(engine: Engine) -> None:
    """An exception leaves the unit of work without writing anything."""
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        session.add(models.Counter(name="failed", value=1))
        session.flush()
        raise RuntimeError("boom")
    with unit_of_work(engine) as session:
        assert session.get(models.Counter, "failed") is None


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    """A row pointing at a learner that does not exist is refused on both databases."""
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        session.add(models.LearnerEmail(email="ghost@example.com", learner_id=999_999))
        session.commit()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection the engine opens has the pragmas the embedded default relies on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == (
                SQLITE_BUSY_TIMEOUT_MS
            )
    finally:
        engine.dispose()


def test_sqlite_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """A second writer waits for the first from BEGIN on, instead of failing on lock upgrade."""
    path = tmp_path / "locks.db"
    first, second = make_engine(f"sqlite:///{path}"), make_engine(f"sqlite:///{path}")
    try:
        with first.connect() as holder:
            holder.begin()
            with second.connect() as waiter:
                # On the raw connection, so that no transaction (and no BEGIN IMMEDIATE) starts.
                waiter.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")
                with pytest.raises(OperationalError, match="database is locked"):
                    waiter.begin()
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.both_databases
def test_a_pooled_connection_ended_while_idle_is_replaced_before_it_is_used(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled PostgreSQL connection idle past PING_IDLE_AFTER is pinged at checkout and, its
    session ended by the server meanwhile, replaced: the statement runs on a new one. One in
    use a moment ago is not pinged (no round trip per acknowledgement); SQLite pings none."""
    from sqlalchemy import create_engine, text

    from bridge.store import db
    from tests.support.databases import PG_ADMIN_URL

    pings: list[object] = []
    do_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or do_ping(c))
    db.ping(engine)  # a connection now in the pool
    if engine.dialect.name == "postgresql":
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": engine.url.database},
            )
        admin.dispose()
        monkeypatch.setattr(db, "PING_IDLE_AFTER", 0.0)
    db.ping(engine)
    monkeypatch.setattr(db, "PING_IDLE_AFTER", 3600.0)
    pinged = len(pings)
    db.ping(engine)
    assert len(pings) == pinged
    assert (pinged > 0) == (engine.dialect.name == "postgresql")
