"""Backups of the database and restoring one: SQLite through its online backup API,
PostgreSQL through pg_dump and pg_restore; every file written readable by its owner only.

A backup is named ``creator-bridge-<UTC time>.db`` (SQLite) or ``.dump`` (PostgreSQL, pg_dump's
custom format) in the folder the operator chose; the newest ``keep`` of them stay. A restore
checks the file (it opens as a database of this service, at a schema revision this version
knows) and never overwrites a database unless told to (``force``).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import make_url

from bridge.errors import PermanentError
from bridge.store.db import (
    MIGRATIONS_DIR,
    SQLITE_BUSY_TIMEOUT_MS,
    BackupRefused,
    backup_sqlite,
    head_revision,
)

NAME = re.compile(r"^creator-bridge-(\d{8}T\d{6}Z)\.(db|dump)$")
PRIVATE = 0o600
PG_TIMEOUT_SECONDS = 3600


class RestoreRefused(PermanentError):
    """The file cannot be restored (not a backup, an unknown schema, a database in the way)."""


def make_private(path: Path) -> None:
    """Readable and writable by the owner only (personal data, secrets)."""
    if path.exists():
        os.chmod(path, PRIVATE)


def sqlite_files(database_url: str) -> list[Path]:
    """The SQLite database file and the files SQLite keeps beside it (WAL, shared memory)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []
    path = Path(url.database)
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def libpq_url(database_url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class BackupFile:
    path: Path
    bytes: int
    revision: str | None


def backups_in(folder: Path) -> list[Path]:
    """The service's backups in the folder, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if NAME.match(p.name))


def take_backup(
    database_url: str, folder: Path, keep: int, now: datetime
) -> tuple[BackupFile, list[Path]]:
    """Write a new backup into ``folder`` and drop the oldest beyond ``keep``; (the backup,
    the files dropped)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    backend = make_url(database_url).get_backend_name()
    suffix = "db" if backend == "sqlite" else "dump"
    target = folder / f"creator-bridge-{now:%Y%m%dT%H%M%SZ}.{suffix}"
    if backend == "sqlite":
        # Created empty and private first: the copy never exists readable by others.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
        target.unlink()
        backup_sqlite(database_url, target)
        _self_contained(target)
    else:
        pg_dump(database_url, target)
    make_private(target)
    dropped = []
    kept = backups_in(folder)
    for old in kept[: max(0, len(kept) - keep)]:
        old.unlink(missing_ok=True)
        dropped.append(old)
    return BackupFile(target, target.stat().st_size, read_revision(target)), dropped


def _self_contained(path: Path) -> None:
    """One file, no write-ahead log beside it: the copy is read later without leaving any."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE").fetchall()
    finally:
        connection.close()


def pg_dump(database_url: str, target: Path) -> None:
    """pg_dump in its custom format (what pg_restore reads), or BackupRefused saying how."""
    program = shutil.which("pg_dump")
    if program is None:
        raise BackupRefused(
            "pg_dump is not installed here: install the PostgreSQL client tools "
            "(`apt-get install postgresql-client`) of the server's major version"
        )
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    os.close(fd)
    done = subprocess.run(  # noqa: S603  (a fixed program, arguments as a list)
        [program, "--format=custom", "--no-owner", f"--file={target}", libpq_url(database_url)],
        capture_output=True,
        text=True,
        timeout=PG_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise BackupRefused(f"pg_dump failed: {_no_password(first, database_url)}")


def _no_password(text: str, database_url: str) -> str:
    password = make_url(database_url).password
    return text.replace(str(password), "***") if password else text


def read_revision(path: Path) -> str | None:
    """The schema revision a backup file was taken at; RestoreRefused when it is no backup."""
    with path.open("rb") as handle:
        magic = handle.read(16)
    if magic.startswith(b"SQLite format 3\x00"):
        return _sqlite_revision(path)
    if magic.startswith(b"PGDMP"):
        return _dump_revision(path)
    raise RestoreRefused(f"{path} is neither an SQLite backup nor a pg_dump custom-format file")


def _sqlite_revision(path: Path) -> str | None:
    try:
        # immutable: a backup is read as it is, with no lock or shared-memory file made beside it.
        connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise RestoreRefused(f"{path} is damaged (SQLite's quick_check fails)")
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"{path} is not a database of this service ({exc})") from None
    return str(row[0]) if row else None


def _dump_revision(path: Path) -> str | None:
    program = shutil.which("pg_restore")
    if program is None:
        raise RestoreRefused(
            "pg_restore is not installed here: install the PostgreSQL client tools "
            "(`apt-get install postgresql-client`)"
        )
    done = subprocess.run(  # noqa: S603  (a fixed program, arguments as a list)
        [program, "--data-only", "--table=alembic_version", "--file=-", str(path)],
        capture_output=True,
        text=True,
        timeout=PG_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RestoreRefused(f"{path} cannot be read by pg_restore")
    # The COPY block: a header line, the revision, then the end marker.
    lines = done.stdout.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and index + 1 < len(lines):
            value = lines[index + 1].strip()
            return None if value == "\\." else value
    return None


def check_revision(revision: str | None) -> None:
    """Refuse a backup whose schema this version does not know (taken by a newer version)."""
    if revision is None:
        raise RestoreRefused("the backup has no schema revision: it is no database of this service")
    from alembic.script import ScriptDirectory  # only here: importing Alembic is slow
    from alembic.util import CommandError

    try:
        known = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise RestoreRefused(
            f"the backup is at schema revision {revision}, which this version does not know "
            f"(it knows up to {head_revision()}): restore it with the version that took it"
        )


def restore(database_url: str, source: Path, *, force: bool, now: datetime) -> str:
    """Put the backup in the database's place; returns the backup's schema revision.

    SQLite: an existing database file is refused unless ``force``, and then kept beside it
    (``<file>.before-restore-<time>``). PostgreSQL: pg_restore --clean into the database.
    """
    if not source.is_file():
        raise RestoreRefused(f"no file {source}")
    revision = read_revision(source)
    check_revision(revision)
    assert revision is not None
    backend = make_url(database_url).get_backend_name()
    if backend == "sqlite":
        _restore_sqlite(database_url, source, force=force, now=now)
    else:
        if not source.read_bytes()[:5] == b"PGDMP":
            raise RestoreRefused(f"{source} is an SQLite backup; the database is PostgreSQL")
        _restore_postgresql(database_url, source, force=force)
    return revision


def _restore_sqlite(database_url: str, source: Path, *, force: bool, now: datetime) -> None:
    files = sqlite_files(database_url)
    if not files:
        raise RestoreRefused("DATABASE_URL names no SQLite file to restore into")
    database = files[0]
    if not source.read_bytes()[:16].startswith(b"SQLite format 3"):
        raise RestoreRefused(f"{source} is a pg_dump file; the database is SQLite")
    if source.resolve() == database.resolve():
        raise RestoreRefused("the backup file is the database itself")
    if database.exists():
        if not force:
            raise RestoreRefused(
                f"{database} exists; stop the service and add --force to replace it "
                "(the current file is kept beside it)"
            )
        kept = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        _copy_sqlite(database, kept)
    staged = database.with_name(f"{database.name}.restoring")
    staged.unlink(missing_ok=True)
    _copy_sqlite(source, staged, backup=True)
    for leftover in files[1:]:
        leftover.unlink(missing_ok=True)  # the old database's log must not replay onto the new
    os.replace(staged, database)
    make_private(database)


def _copy_sqlite(source: Path, target: Path, *, backup: bool = False) -> None:
    """A consistent copy through SQLite's backup API, private from its first byte; a
    ``backup`` file is read as it is (nothing made beside it)."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE))
    mode = "ro&immutable=1" if backup else "ro"
    reader = sqlite3.connect(
        f"file:{source}?mode={mode}", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
    )
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
            writer.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            writer.close()
    finally:
        reader.close()


def _restore_postgresql(database_url: str, source: Path, *, force: bool) -> None:
    program = shutil.which("pg_restore")
    if program is None:
        raise RestoreRefused(
            "pg_restore is not installed here (`apt-get install postgresql-client`)"
        )
    if not force and _has_tables(database_url):
        raise RestoreRefused(
            "the database already has the service's tables; stop the service and add --force "
            "to replace them"
        )
    done = subprocess.run(  # noqa: S603  (a fixed program, arguments as a list)
        [
            program,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={libpq_url(database_url)}",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=PG_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise RestoreRefused(
            f"pg_restore failed (nothing changed): {_no_password(first, database_url)}"
        )


def _has_tables(database_url: str) -> bool:
    from sqlalchemy import inspect

    from bridge.store.db import make_engine

    engine = make_engine(database_url)
    try:
        return "alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
