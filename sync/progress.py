"""Progress for people: a bar on a terminal, plain periodic lines elsewhere (logs, cron mail)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO


class Progress(Protocol):
    """What a job reports while it runs: items done out of an expected total, if known."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, items: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing (tests, quiet runs)."""

    def set_total(self, total: int | None) -> None:
        pass

    def advance(self, items: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class _Meter:
    """Items, rate and estimate shared by both renderings."""

    def __init__(self, job: str, clock: Callable[[], float]) -> None:
        self.job = job
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.total: int | None = None

    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.rate()
        if self.total is None or rate <= 0 or self.done >= self.total:
            return "--:--"
        seconds = int((self.total - self.done) / rate)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def counts(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else str(self.done)


class BarProgress(_Meter):
    """``orders  [#######.......] 120/450  12.3/s  ETA 0:27`` redrawn in place."""

    WIDTH = 28

    def __init__(self, job: str, stream: TextIO, *, clock: Callable[[], float] = time.monotonic,
                 min_interval: float = 0.1) -> None:
        super().__init__(job, clock)
        self.stream = stream
        self.min_interval = min_interval
        self.drawn_at: float | None = None

    def set_total(self, total: int | None) -> None:
        self.total = total
        self._draw(force=True)

    def advance(self, items: int = 1) -> None:
        self.done += items
        self._draw()

    def finish(self) -> None:
        if self.drawn_at is not None:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and self.drawn_at is not None and now - self.drawn_at < self.min_interval:
            return
        self.drawn_at = now
        if self.total:
            filled = min(self.WIDTH, int(self.WIDTH * self.done / self.total))
            bar = "[" + "#" * filled + "." * (self.WIDTH - filled) + "]"
        else:
            bar = "[" + " " * self.WIDTH + "]"
        line = f"{self.job:<13} {bar} {self.counts()}  {self.rate():.1f}/s  ETA {self.eta()}"
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()


class LineProgress(_Meter):
    """One plain line every ``every`` seconds while items flow; nothing for short runs."""

    def __init__(self, job: str, emit: Callable[[str], None], *, every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(job, clock)
        self.emit = emit
        self.every = every
        self.last = self.started

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, items: int = 1) -> None:
        self.done += items
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.emit(f"{self.job}: {self.counts()} items, {self.rate():.1f}/s, "
                      f"ETA {self.eta()}")

    def finish(self) -> None:
        pass


def progress_factory(stream: TextIO, *, every: float = 10.0) -> Callable[[str], Progress]:
    """A bar per job when ``stream`` is a terminal, else periodic lines written to it."""
    if stream.isatty():
        return lambda job: BarProgress(job, stream)

    def line(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    return lambda job: LineProgress(job, line, every=every)
