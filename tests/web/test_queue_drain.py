"""The one processing of both queues (webhooks.processing.QueueDrain), which the service's
thread and `bridge work` run: inbox batches first, the outbox's due retries when idle."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import select

from bridge.cli.main import main
from bridge.services.inbox import Delivery, InboxDrain, record_delivery
from bridge.services.writeback.queue import insert_outbox_rows
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, utcnow
from tests.support.paths import ROOT
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from webhooks.processing import QueueDrain

pytestmark = pytest.mark.both_databases


class Inbox(InboxDrain):
    """An inbox drain that processed ``counts`` deliveries, in turn."""

    def __init__(self, engine: Engine, counts: list[int]) -> None:
        super().__init__(engine, {}, max_attempts=3)
        self.counts = counts

    def __call__(self, stop: Callable[[], bool] = lambda: False) -> int:
        return self.counts.pop(0) if self.counts else 0


def queue_one_writeback(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        insert_outbox_rows(
            session,
            [
                {
                    "resource": "product",
                    "operation": "update",
                    "target_id": 18,
                    "target_key": "product:18:stock",
                    "payload": {"data": {"stock_quantity": 2}},
                    "created_at": utcnow(),
                }
            ],
        )
        session.commit()


def store(engine: Engine, order_id: int) -> None:
    """What a store-only web process does with a delivery: record it, nothing more."""
    order = make_order(order_id, [("MENTOR-1H", 1)])
    delivery = Delivery("order.created", "5", str(order_id), {}, json.dumps(order).encode(), order)
    record_delivery(engine, delivery, handled=frozenset({"order"}))


def test_an_idle_drain_sends_due_write_backs_at_most_every_interval(engine: Engine) -> None:
    """After a batch the inbox drain itself drained the outbox; an idle look sends the outbox's
    due rows, then waits the interval before it looks at the outbox again."""
    sent: list[int] = []
    moment = [0.0]
    drain = QueueDrain(
        engine,
        Inbox(engine, [3]),
        lambda: sent.append(1),
        outbox_every=30.0,
        clock=lambda: moment[0],
    )
    assert drain() == 3 and sent == []  # a batch: its own after_batch sent the write-backs
    assert drain() == 0 and sent == []  # idle, nothing due in the outbox
    queue_one_writeback(engine)
    moment[0] = 10.0
    assert drain() == 0 and sent == []  # due, but the last look was 10 s ago
    moment[0] = 30.0
    assert drain() == 0 and sent == [1]
    moment[0] = 45.0
    assert drain() == 0 and sent == [1]
    without_shop = QueueDrain(engine, Inbox(engine, []), None)
    assert without_shop() == 0


def test_bridge_work_processes_what_store_only_web_processes_stored(
    engine: Engine, database_url: str
) -> None:
    """`bridge work --once` (the Procfile's worker) and its old name `bridge inbox work`
    process what the web stored, with the service's own drain."""
    store_cohorts(engine, sample_catalogue())
    for order_id in (330, 331):
        store(engine, order_id)
    env = {
        "DATABASE_URL": database_url,
        "BRIDGE_CATALOG_FILE": str(ROOT / "catalog.example.toml"),
    }
    worked = CliRunner().invoke(main, ["--env-file", "/dev/null", "work", "--once"], env=env)
    assert worked.exit_code == 0, worked.output
    assert "2 deliveries processed" in worked.output
    store(engine, 332)
    again = CliRunner().invoke(
        main, ["--env-file", "/dev/null", "inbox", "work", "--once"], env=env
    )
    assert again.exit_code == 0, again.output
    assert "1 delivery processed" in again.output
    with unit_of_work(engine) as session:
        statuses = session.exec(select(InboxDelivery.status)).all()
    assert statuses == ["processed"] * 3


class CountingHandler:
    """An order handler that answers 'ok' and notes the size of each page it was given."""

    def __init__(self) -> None:
        self.pages: list[int] = []

    def __call__(self, payloads: Sequence[Any]) -> list[str]:
        self.pages.append(len(payloads))
        return ["ok"] * len(payloads)


def test_a_drain_under_a_loop_yields_to_arriving_deliveries_then_takes_the_backlog_at_once(
    engine: Engine,
) -> None:
    """Under a loop, while deliveries keep arriving, a drain ends after each batch (the loop
    lets the next one gather); once nothing new arrived since the last look, what is left is a
    backlog, claimed in one larger batch. Run once, a drain takes everything due."""
    from bridge.services.inbox.batches import BACKLOG_PAGE_SIZE, PAGE_SIZE
    from webhooks.processing import DrainLoop

    handler = CountingHandler()
    inbox = InboxDrain(engine, {"order": handler}, max_attempts=3, batch_size=10)
    DrainLoop(QueueDrain(engine, inbox, None), poll=1)
    assert inbox.yield_to_arrivals
    for order_id in range(7000, 7030):
        store(engine, order_id)
    assert inbox() == 10 and inbox.caught_up  # the first look counts as arriving
    store(engine, 7030)
    assert inbox() == 10 and inbox.caught_up  # one more arrived since: another batch of 10
    # Nothing arrived since: the 11 left are a backlog, taken in one batch, in larger pages.
    assert inbox() == 11 and not inbox.caught_up
    small, large = PAGE_SIZE[engine.dialect.name], BACKLOG_PAGE_SIZE[engine.dialect.name]
    assert handler.pages[-1] == min(11, large) and max(handler.pages[:2]) <= min(10, small)
    with unit_of_work(engine) as session:
        rows = session.exec(select(InboxDelivery)).all()
    assert len(rows) == 31 and {row.status for row in rows} == {"processed"}

    once = InboxDrain(engine, {"order": handler}, max_attempts=3, batch_size=10)
    for order_id in range(7100, 7125):
        store(engine, order_id)
    assert once() == 25 and not once.caught_up


@pytest.mark.parametrize("beside_receivers", [True, False], ids=["web-thread", "bridge-work"])
def test_web_processes_take_turns_to_drain_and_bridge_work_drains_beside_others_on_postgresql(
    engine: Engine, beside_receivers: bool
) -> None:
    """A drain that finds another one draining leaves what is due to it: always on SQLite (the
    writes take turns anyway), and for the web processes' threads on PostgreSQL too (an
    advisory lock); `bridge work` processes on PostgreSQL drain side by side."""
    import threading

    from bridge.store.db import draining_alone

    store(engine, 7200)
    drain = QueueDrain(
        engine,
        InboxDrain(engine, {"order": CountingHandler()}, max_attempts=3),
        None,
        beside_receivers=beside_receivers,
    )
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def other() -> None:  # another web process's thread: its own lock file or connection
        with draining_alone(engine, beside_receivers=True) as alone:
            assert alone
            held.set()
            release.wait(10)
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    held.wait(10)
    turns = beside_receivers or engine.dialect.name == "sqlite"
    expected = 0 if turns else 1
    assert drain() == expected and drain.not_my_turn is turns
    release.set()
    thread.join(10)
    assert done.is_set()
    assert drain() == 1 - expected and not drain.not_my_turn
    with draining_alone(engine, beside_receivers=True) as alone:
        assert alone  # the lock was let go


def test_on_postgresql_a_web_process_joins_the_drain_once_deliveries_stop_arriving(
    engine: Engine,
) -> None:
    """Whose turn it is not drains beside the one whose it is once nothing was stored since
    its last look (a burst's backlog: no receiver left to share the CPU with); while
    deliveries arrive it waits its turn. On SQLite (one write lock) it always waits."""
    import threading

    from bridge.store.db import draining_alone

    handler = CountingHandler()
    drain = QueueDrain(
        engine, InboxDrain(engine, {"order": handler}, max_attempts=3), None, beside_receivers=True
    )
    held, release = threading.Event(), threading.Event()

    def other() -> None:
        with draining_alone(engine, beside_receivers=True):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        held.wait(10)
        store(engine, 7300)
        assert drain() == 0 and drain.not_my_turn  # its first look: deliveries are arriving
        store(engine, 7301)
        assert drain() == 0 and drain.not_my_turn  # one more arrived since
        joined = engine.dialect.name == "postgresql"
        assert drain() == (2 if joined else 0)  # nothing arrived since its last look
        assert drain.not_my_turn is not joined
    finally:
        release.set()
        thread.join(10)
    assert drain() == (0 if joined else 2)  # its turn now: what is left
    assert sum(handler.pages) == 2


def test_a_loop_whose_process_is_not_draining_looks_again_after_gather(engine: Engine) -> None:
    """While another process drains, the loop does not try again on every wake (each delivery
    its process stores wakes it) but after GATHER, so what it stored is still processed soon."""
    import threading
    import time

    from webhooks.processing import DrainLoop

    calls: list[float] = []

    class Busy(QueueDrain):
        def __call__(self, stop: Callable[[], bool] = lambda: False) -> int:
            calls.append(time.monotonic())
            self.not_my_turn = len(calls) < 3  # another process drains for the first two
            return 0

    loop = DrainLoop(Busy(engine, Inbox(engine, []), None), poll=60, gather=0.05)
    thread = threading.Thread(target=loop.run)
    thread.start()
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        loop.wake()  # deliveries stored meanwhile
        time.sleep(0.002)
    assert loop.idle.wait(5)
    loop.stop()
    thread.join(5)
    assert len(calls) >= 3  # a wake that came during the third may have brought a fourth
    assert calls[1] - calls[0] >= 0.045 and calls[2] - calls[1] >= 0.045


def test_a_drain_copies_its_batch_into_the_sqlite_file_itself(engine: Engine) -> None:
    """On SQLite stored deliveries wait in the WAL and a drain copies them into the database
    file after its batch (a checkpoint off the writers' turn, so no acknowledgement's COMMIT
    does it); on PostgreSQL the drain is the same and there is nothing to copy."""
    import sqlite3

    from bridge.store.db import checkpoint

    def in_file() -> int | None:
        """Deliveries the database file itself holds (the WAL left out); None on PostgreSQL."""
        if engine.dialect.name != "sqlite":
            return None
        reader = sqlite3.connect(f"file:{engine.url.database}?immutable=1", uri=True)
        try:
            return int(reader.execute("SELECT count(*) FROM inbox").fetchone()[0])
        finally:
            reader.close()

    expected = 0 if engine.dialect.name == "sqlite" else None
    for order_id in range(7300, 7310):
        store(engine, order_id)
    assert in_file() == expected
    assert InboxDrain(engine, {"order": CountingHandler()}, max_attempts=3)() == 10
    assert in_file() == (10 if engine.dialect.name == "sqlite" else None)
    checkpoint(engine)  # again, with nothing left to copy
    assert in_file() == (10 if engine.dialect.name == "sqlite" else None)


def test_the_processing_thread_runs_nicer_than_the_receivers(engine: Engine) -> None:
    """The thread that drains yields the CPU to the acknowledgements while it loops (Linux: per
    thread); the thread that started it keeps its priority. A loop run on a thread that goes
    on (`bridge work` in a test's process) gets its priority back when it may."""
    import os
    import threading

    from webhooks.processing import PROCESSING_NICENESS, DrainLoop

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen: list[int] = []

    class Noting(QueueDrain):
        def __call__(self, stop: Callable[[], bool] = lambda: False) -> int:
            seen.append(priority())
            return 0

    before = priority()
    after: list[int] = []

    def run() -> None:
        DrainLoop(Noting(engine, Inbox(engine, []), None), poll=60).run(once=True)
        after.append(priority())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert seen == [min(19, before + PROCESSING_NICENESS)]
    assert priority() == before
    # Raising a priority back needs the privilege (or a nice limit that allows it).
    assert after == [before] if os.geteuid() == 0 else after[0] in (before, seen[0])
