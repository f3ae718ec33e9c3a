"""Databases of a test run's own: the local PostgreSQL server's address, a migrated database
created and dropped around a block (for a module that seeds one database for all its tests), and
emptying one between tests."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bridge.store.db import make_engine, upgrade

PG_ADMIN_URL = os.environ.get(
    "BRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, migrated database on the local PostgreSQL, dropped after the block."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def module_database(request: pytest.FixtureRequest, folder: Path, prefix: str) -> Iterator[str]:
    """The URL of a migrated, empty database of the caller's own, of the kind request.param names:
    a copy of the SQLite template in folder, or a new PostgreSQL database (its name starts with
    prefix) dropped after the block; without a PostgreSQL server the test skips (fails on CI)."""
    if request.param == "sqlite":
        path = folder / "bridge.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails on CI) without a server
    with postgres_database(prefix) as url:
        yield url


def empty_all(engine: Engine) -> None:
    """Delete every row and restart the id sequences: as TRUNCATE, but ten times faster here."""
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(
            text("SELECT setval(c.oid, 1, false) FROM pg_class c WHERE c.relkind = 'S'")
        )
