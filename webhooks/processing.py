"""Where stored deliveries are processed: off the request thread, one at a time per process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger(__name__)

# Beyond this many deliveries waiting in one process, new ones are left to the inbox job
# (it picks up deliveries still 'received' after a few minutes), so memory stays bounded.
MAX_QUEUED = 1000


class Processor(Protocol):
    def submit(self, work: Callable[[], None]) -> bool: ...

    def wait(self) -> None: ...


class BackgroundProcessor:
    """One worker thread per process runs the pipeline after the answer went out.

    Acknowledging then costs only verifying and storing; a burst of deliveries queues here
    instead of holding the web server's request threads. The thread starts on first use.
    """

    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-inbox")
        self._max_queued = max_queued
        self._queued = 0
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], None]) -> bool:
        """Queue the work; False when the queue is full (the inbox job will catch up)."""
        with self._lock:
            if self._queued >= self._max_queued:
                log.warning("processing queue full: delivery left to the inbox job")
                return False
            self._queued += 1
        self._executor.submit(self._run, work)
        return True

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            with self._lock:
                self._queued -= 1

    def wait(self) -> None:
        """Finish everything queued (tests, and a clean shutdown)."""
        self._executor.shutdown(wait=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-inbox")


class InlineProcessor:
    """Runs the work at once, on the calling thread (tests and one-shot tools)."""

    def submit(self, work: Callable[[], None]) -> bool:
        work()
        return True

    def wait(self) -> None:
        return None
