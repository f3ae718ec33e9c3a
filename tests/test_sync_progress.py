"""Progress for people: a bar with items, rate and estimate on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from sync.progress import BarProgress, LineProgress, progress_factory


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_items_rate_and_estimate_and_ends_its_line():
    """Half of 200 items in 10 s: 10.0/s, 10 s to go; finish leaves the last state on its line."""
    clock, screen = Ticks(), io.StringIO()
    bar = BarProgress("orders", screen, clock=clock)
    bar.set_total(200)
    clock.now += 10
    bar.advance(100)
    last = screen.getvalue().split("\r")[-1]
    assert last.startswith("orders        [##############..............] 100/200  10.0/s  ETA 0:10")
    bar.finish()
    assert screen.getvalue().endswith("\n")


def test_without_a_terminal_a_plain_line_comes_at_most_every_interval():
    """Cron mail and logs get a line every ten seconds while items flow, and no bar codes."""
    clock, lines = Ticks(), []
    progress = LineProgress("orders", lines.append, every=10, clock=clock)
    progress.set_total(300)
    for _ in range(30):
        clock.now += 1
        progress.advance(5)
    assert lines == ["orders: 50/300 items, 5.0/s, ETA 0:50",
                     "orders: 100/300 items, 5.0/s, ETA 0:40",
                     "orders: 150/300 items, 5.0/s, ETA 0:30"]


def test_the_kind_of_progress_follows_the_stream():
    """A terminal gets the bar, a pipe or file gets lines."""
    assert isinstance(progress_factory(Terminal())("orders"), BarProgress)
    assert isinstance(progress_factory(io.StringIO())("orders"), LineProgress)
