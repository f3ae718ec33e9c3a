"""Where the durable queues are processed: off the request threads, in batches, one way.

The receiver only verifies and stores, then wakes the processor. The embedded service keeps one
processing thread per process; a scale-out deployment runs ``bridge work`` (the Procfile's
``worker`` line) and sets ``BRIDGE_INBOX_WORKER=true`` so web processes only store.

Both run the same drain (``QueueDrain``: inbox batches, each followed by an outbox drain, and the
outbox's due retries when the inbox is empty) in the same loop (``DrainLoop``): drain, then wait
for a wake or the next look. The loop's thread runs PROCESSING_NICENESS nicer than the web
server's, and the web processes' threads take turns to drain (bridge.store.db.draining_alone).
A database that goes away stops neither: the loop tries again with a growing pause (0.5 s
doubling to 30 s), logs one line when the outage starts and one when it ends (with its length),
and goes on where it was. Each starts by draining what is already stored, without waiting for
a delivery.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from bridge.services.inbox import InboxDrain
from bridge.services.operations import beat_worker, end_worker, forget_dead_workers, worker_name
from bridge.services.queue import OUTBOX, due_count
from bridge.store.db import DatabaseUnavailable, describe_db_error, draining_alone
from bridge.store.models import utcnow

log = logging.getLogger(__name__)

FIRST_PAUSE = 0.5  # seconds before the first retry after a failure
LONGEST_PAUSE = 30.0  # the pause doubles up to this
# How often an idle processing thread looks at the inbox by itself: it picks up what another
# process stored, and claims a killed process left once their lease ends.
THREAD_POLL = 5.0
# A `bridge inbox work` process writes its heartbeat this often; the web's /healthz calls the
# worker stopped when no heartbeat is younger than WORKER_STALE_AFTER.
WORKER_HEARTBEAT = 10.0
WORKER_STALE_AFTER = timedelta(seconds=60)
# While deliveries keep arriving and the drain took all that was due, the next batch waits this
# long (a wake does not cut it short): batches of a hundred instead of a few each, so that the
# statements of a batch and of a page are shared, and the receivers get the SQLite write lock
# and the CPU between them. A delivery waits at most this much longer to be processed.
GATHER = 0.25
# Processing yields the CPU to the acknowledgements: the thread that drains (the service's
# processing thread, the loop of a `bridge work` process) runs this much nicer than the web
# server's threads. With it, a 20,000-delivery burst on PostgreSQL (4 web processes, 2 cores)
# was acknowledged 0.47x-0.60x as fast as the bare app, p99 2.3x-3.1x (median 0.51x, 2.7x);
# without, 0.45x-0.48x, p99 2.75x-3.0x (bench.ingest, runs of one session).
PROCESSING_NICENESS = 10
# An idle processor sends the outbox's due retries at most this often (a shop that is down is
# asked again after this long, not on every look).
OUTBOX_RETRY_EVERY = 30.0

# What the loop is doing, as /healthz shows it.
STARTING, IDLE, DRAINING, WAITING, FAILING, STOPPED = (
    "starting",
    "idle",
    "draining",
    "waiting for the database",
    "failing",
    "stopped",
)


class Processor(Protocol):
    def start(self) -> None: ...

    def wake(self) -> None: ...

    def wait(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


Drain = Callable[[Callable[[], bool]], int]

# Every processor whose thread was started and not stopped, held strongly: the thread runs the
# processor's loop, not the processor, so a weak reference would lose a thread whose app is gone
# while it goes on polling (a test's database, long removed).
_PROCESSORS: set[BackgroundProcessor] = set()


def stop_all_processors() -> None:
    """Stop every processing thread of this process (a test's thread must not go on polling
    the database a later test uses)."""
    for processor in list(_PROCESSORS):
        processor.stop()


def _is_database_error(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (not a bad statement)."""
    if isinstance(exc, (DatabaseUnavailable, OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        return describe_db_error(exc)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class QueueDrain:
    """The processing of both queues, for the service's thread and ``bridge work`` alike.

    ``inbox(stop)`` drains the inbox in claimed batches (each followed by an outbox drain, see
    bridge.services.inbox.InboxDrain) and returns how many deliveries it processed. When it
    found nothing, the outbox's due rows (retries after their backoff) are sent through
    ``outbox()``, at most every ``outbox_every`` seconds. Without a shop ``outbox`` is None.
    """

    def __init__(
        self,
        engine: Engine,
        inbox: InboxDrain,
        outbox: Callable[[], object] | None,
        *,
        outbox_every: float = OUTBOX_RETRY_EVERY,
        clock: Callable[[], float] = time.monotonic,
        beside_receivers: bool = False,
    ) -> None:
        self.engine, self.inbox, self.outbox = engine, inbox, outbox
        self.outbox_every, self._clock = outbox_every, clock
        # A web process's processing thread: it takes turns with the other web processes'
        # (bridge.store.db.draining_alone); a ``bridge work`` process drains beside the others.
        self.beside_receivers = beside_receivers
        self._outbox_at: float | None = None
        # Set when the last call found another process draining: the loop looks again after
        # GATHER (what that process stored meanwhile may have come after its last claim).
        self.not_my_turn = False

    @property
    def caught_up(self) -> bool:
        """The last drain took all that was due while deliveries kept arriving."""
        return self.inbox.caught_up

    def __call__(self, stop: Callable[[], bool] = lambda: False) -> int:
        with draining_alone(self.engine, beside_receivers=self.beside_receivers) as alone:
            if not alone and not self._join_backlog():
                # Another process drains: it takes what is due, and this one looks again soon.
                self.not_my_turn = True
                return 0
            self.not_my_turn = False
            done = self.inbox(stop)
        if done or self.outbox is None or stop():
            return done
        moment = self._clock()
        if self._outbox_at is not None and moment - self._outbox_at < self.outbox_every:
            return 0
        self._outbox_at = moment
        if due_count(self.engine, OUTBOX, utcnow()):
            self.outbox()
        return 0

    def _join_backlog(self) -> bool:
        """On PostgreSQL, a web process whose turn it is not drains beside the one whose it is
        once deliveries stopped arriving (nothing stored since its last look): no receiver is
        left to share its CPU with, and a burst's backlog is done in a fraction of the time.
        Its drain ends after the batch in hand when deliveries arrive again."""
        if self.engine.dialect.name != "postgresql":
            return False
        return self.inbox.arrivals_stopped()


@contextlib.contextmanager
def nicer(niceness: int) -> Iterator[None]:
    """The calling thread's scheduling priority lowered by ``niceness`` for the block (Linux
    gives each thread its own; elsewhere, or when refused, nothing changes). Raising it back
    afterwards may be refused to an unprivileged process: then the thread stays nicer."""
    thread = threading.get_native_id()
    before: int | None = None
    if niceness > 0 and sys.platform == "linux":
        try:
            before = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, before + niceness))
        except OSError:
            log.debug("processing priority left as it is")
            before = None
    try:
        yield
    finally:
        if before is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, thread, before)


