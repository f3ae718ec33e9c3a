"""Database engine, unit of work and schema migrations (SQLite embedded, PostgreSQL scale-out)."""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, event, inspect, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

from bridge.errors import PermanentError
from bridge.logs import redact
from bridge.store.writers import WriterConnection, writer_turn

try:
    import fcntl
except ImportError:  # pragma: no cover  (not on POSIX)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite copies the WAL into the database file (a checkpoint: two fsyncs) inside the COMMIT that
# takes the WAL past this many pages, while that writer still holds the writers' turn: every
# acknowledgement waits behind it (5-170 ms stalls every ~250 inserts at SQLite's 1,000). The
# inbox drain checkpoints after each batch off the turn (``checkpoint``), but under steady
# acknowledgements that never copies the last pages, so the WAL only restarts from this bound:
# 4,000 (16 MB) has a third of the stalls and the same cost per insert; at 10,000 a WAL of 40 MB
# made each insert slower.
SQLITE_WAL_AUTOCHECKPOINT = 4_000
# A pooled PostgreSQL connection idle longer than this (seconds) is pinged before it is used.
PING_IDLE_AFTER = 1.0
# SQLite calls the progress handler every so many virtual-machine steps (well under a
# millisecond of work); statements shorter than that (BEGIN, COMMIT) are never interrupted.
SQLITE_PROGRESS_STEPS = 10_000
# Set by the transaction's first execution option: an SQLite read begins DEFERRED.
READ_ONLY = "bridge_read_only"
BY_KEY = "bridge_by_key"
# The time budget of each query run on this thread (a page request's), None: unbounded.
_query_budget: ContextVar[float | None] = ContextVar("bridge_query_budget", default=None)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or answered with an error; retry later."""


class QueryTimeout(RuntimeError):
    """A query of a page ran longer than its budget and was cancelled (nothing was changed)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the query took longer than {seconds:g} s and was stopped")


class SchemaOutdated(RuntimeError):
    """The schema is behind the code; ``bridge db upgrade`` fixes it."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """Build the engine; SQLite gets WAL, a busy timeout, foreign keys and immediate writes.

    Raises DatabaseUnavailable (password masked) when the URL cannot make an engine.
    """
    try:
        return _make_engine(database_url, pool_size)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise DatabaseUnavailable(
            f"DATABASE_URL {redact(database_url)} cannot be used: {type(exc).__name__}: "
            f"{redact(str(exc).splitlines()[0] if str(exc) else '')}"
        ) from None


def dump_json(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """A JSON column's text: orjson (five times the standard library's speed on the rows a page
    of orders writes); what it refuses (integers past 64 bits, lone surrogates) as before.
    ``default`` turns other values into JSON ones, as the standard library's does."""
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, default=default)


