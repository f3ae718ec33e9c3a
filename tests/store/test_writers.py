"""SQLite writers take turns on `<database>-writers`, let go the moment a transaction ends."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bridge.store.db import make_engine, unit_of_work


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with made.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    yield made
    made.dispose()


def _free(engine: Engine) -> bool:
    """Whether another process could take the writers' lock now."""
    with open(f"{engine.url.database}-writers", "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


def test_a_write_transaction_holds_the_turn_until_commit_or_rollback(engine: Engine) -> None:
    """BEGIN IMMEDIATE takes the turn; COMMIT and ROLLBACK give it back; a read takes none."""
    with engine.connect() as connection:
        connection.begin()
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert not _free(engine)
        connection.commit()
        assert _free(engine)
        connection.begin()
        assert not _free(engine)
        connection.rollback()
        assert _free(engine)
    with unit_of_work(engine, read_only=True) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert _free(engine)


def test_a_thread_never_waits_for_the_turn_it_holds_itself(engine: Engine) -> None:
    """A second writer connection on the same thread goes to SQLite, which says it is locked."""
    other = make_engine(str(engine.url))
    try:
        with engine.connect() as holder:
            holder.begin()
            with other.connect() as waiter:
                waiter.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
                began = time.monotonic()
                with pytest.raises(OperationalError, match="database is locked"):
                    waiter.begin()
                assert time.monotonic() - began < 5
            holder.rollback()
        assert _free(engine)
    finally:
        other.dispose()


def test_writers_on_several_threads_and_engines_each_get_their_turn(engine: Engine) -> None:
    """Four threads on two engines (as two web processes) write 25 rows each: none is lost."""
    other = make_engine(str(engine.url))
    failures: list[BaseException] = []

    def write(target: Engine, first: int) -> None:
        try:
            for n in range(first, first + 25):
                with target.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        except BaseException as exc:  # noqa: BLE001  (reported below)
            failures.append(exc)

    threads = [
        threading.Thread(target=write, args=(target, 100 * i))
        for i, target in enumerate((engine, other, engine, other))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.dispose()
    assert failures == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(DISTINCT n) FROM t")).scalar() == 100
    assert _free(engine)
