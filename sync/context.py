"""One job run's vocabulary: its options, ports, counters, context and result, and its summary.

What every sync job runs with and reports through, apart from the jobs themselves and the
runner that takes their lease (``sync.jobs``). ``rolled_back`` is the one transaction a dry run
applies everything inside, undone at its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from threading import Event
from typing import Any

from sqlalchemy import Connection, Engine

from bridge.errors import BridgeError
from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.catalogue import load_catalogue
from bridge.services.ledger import OrderOutcome
from bridge.settings import Settings
from bridge.shop.protocol import PER_PAGE
from bridge.store.models import JobRunStatus, utcnow
from sync.lease import Lease
from sync.progress import NullProgress, Progress

# The jobs' warnings keep the logger they always had.
log = logging.getLogger("sync.jobs")

CHANGES_SHOWN = 20  # lines of "what changed" kept per job for people; the counts are exact


class JobFailed(BridgeError):
    """The job could not do its work; the message is the one line a person sees."""


@dataclass(frozen=True)
class RunOptions:
    """``full`` from the beginning, or ``since`` a moment; ``dry_run`` writes nothing.

    ``notify`` tells customers of history too (changes from before the bridge watched the
    shop), on purpose: by default only news reaches them.
    """

    full: bool = False
    since: datetime | None = None
    dry_run: bool = False
    notify: bool = False


@dataclass
class SyncPorts:
    """What the jobs run against, built by the composition root (the CLI, the scheduler)."""

    engine: Engine
    settings: Settings
    # A new WooCommerce client per job run (a client is not thread-safe); the job closes it.
    shop: Callable[[], Any]
    # The creator's catalogue file, parsed (merged with the shop's products by the jobs).
    file_catalogue: Callable[[], Catalogue]
    clock: Callable[[], datetime] = utcnow
    progress: Callable[[str], Progress] = lambda _job: NullProgress()
    # Items per list request: WooCommerce's maximum, so N orders cost ceil(N / 100) requests.
    page_size: int = PER_PAGE
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class Tally:
    """The counts every summary shows."""

    fetched: int = 0
    changed: int = 0
    grants: int = 0
    reversals: int = 0
    seats: int = 0
    waitlisted: int = 0
    writebacks: int = 0
    requests: int = 0
    # Learners a customer note or a coupon is for: queued (to notify) or, by the outbox job, sent.
    notified: int = 0

    def add_outcome(self, outcome: OrderOutcome) -> None:
        self.changed += 1 if outcome.events else 0
        self.grants += outcome.count("credit_granted")
        self.reversals += outcome.count("credit_reversed")
        self.seats += outcome.count("seat_active") + outcome.count("seat_promoted")
        self.waitlisted += outcome.count("seat_waitlisted")

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class JobResult:
    """How one job run ended, for the summary, the exit code and the logs."""

    job: str
    # ok, failed, busy (another runner has it), skipped (cannot run here)
    status: str = JobRunStatus.OK
    reason: str = ""
    dry_run: bool = False
    tally: Tally = field(default_factory=Tally)
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    more_changes: int = 0

    @property
    def ok(self) -> bool:
        return self.status in (JobRunStatus.OK, JobRunStatus.SKIPPED)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "reason": self.reason,
            "dry_run": self.dry_run,
            **vars(self.tally),
            "duration": round(self.duration, 3),
            "notes": list(self.notes),
            "changes": list(self.changes),
            "more_changes": self.more_changes,
        }


class JobContext:
    """One run of one job: its ports, options, lease, counters and notes."""

    def __init__(
        self,
        name: str,
        ports: SyncPorts,
        options: RunOptions,
        *,
        stop: Event,
        lease: Lease | None,
        progress: Progress,
        result: JobResult,
    ) -> None:
        self.name = name
        self.ports = ports
        self.options = options
        self.stop = stop
        self.lease = lease
        self.progress = progress
        self.result = result
        self.failures: list[str] = []
        self._client: Any = None
        self._catalogue: Catalogue | None = None

    @property
    def engine(self) -> Engine:
        return self.ports.engine

    @property
    def settings(self) -> Settings:
        return self.ports.settings

    @property
    def tally(self) -> Tally:
        return self.result.tally

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def client(self) -> Any:
        """This run's WooCommerce client, created on first use."""
        if self._client is None:
            self._client = self.ports.shop()
        return self._client

    def client_or_none(self) -> Any:
        return self.client if self.settings.shop.configured else None

    def close(self) -> None:
        if self._client is not None:
            total = getattr(self._client, "total_requests", None)
            if callable(total):
                self.tally.requests += total()
            close = getattr(self._client, "close", None)
            if callable(close):
                close()

    def catalogue(self) -> Catalogue:
        """The creator's file merged with the shop's synced products, read once per run."""
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.engine, self.ports.file_catalogue())
        return self._catalogue

    def now(self) -> datetime:
        return self.ports.clock()

    def checkpoint(self) -> None:
        """Between items: keep the lease alive (raises LeaseLost if it was taken over)."""
        if self.lease is not None:
            self.lease.keep_alive()

    def stopping(self) -> bool:
        return self.stop.is_set()

    def note(self, text: str) -> None:
        self.result.notes.append(text)

    def change(self, text: str) -> None:
        if len(self.result.changes) < CHANGES_SHOWN:
            self.result.changes.append(text)
        else:
            self.result.more_changes += 1

    def item_failed(self, text: str) -> None:
        """One item could not be applied: the run goes on, but ends as failed."""
        self.failures.append(text)
        log.warning("%s: %s", self.name, text)

    @contextmanager
    def writes(self) -> Iterator[Engine]:
        """Where to write: the run's engine (in a dry run, one transaction rolled back at the
        end of the run, see ``rolled_back``)."""
        yield self.engine


@contextmanager
def rolled_back(engine: Engine | Connection) -> Iterator[Connection]:
    """One transaction for a whole dry run, rolled back at its end: the real code, undone.

    Services open their own units of work on what this yields; those join savepoints of the
    outer transaction, so their commits are never committed, and every later order (or job)
    sees what the earlier ones took, as in the real run. Given a connection already inside
    one (``bridge sync --dry-run`` shares one across jobs), it is used as it is. On SQLite the
    outer transaction holds the write lock, and every transaction (reads too) begins
    IMMEDIATE: use only what this yields, another connection would wait for it.
    """
    if isinstance(engine, Connection):
        yield engine
        return
    with engine.connect() as connection:
        outer = connection.begin()
        connection.begin_nested()
        try:
            yield connection
        finally:
            outer.rollback()


def summary_line(result: JobResult) -> str:
    """One line per job: the counts every run reports."""
    t = result.tally
    return (
        f"{result.job:<13} {result.status:<7} fetched {t.fetched}, changed {t.changed}, "
        f"grants {t.grants}, reversals {t.reversals}, seats {t.seats}, "
        f"waitlisted {t.waitlisted}, write-backs queued {t.writebacks}, "
        f"{_customers(result)} {t.notified}, requests {t.requests}, {result.duration:.1f}s"
    )


def _customers(result: JobResult) -> str:
    """The outbox job tells customers; the others queue what it will tell them."""
    if result.job in ("outbox", "total"):
        return "customers would be notified" if result.dry_run else "customers notified"
    return "customers to notify"


def total(results: Sequence[JobResult]) -> JobResult:
    """All jobs of one run added up."""
    combined = JobResult("total", dry_run=any(r.dry_run for r in results))
    for result in results:
        combined.tally.add(result.tally)
        combined.duration += result.duration
    combined.status = JobRunStatus.OK if all(r.ok for r in results) else JobRunStatus.FAILED
    return combined