def load_json(text: str | bytes) -> Any:
    """A JSON column's value (orjson; what it refuses, such as integers past 64 bits, by the
    standard library)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _make_engine(database_url: str, pool_size: int) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            json_serializer=dump_json,
            json_deserializer=load_json,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "check_same_thread": False,
                "factory": WriterConnection,
            },
        )
        _configure_sqlite(engine)
    else:
        engine = create_engine(
            database_url,
            json_serializer=dump_json,
            json_deserializer=load_json,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            connect_args={"connect_timeout": 5},
        )
        _ping_idle_connections(engine)
        _bound_postgresql_queries(engine)
    _report_query_timeouts(engine)
    return engine


@contextmanager
def query_budget(seconds: float | None) -> Iterator[None]:
    """Each query run on this thread inside gets ``seconds`` (None: no limit); one past its
    budget is cancelled and raises QueryTimeout. Pages run in one; receivers and workers not.

    PostgreSQL: ``SET LOCAL statement_timeout`` at the start of each transaction. SQLite: a
    progress handler that stops a statement (fetching its rows included) past the deadline.
    """
    token = _query_budget.set(seconds)
    try:
        yield
    finally:
        _query_budget.reset(token)


def set_query_budget(seconds: float | None) -> None:
    """As query_budget, for a request's before and teardown hooks (they cannot nest a with)."""
    _query_budget.set(seconds)


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled PostgreSQL connection before use only when it sat idle a while.

    SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` before every checkout: a round trip per
    webhook acknowledgement (a tenth of its CPU) on connections in use a moment ago. One idle
    longer than PING_IDLE_AFTER (the server restarted, a proxy dropped it) is still pinged, and
    a dead one is replaced before anything runs on it, as pre-ping does.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["bridge_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object
    ) -> None:
        since = record.info.get("bridge_idle_since")
        if since is not None and time.monotonic() - since < PING_IDLE_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out another (a fresh one if need be).
            raise DisconnectionError(str(exc)) from exc


def _bound_postgresql_queries(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(BY_KEY, False):
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # see unit_of_work
        budget = _query_budget.get()
        if budget is not None:
            # LOCAL: the timeout ends with the transaction, the pooled connection keeps none.
            connection.exec_driver_sql(
                f"SET LOCAL statement_timeout = {max(1, round(budget * 1000))}"
            )


def _report_query_timeouts(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        budget = _query_budget.get()
        if budget is None:
            return
        original = context.original_exception
        if getattr(original, "sqlstate", None) == "57014" or (  # query_canceled
            isinstance(original, sqlite3.OperationalError) and str(original) == "interrupted"
        ):
            raise QueryTimeout(budget) from None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below is honoured.
        dbapi_connection.isolation_level = None
        # The deadline of the statement running on this connection (a page's), or None.
        deadline: list[float | None] = [None]
        record.info["bridge_deadline"] = deadline
        dbapi_connection.set_progress_handler(
            lambda: deadline[0] is not None and time.monotonic() > deadline[0],
            SQLITE_PROGRESS_STEPS,
        )
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            # A brand-new file: from its first page on it gives deleted pages back on
            # `PRAGMA incremental_vacuum`; an existing file is converted by `upgrade` (VACUUM).
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        record.info["bridge_writer"] = writer_turn(dbapi_connection, engine.url.database)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # SQLite has no row locks: taking the write lock at BEGIN serialises writers the way
        # SELECT ... FOR UPDATE does on PostgreSQL, and avoids deadlocking lock upgrades.
        # A read-only unit of work takes no lock at all (WAL: readers never block the writer),
        # so a long report never holds back a webhook's insert.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        if read_only:
            connection.exec_driver_sql("BEGIN")
            return
        # Writers take turns on a lock file first (bridge.store.writers): the next one is let
        # in as soon as the last commits, instead of sleeping in SQLite's busy handler.
        _begin_writing(connection.info.get("bridge_writer"), connection.exec_driver_sql)

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(connection: Connection, *_args: Any) -> None:
        budget = _query_budget.get()
        connection.info["bridge_deadline"][0] = (
            None if budget is None else time.monotonic() + budget
        )

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        deadline = record.info.get("bridge_deadline")
        if deadline is not None:
            deadline[0] = None


@contextmanager
def unit_of_work(
    engine: Engine, *, read_only: bool = False, by_key: bool = False
) -> Iterator[Session]:
    """A session whose work is rolled back unless the caller commits it.

    ``read_only``: the session only reads (a report); on SQLite its transaction then takes no
    write lock, so writers (webhook receivers) go on beside it.

    ``by_key``: every statement finds its rows by an indexed key (a page of orders). On
    PostgreSQL the transaction is planned without sequential scans (``SET LOCAL
    enable_seqscan = off``): tables a first sync fills from empty have no statistics until
    autovacuum next analyses them, and with none the planner scanned a few thousand learners
    whole for each page rather than look up its hundred (half the database's time of a
    10,000-order sync). SQLite's planner goes by the indexes alone.
    """
    options = {READ_ONLY: True} if read_only else {}
    if by_key:
        options[BY_KEY] = True
    bind = engine.execution_options(**options) if options else engine
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
    finally:
        # close() rolls back whatever was not committed; objects read stay usable, detached.
        session.close()


@contextmanager
def raw_write(engine: Engine, *, one_statement: bool = False) -> Iterator[Any]:
    """A DB-API connection of the pool in a write transaction, committed when the block ends
    without an error and rolled back otherwise.

    For the one statement a webhook acknowledgement runs (bridge.services.inbox): no
    Connection, no statement cache key, a short write lock. It begins as every write
    transaction of the engine does (``_on_begin``): on SQLite the writers' turn, then BEGIN
    IMMEDIATE; on PostgreSQL the driver's implicit BEGIN. ``one_statement``: the block writes
    with one statement (and may read after it): on PostgreSQL that statement commits itself
    (autocommit), two round trips fewer than BEGIN ... COMMIT. Any database error is raised as
    DatabaseUnavailable; a connection the failure may have broken is dropped from the pool.
    """
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        raw = engine.raw_connection()
    except (SQLAlchemyError, dbapi_error) as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None
    sqlite = is_sqlite(engine)
    autocommit = one_statement and not sqlite
    try:
        connection: Any = raw.dbapi_connection
        turn = raw.info.get("bridge_writer") if sqlite else None
        try:
            if sqlite:
                _begin_writing(turn, connection.execute)
            elif autocommit:
                connection.autocommit = True
            yield connection
            if autocommit:
                connection.autocommit = False
            else:
                connection.commit()
        except dbapi_error as exc:
            _abandon(raw, autocommit)
            raise DatabaseUnavailable(describe_db_error(exc)) from None
        except BaseException:
            _abandon(raw, autocommit)
            raise
    finally:
        raw.close()


def _begin_writing(turn: Any, execute: Callable[[str], Any]) -> None:
    """An SQLite write transaction's start: the writers' turn (bridge.store.writers; None when
    the connection has none), then ``BEGIN IMMEDIATE``; the turn is given back if it fails."""
    if turn is not None:
        turn.take(SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        execute("BEGIN IMMEDIATE")
    except BaseException:
        if turn is not None:
            turn.give_back()
        raise


def _abandon(raw: Any, autocommit: bool) -> None:
    """Roll back a failed raw transaction (and leave autocommit); a connection that cannot is
    dropped from the pool."""
    try:
        raw.dbapi_connection.rollback()
        if autocommit:
            raw.dbapi_connection.autocommit = False
    except Exception:  # noqa: BLE001  (the connection is gone: the pool makes a new one)
        raw.invalidate()


def checkpoint(engine: Engine | Connection) -> None:
    """SQLite: copy the WAL's committed pages into the database file now (PASSIVE: it neither
    waits for nor holds back readers and writers, and takes no writer's turn), so that no
    acknowledgement's COMMIT does it. Nothing on PostgreSQL; a checkpoint that cannot run now
    is left to the next."""
    if not isinstance(engine, Engine) or not is_sqlite(engine):
        return  # a dry run hands its one rolled-back Connection: nothing of it is kept
    try:
        raw = engine.raw_connection()
    except SQLAlchemyError:
        return
    try:
        connection: Any = raw.dbapi_connection
        with contextlib.suppress(sqlite3.Error):
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


def _turn_file(engine: Engine) -> Path | None:
    """The lock file beside an SQLite database file (None in memory or on PostgreSQL)."""
    if not is_sqlite(engine):
        return None
    # A dry run hands a Connection (one rolled-back transaction) where an Engine goes.
    return _beside(engine.engine.url.database, "turns")


@functools.lru_cache(maxsize=64)
def _beside(database: str | None, suffix: str) -> Path | None:
    """``<database>-<suffix>``, a lock file beside an SQLite database file (None in memory)."""
    if not database or database == ":memory:":
        return None
    return Path(f"{database}-{suffix}")


# Each thread keeps its own handle on each turns file: flock belongs to an open file, so two
# threads must not share one, and opening the file for every delivery cost more than the lock.
_turn_handles = threading.local()
_KEPT_TURN_HANDLES = 4


class _Handles(dict[Path, IO[bytes]]):
    """One thread's turns files, closed when the thread ends."""

    def __del__(self) -> None:
        for handle in self.values():
            handle.close()


def _turn_handle(path: Path) -> IO[bytes] | None:
    handles: _Handles | None = getattr(_turn_handles, "handles", None)
    if handles is None:
        handles = _turn_handles.handles = _Handles()
    handle = handles.get(path)
    if handle is not None and os.fstat(handle.fileno()).st_nlink == 0:
        handle.close()  # the file was removed (a test's directory): a new one is used now
        handle = None
    if handle is None:
        if len(handles) >= _KEPT_TURN_HANDLES:  # a process that went through many databases
            for old in handles.values():
                old.close()
            handles.clear()
        try:
            handle = handles[path] = open(path, "a+b")  # noqa: SIM115  (kept by the thread)
        except OSError:
            return None
    return handle


@contextmanager
def _flock(path: Path | None, shared: bool) -> Iterator[None]:
    if fcntl is None or path is None:  # not on POSIX: no priority, the busy timeout serialises
        yield
        return
    handle = _turn_handle(path)
    if handle is None:
        yield
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# The session advisory lock the service's processing threads take turns on (PostgreSQL).
DRAIN_TURN_LOCK = 0x62726964_67650001  # "bridge", then the lock's number


@contextmanager
def draining_alone(engine: Engine, *, beside_receivers: bool = False) -> Iterator[bool]:
    """Around one drain of the inbox: True when this process may drain now.

    On SQLite every write takes turns on one lock, so two processes draining at once do not
    process more than one; they only share the CPU and the GIL with the receivers of both. A
    drain holds ``<database>-drain`` exclusively (without waiting: another process draining
    says False, and the loop looks again shortly). On PostgreSQL drains run side by side (row
    locks, SKIP LOCKED claims), as ``bridge work`` processes do; the processing threads of web
    processes (``beside_receivers``) take turns all the same, on a session advisory lock held
    on a connection of its own: each shares its process's CPU and GIL with that process's
    receivers, and one drain keeps up with what all of them store (with every web process
    draining, a burst on PostgreSQL was acknowledged a fifth slower). SQLite in memory: True.
    """
    if engine.dialect.name == "postgresql":
        if not beside_receivers:
            yield True
            return
        with _advisory_turn(engine, DRAIN_TURN_LOCK) as taken:
            yield taken
        return
    path = _beside(engine.engine.url.database, "drain") if is_sqlite(engine) else None
    if fcntl is None or path is None:
        yield True
        return
    handle = _turn_handle(path)
    if handle is None:
        yield True
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _advisory_turn(engine: Engine, key: int) -> Iterator[bool]:
    """PostgreSQL: a session advisory lock taken without waiting (True) or held by another
    session (False), on a connection of its own for the block and let go after it."""
    with engine.connect() as connection:
        lock = text("SELECT pg_try_advisory_lock(:key)")
        taken = bool(connection.execute(lock, {"key": key}).scalar())
        connection.commit()
        try:
            yield taken
        finally:
            if taken:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    connection.commit()
                except SQLAlchemyError:
                    connection.invalidate()  # the session ends, and its lock with it


@contextmanager
def acknowledging(engine: Engine) -> Iterator[None]:
    """Around storing a webhook delivery: it goes ahead of background processing on SQLite.

    SQLite has one write lock and its busy handler sleeps up to 100 ms between tries, so an
    insert waiting behind a processing loop that takes the lock again at once can starve.
    Acknowledgements hold a shared lock on a file beside the database while they write;
    processing takes it exclusively (and lets it go) before each delivery, so it waits for
    the acknowledgements in flight. On PostgreSQL (row locks) this does nothing.
    """
    with _flock(_turn_file(engine), shared=True):
        yield


def wait_for_acknowledgements(engine: Engine) -> None:
    """Before processing a delivery on SQLite: let the acknowledgements in flight write first."""
    with _flock(_turn_file(engine), shared=False):
        return


# Alembic (and the migrations) load only to migrate: every command checks the schema on start,
# and importing Alembic costs more than the check itself.


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


def head_revision() -> str:
    """The newest migration's revision, read from the ``revision`` and ``down_revision`` lines
    of the migration files; Alembic reads them when those do not name exactly one head."""
    revisions: set[str] = set()
    below: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return _alembic_head()
        if not isinstance(revision, str):
            return _alembic_head()
        revisions.add(revision)
        below.update([down] if isinstance(down, str) else (down or ()))
    heads = revisions - below
    return heads.pop() if len(heads) == 1 else _alembic_head()


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's version table); None before the first."""
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return ",".join(sorted(found)) or None
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None


def upgrade(engine: Engine) -> str:
    """Create or upgrade the schema to the newest revision; return it.

    Raises DatabaseUnavailable when the database cannot be reached or written.
    """
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), "head")
        if is_sqlite(engine):
            _use_incremental_vacuum(engine)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None
    return head_revision()


SQLITE_INCREMENTAL = 2


def _use_incremental_vacuum(engine: Engine) -> None:
    """Convert an SQLite file made without auto_vacuum (one VACUUM, outside any transaction)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if cursor.execute("PRAGMA auto_vacuum").fetchone()[0] != SQLITE_INCREMENTAL:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("VACUUM")
        cursor.close()
    finally:
        raw.close()


def reclaim_space(engine: Engine) -> int:
    """Give free pages back to the file system (SQLite); returns how many were freed.

    PostgreSQL reuses the space of deleted rows by itself (autovacuum): nothing to do.
    """
    if not isinstance(engine, Engine) or not is_sqlite(engine):
        return 0  # PostgreSQL, or a dry run's connection whose work is rolled back
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        free = int(cursor.execute("PRAGMA freelist_count").fetchone()[0])
        # executescript steps the pragma to its end; execute() frees one page per call.
        cursor.executescript("PRAGMA incremental_vacuum;")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        cursor.close()
        return free
    finally:
        raw.close()


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_status(engine: Engine) -> SchemaStatus:
    return SchemaStatus(current=current_revision(engine), head=head_revision())


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a missing or outdated schema, naming the command that fixes it."""
    status = schema_status(engine)
    if not status.up_to_date:
        found = status.current or "none"
        raise SchemaOutdated(
            f"database schema is at revision {found}, this version needs {status.head}; "
            "run `bridge db upgrade`"
        )


def ping(engine: Engine) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None


class BackupRefused(PermanentError):
    """The database cannot be backed up this way, or not to that file."""


def backup_sqlite(database_url: str, target: Path) -> Path:
    """Copy a SQLite database with SQLite's online backup API: consistent while others write.

    PostgreSQL is refused with what to run instead; an existing file is never overwritten.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupRefused(
            f"bridge db backup copies SQLite files; on {url.get_backend_name()} run "
            "`pg_dump --format=custom --file=FILE DBNAME` (README: Backups and recovery)"
        )
    source_path = url.database or ""
    if not source_path or source_path == ":memory:" or not Path(source_path).is_file():
        raise BackupRefused(f"no SQLite database file at {source_path or '(in memory)'}")
    target = Path(target)
    if target.exists():
        raise BackupRefused(f"{target} exists; name a new file (a backup never overwrites)")
    if target.resolve() == Path(source_path).resolve():
        raise BackupRefused("the backup file is the database itself")
    source = sqlite3.connect(source_path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise BackupRefused(f"backup to {target} failed: {exc}") from None
    finally:
        source.close()
    return target


def describe_db_error(exc: Exception) -> str:
    """One line about a database error (SQLAlchemy's, or DatabaseUnavailable), without the
    SQL or parameters it carried."""
    original = getattr(exc, "orig", None) or exc
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return redact(f"database error: {type(original).__name__}: {first_line}")[:300]
