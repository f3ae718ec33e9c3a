"""SQLite writers take turns on a lock file, handed on the moment it is free.

SQLite has one write lock. A writer that finds it taken is put to sleep by SQLite's busy handler
for 1, 2, 5, 10 ... up to 100 ms between tries, so with a few web processes and threads storing
deliveries beside a processing loop, most of a write's time was sleeping while the lock stood
free. Every write transaction of the bridge (``BEGIN IMMEDIATE``) first takes an exclusive
``flock`` on ``<database>-writers``; a writer waiting for it looks again within a few
milliseconds, so the next one writes almost as soon as the last one commits. SQLite's own lock
and busy timeout still guard the database against every other writer (the ``sqlite3`` shell,
another program). The lock is let go right after COMMIT or ROLLBACK, by the connection itself
(``WriterConnection``, the DB-API connection class the engine makes).

A thread never waits for a lock it holds itself through another connection (that would never
end): it goes straight to SQLite, which answers as it always did. A writer that has waited
``SQLITE_BUSY_TIMEOUT_MS`` goes on without the lock, to SQLite's busy timeout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover  (not on POSIX: SQLite's busy timeout alone)
    fcntl = None  # type: ignore[assignment]

FIRST_LOOK = 0.0002  # seconds before a waiting writer looks again; doubles up to LONGEST_LOOK
# A writer waits behind a page of orders (~10 ms): looking every 4 ms, it found the lock free up
# to 4 ms late, and every acknowledgement queued behind it waited as long.
LONGEST_LOOK = 0.001

_held = threading.local()  # lock file path -> how many of this thread's connections hold it
# Within a process the writers of one database queue on a thread lock first: one of them at a
# time looks at the file lock, and the others are woken in turn instead of polling.
_local_turns: dict[str, threading.Lock] = {}
_local_turns_lock = threading.Lock()


def _local_turn(path: str) -> threading.Lock:
    with _local_turns_lock:
        return _local_turns.setdefault(path, threading.Lock())


def _holding() -> dict[str, int]:
    counts: dict[str, int] | None = getattr(_held, "counts", None)
    if counts is None:
        counts = _held.counts = {}
    return counts


class WriterTurn:
    """One connection's hold on the writers' lock of a database file (None: not held)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.handle: IO[bytes] | None = None  # locked while not None
        self.local: threading.Lock | None = None
        # The lock file stays open with its connection (one open per connection, not per
        # transaction); a connection is used by one thread at a time, and flock belongs to
        # the open file, so no two threads share this one.
        self._file: IO[bytes] | None = None

    def _open(self) -> IO[bytes] | None:
        if self._file is not None and os.fstat(self._file.fileno()).st_nlink == 0:
            self._file.close()  # removed with its database (a test's directory)
            self._file = None
        if self._file is None:
            try:
                self._file = open(self.path, "a+b")  # noqa: SIM115  (closed in close())
            except OSError:
                return None
        return self._file

    def take(self, timeout: float) -> None:
        """Wait for the lock (at most ``timeout`` seconds); go on without it after that, or
        when this thread already holds it through another connection."""
        if fcntl is None or self.handle is not None or _holding().get(self.path, 0):
            return
        deadline = time.monotonic() + timeout
        local = _local_turn(self.path)
        if not local.acquire(timeout=timeout):
            return
        handle = self._open()
        if handle is None:
            local.release()
            return
        pause = FIRST_LOOK
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    local.release()
                    return
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_LOOK)
            except OSError:
                local.release()
                return
        self.handle = handle
        self.local = local
        counts = _holding()
        counts[self.path] = counts.get(self.path, 0) + 1

    def give_back(self) -> None:
        """Let the next writer in (after COMMIT or ROLLBACK); nothing when not held."""
        handle, self.handle = self.handle, None
        if handle is None:
            return
        counts = _holding()
        counts[self.path] = max(0, counts.get(self.path, 1) - 1)
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            if self.local is not None:
                self.local.release()
                self.local = None

    def close(self) -> None:
        """The connection closes: let the lock go and close the file."""
        self.give_back()
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def __del__(self) -> None:  # a connection dropped without close()
        file, self._file = self._file, None
        if file is not None:
            file.close()


class WriterConnection(sqlite3.Connection):
    """An sqlite3 connection that lets the writers' lock go once its transaction ends."""

    writer_turn: WriterTurn | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.writer_turn is not None:
                self.writer_turn.close()

    def _end_turn(self) -> None:
        if self.writer_turn is not None:
            self.writer_turn.give_back()


def writer_turn(dbapi_connection: Any, database: str | None) -> WriterTurn | None:
    """Give a new connection to a database file its place among the writers (None in
    memory, or for a connection the engine did not make)."""
    if not database or database == ":memory:" or not isinstance(dbapi_connection, WriterConnection):
        return None
    dbapi_connection.writer_turn = WriterTurn(Path(f"{database}-writers"))
    return dbapi_connection.writer_turn