class DrainLoop:
    """Drain until stopped; survive failures with a bounded, growing pause; log once per outage.

    ``drain(stop)`` processes what is there and returns how many it processed; ``stop()`` tells
    it to end after the batch in hand. ``poll`` is the wait between looks when nothing was
    there (a wake cuts it short). After a failure the loop pauses ``first_pause`` seconds,
    doubling up to ``longest_pause`` while the failures go on. A loop runs once: ``stop`` ends it.
    """

    def __init__(
        self,
        drain: Drain,
        *,
        poll: float,
        what: str = "inbox processing",
        first_pause: float = FIRST_PAUSE,
        longest_pause: float = LONGEST_PAUSE,
        clock: Callable[[], float] = time.monotonic,
        gather: float = GATHER,
        niceness: int = PROCESSING_NICENESS,
    ) -> None:
        self._drain = drain
        self.niceness = niceness
        self.poll = poll
        self.gather = gather
        if isinstance(drain, QueueDrain):
            # Under a loop the inbox yields to arriving deliveries (it is run again after
            # ``gather``); run once, it drains everything due.
            drain.inbox.yield_to_arrivals = True
        self.what = what
        self.first_pause, self.longest_pause = first_pause, longest_pause
        self._clock = clock
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self.state = STARTING
        self.processed = 0
        self.failed_tries = 0  # in the current outage
        self.outage_started: float | None = None  # clock() when the current outage began
        self.outages = 0  # since the loop started
        # Set whenever a drain found nothing left to do (tests and a clean shutdown wait on it).
        self.idle = threading.Event()

    def wake(self) -> None:
        """Drain again as soon as the batch in hand is done (or the retry pause, cut short)."""
        self.idle.clear()
        self._woken.set()

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self, *, once: bool = False, deadline: float | None = None) -> int:
        """Drain, then wait, until stopped (or past ``deadline`` on the clock, or once done);
        returns how many deliveries were processed."""

        def stop() -> bool:
            return self._stopping.is_set() or (deadline is not None and self._clock() >= deadline)

        with nicer(self.niceness):
            return self._run(stop, once=once, deadline=deadline)

    def _run(self, stop: Callable[[], bool], *, once: bool, deadline: float | None) -> int:
        pause = self.first_pause
        while not stop():
            self._woken.clear()
            if self.outage_started is None:
                self.state = DRAINING
            try:
                done = self._drain(stop)
            except Exception as exc:  # noqa: BLE001  (the loop outlives any failure)
                self._failed(exc, pause)
                self._wait(pause, stop, deadline)
                pause = min(pause * 2, self.longest_pause)
                continue
            pause = self.first_pause
            self._recovered()
            self.processed += done
            if once:
                break
            if getattr(self._drain, "not_my_turn", False):
                # Another process drains; a wake does not cut this short (each delivery this
                # process stores wakes it), but what it stored is looked at within GATHER.
                self._went_idle()
                self._stopping.wait(self.gather)
                continue
            if done:
                if getattr(self._drain, "caught_up", False):
                    # More is arriving: let it gather into the next batch.
                    self._stopping.wait(self.gather)
                continue  # the drain stopped at its bound, or more is arriving
            self._went_idle()
            self._wait(self.poll, stop, deadline)
        self.state = STOPPED
        self.idle.set()
        return self.processed

    def _went_idle(self) -> None:
        """Nothing for this loop to drain now; ``idle`` is set unless a wake came meanwhile."""
        self.state = IDLE
        if not self._woken.is_set():
            self.idle.set()

    def _wait(self, seconds: float, stop: Callable[[], bool], deadline: float | None) -> None:
        if stop():
            return
        if deadline is not None:
            seconds = max(0.0, min(seconds, deadline - self._clock()))
        self._woken.wait(seconds)

    def _failed(self, exc: BaseException, pause: float) -> None:
        self.failed_tries += 1
        self.state = WAITING if _is_database_error(exc) else FAILING
        if self.outage_started is not None:
            log.debug("%s still failing: %s", self.what, _describe(exc))
            return
        self.outage_started = self._clock()
        self.outages += 1
        if _is_database_error(exc):
            log.warning(
                "%s paused: the database is unavailable (%s); trying again after "
                "%g s, pauses doubling up to %g s, until it answers",
                self.what,
                _describe(exc),
                pause,
                self.longest_pause,
            )
        else:
            # Not the database: a fault of the bridge's own; the traceback is for developers.
            log.error(
                "%s failed: %s; trying again after %g s, pauses doubling up to %g s",
                self.what,
                _describe(exc),
                pause,
                self.longest_pause,
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    def _recovered(self) -> None:
        if self.outage_started is None:
            return
        lasted = self._clock() - self.outage_started
        log.warning(
            "%s resumed after %.1f s (%d failed tries)", self.what, lasted, self.failed_tries
        )
        self.outage_started = None
        self.failed_tries = 0

    def health(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"state": self.state, "processed": self.processed}
        if self.outage_started is not None:
            shown["failing_for_s"] = round(self._clock() - self.outage_started, 1)
        return shown


class BackgroundProcessor:
    """One thread drains the inbox in batches whenever the receiver wakes it, and every few
    seconds by itself.

    Acknowledging then costs verifying and one insert; a burst of deliveries waits in the
    inbox, not in memory, and never holds the web server's request threads. ``start()`` (the
    service calls it in each web process) drains at once what is stored; the first wake starts
    the thread too. Claims a killed process left are taken again once their lease ends.
    """

    def __init__(
        self,
        drain: Drain,
        *,
        poll: float = THREAD_POLL,
        first_pause: float = FIRST_PAUSE,
        longest_pause: float = LONGEST_PAUSE,
    ) -> None:
        self._drain = drain
        self._new_loop = functools.partial(
            DrainLoop, drain, poll=poll, first_pause=first_pause, longest_pause=longest_pause
        )
        self._loop = self._new_loop()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> DrainLoop:
        return self._loop

    def start(self) -> None:
        """Run the thread (if it is not running); it drains what is stored without a wake."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._thread is not None:
                # A loop runs once: a thread that ended (stopped, or died) gets a fresh one.
                self._loop = self._new_loop()
            self._thread = threading.Thread(target=self._loop.run, name="bridge-inbox", daemon=True)
            self._thread.start()
            _PROCESSORS.add(self)

    def wake(self) -> None:
        """Have the thread drain again as soon as it can (starting it if needed)."""
        self._loop.wake()
        self.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Return once everything stored so far was drained (tests, a clean shutdown)."""
        self.wake()
        self._loop.idle.wait(timeout)

    def stop(self) -> None:
        """End the thread after the batch in hand."""
        with self._lock:
            self._loop.stop()
            thread = self._thread
            _PROCESSORS.discard(self)
        if thread is not None:
            thread.join(timeout=30)

    def health(self) -> dict[str, Any]:
        """The thread's state; ``stopped`` when it was started and is no longer running."""
        thread = self._thread
        if thread is None:
            return {"mode": "thread", "state": "not started"}
        shown = {"mode": "thread", **self._loop.health()}
        if not thread.is_alive():
            shown["state"] = STOPPED
        return shown


class InlineProcessor:
    """Drains at once, on the calling thread (tests and one-shot tools)."""

    def __init__(self, drain: Callable[[], int] = lambda: 0) -> None:
        self._drain = drain

    def start(self) -> None:
        return None

    def wake(self) -> None:
        self._drain()

    def wait(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {"mode": "inline", "state": IDLE}


class StoreOnly:
    """Web processes of a scale-out deployment: a worker process drains the inbox."""

    def start(self) -> None:
        return None

    def wake(self) -> None:
        return None

    def wait(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        # Read from the workers' heartbeats by /healthz (bridge.services.operations.job_runs).
        return {"mode": "worker"}


def wait_for_database(
    check: Callable[[], None],
    stop: threading.Event,
    *,
    deadline: float | None = None,
    what: str = "inbox worker",
    first_pause: float = FIRST_PAUSE,
    longest_pause: float = LONGEST_PAUSE,
) -> bool:
    """Run ``check`` until the database answers it (an outage at start is logged once);
    False when stopped (or past ``deadline``, on time.monotonic) first. Anything but an
    unreachable database is raised."""
    pause, since = first_pause, None
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        try:
            check()
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            if since is None:
                since = time.monotonic()
                log.warning(
                    "%s waits for the database (%s); trying again after %g s, pauses "
                    "doubling up to %g s",
                    what,
                    _describe(exc),
                    pause,
                    longest_pause,
                )
            left = pause if deadline is None else max(0.0, deadline - time.monotonic())
            stop.wait(min(pause, left))
            pause = min(pause * 2, longest_pause)
            continue
        if since is not None:
            log.warning("%s: the database answers after %.1f s", what, time.monotonic() - since)
        return True
    return False


class WorkerHeartbeat:
    """A `bridge inbox work` process's heartbeat: a row the web processes read for /healthz.

    A thread of its own writes it every WORKER_HEARTBEAT seconds while the process lives (also
    while the loop is busy with a long batch); a clean stop removes the row. A failed write is
    left to the next beat: the loop already logs the outage.
    """

    def __init__(
        self, engine: Engine, loop: DrainLoop, *, interval: float = WORKER_HEARTBEAT
    ) -> None:
        self.engine, self.loop, self.interval = engine, loop, interval
        self.name = worker_name(socket.gethostname(), os.getpid())
        self.started_at = utcnow()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bridge-heartbeat", daemon=True)

    def start(self) -> WorkerHeartbeat:
        try:
            forget_dead_workers(self.engine, now=self.started_at)
        except SQLAlchemyError as exc:
            log.debug("old worker rows not dropped: %s", describe_db_error(exc))
        self._thread.start()
        return self

    def beat(self) -> bool:
        try:
            beat_worker(
                self.engine,
                self.name,
                started_at=self.started_at,
                now=utcnow(),
                state=self.loop.state,
                processed=self.loop.processed,
            )
        except SQLAlchemyError as exc:
            log.debug("worker heartbeat not written: %s", describe_db_error(exc))
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=30)
        try:
            end_worker(self.engine, self.name, now=utcnow())
        except SQLAlchemyError as exc:
            log.debug("worker row not removed: %s", describe_db_error(exc))
