"""Where stored deliveries are processed: off the request threads, in batches.

The receiver only verifies and stores, then wakes the processor. The embedded service keeps one
processing thread per process; a scale-out deployment runs ``bridge inbox work`` (the Procfile's
``worker`` line) and sets ``BRIDGE_INBOX_WORKER=true`` so web processes only store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

class Processor(Protocol):
    def wake(self) -> None: ...

    def wait(self) -> None: ...

    def stop(self) -> None: ...


class BackgroundProcessor:
    """One thread drains the inbox in batches whenever the receiver wakes it.

    Acknowledging then costs verifying and one insert; a burst of deliveries waits in the
    inbox, not in memory, and never holds the web server's request threads. What another
    process left (a crash, a claim that expired) is the inbox job's: it retries stalled rows.
    """

    def __init__(self, drain: Callable[[], int]) -> None:
        self._drain = drain
        self._woken = threading.Event()
        self._idle = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        """Start the thread on first use; have it drain again as soon as it can."""
        self._idle.clear()
        self._woken.set()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self.run, name="bridge-inbox",
                                                daemon=True)
                self._thread.start()

    def run(self) -> None:
        """Drain, then sleep until woken again, until stopped."""
        while not self._stopping.is_set():
            self._woken.clear()
            try:
                self._drain()
            except Exception:  # noqa: BLE001  (the database may be down; try again later)
                log.exception("inbox processing failed; trying again")
            if not self._woken.is_set():
                self._idle.set()
            self._woken.wait()

    def wait(self, timeout: float = 30.0) -> None:
        """Return once everything stored so far was drained (tests, a clean shutdown)."""
        self.wake()
        self._idle.wait(timeout)

    def stop(self) -> None:
        """End the thread after the batch in hand."""
        self._stopping.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


class InlineProcessor:
    """Drains at once, on the calling thread (tests and one-shot tools)."""

    def __init__(self, drain: Callable[[], int] = lambda: 0) -> None:
        self._drain = drain

    def wake(self) -> None:
        self._drain()

    def wait(self) -> None:
        return None

    def stop(self) -> None:
        return None


class StoreOnly:
    """Web processes of a scale-out deployment: a worker process drains the inbox."""

    def wake(self) -> None:
        return None

    def wait(self) -> None:
        return None

    def stop(self) -> None:
        return None
