"""Requests refused before anything is stored (a missing or bad signature), counted cheaply.

Anyone can send unsigned noise, as fast as they like: a rejection costs no database write and
no log line of its own. Each process counts in memory; the first rejection after a quiet spell
arms a timer, and when it fires (``FLUSH_INTERVAL`` later) the counts are added to the named
counters in one transaction and one WARNING line says how many were rejected in that spell.
A flush that fails (the database is away) keeps the counts for the next one.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.rules.words import plural
from bridge.services.inbox.inbox import add_to_counters
from bridge.store.db import describe_db_error

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 60.0  # seconds: at most one database write and one log line per interval

# Every tally of this process, so that a test can drop what its app counted (cancel_pending).
_TALLIES: weakref.WeakSet[RejectionTally] = weakref.WeakSet()


def cancel_pending() -> None:
    """Forget every tally's unflushed counts and stop its timer (a test's app must not flush
    into the next test's database)."""
    for tally in list(_TALLIES):
        tally.cancel()


class RejectionTally:
    """Counts rejected requests per counter name (and, for the log line, per source)."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()  # counter name -> rejections not yet stored
        self._sources: Counter[str] = Counter()  # e.g. "WooCommerce, missing signature"
        self._since: float | None = None
        self._timer: threading.Timer | None = None
        _TALLIES.add(self)

    def add(self, counter: str, source: str) -> None:
        """One rejection: counted in memory; the first of a spell arms the flush."""
        with self._lock:
            self._counts[counter] += 1
            self._sources[source] += 1
            if self._timer is None:
                self._since = self._clock()
                self._timer = threading.Timer(self.interval, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def cancel(self) -> None:
        """Drop what was counted and not yet flushed; stop the timer."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._counts.clear()
            self._sources.clear()
            self._since = None

    def pending(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def flush(self) -> dict[str, int]:
        """Store what was counted since the last flush and log one line; what was stored."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()  # a flush called directly (shutdown, tests) ends the spell
                self._timer = None
            counts, self._counts = self._counts, Counter()
            sources, self._sources = self._sources, Counter()
            since, self._since = self._since, None
        if not counts:
            return {}
        if sources:  # counts kept from a failed flush were logged already
            lasted = self._clock() - since if since is not None else self.interval
            by_source = ", ".join(f"{source} {n}" for source, n in sorted(sources.items()))
            log.warning(
                "%s rejected in the last %.0f s (%s)",
                plural(sum(sources.values()), "unsigned delivery"),
                max(lasted, 1.0),
                by_source,
            )
        try:
            add_to_counters(self.engine, counts)
        except SQLAlchemyError as exc:
            log.warning(
                "rejections not counted yet, kept for the next flush: %s", describe_db_error(exc)
            )
            with self._lock:
                self._counts.update(counts)
                if self._timer is None:
                    self._since = self._since if self._since is not None else since
                    self._timer = threading.Timer(self.interval, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
            return {}
        return dict(counts)
