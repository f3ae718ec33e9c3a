"""Output helpers every command shares: plurals, tables, JSON, progress and the log console.

Data goes to standard output; progress, logs and notices to standard error, so that
``bridge ... --json | jq`` and ``bridge ... > file`` get only the data. On a terminal one Rich
console owns standard error: log lines print above the live progress display instead of
tearing it. Elsewhere (cron, CI, a pipe) there is no live display, only plain lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bridge.cli.group import OptionValueError
from bridge.rules.words import credit_text, credit_words, plural, plural_form

__all__ = [
    "DAY",
    "MOMENT",
    "WIDTH",
    "DateParam",
    "OptionValueError",
    "activity",
    "console",
    "credit_text",
    "credit_words",
    "emit",
    "json_option",
    "live",
    "log_handler",
    "note",
    "plural",
    "plural_form",
    "progress_display",
    "show_value",
    "table",
    "to_json",
    "truncate",
    "usage_error",
    "wrap",
]

WIDTH = 100  # tables and wrapped lines fit this many columns
ELLIPSIS = "…"

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON (stable keys, see README)."
)


def truncate(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns: cut at a word boundary when one is near, with an
    ellipsis whenever anything was cut."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if text[width - 1] != " " and space >= width * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def wrap(text: str, indent: str = "", *, width: int = WIDTH, hanging: str = "  ") -> list[str]:
    """``text`` as lines of at most ``width`` columns, later lines indented a little more."""
    import textwrap

    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + hanging,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    right: Sequence[int] = (),
    shrink: Sequence[int] | None = None,
    width: int = WIDTH,
    indent: str = "",
) -> list[str]:
    """Columns padded to their widest cell and fitting ``width``.

    ``right`` are the indexes of right-aligned (number) columns. When the table is too wide,
    the ``shrink`` columns (default: the last one) are truncated with an ellipsis, widest
    first, down to 8 columns each.
    """
    cells = [[str(h) for h in headers]] + [
        ["-" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    flexible = list(shrink) if shrink is not None else [len(headers) - 1]
    gap = 2
    total = len(indent) + sum(widths) + gap * (len(widths) - 1)
    while total > width:
        candidates = [i for i in flexible if widths[i] > 8]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        step = min(total - width, widths[widest] - 8)
        widths[widest] -= step
        total -= step

    def line(row: list[str]) -> str:
        out = []
        for i, cell in enumerate(row):
            cell = truncate(cell, widths[i])
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return (indent + (" " * gap).join(out)).rstrip()

    return [line(row) for row in cells]


def to_json(data: Any) -> str:
    """Stable JSON: sorted keys, two-space indent, dates as ISO strings."""
    return json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print data as stable JSON for scripts or through ``render`` for people."""
    if as_json:
        click.echo(to_json(data))
    else:
        render(data)


def show_value(value: Any) -> str:
    """A field value for people: JSON for structures, "-" for nothing, the text otherwise."""
    if value is None or value == "":
        return "-"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_console: Console | None = None


def console() -> Console:
    """The one console of this process, on standard error (data stays on standard output)."""
    global _console
    if _console is None or _console.file is not sys.stderr:
        _console = Console(stderr=True, highlight=False, soft_wrap=False)
    return _console


def live() -> bool:
    """Whether progress may redraw in place (standard error is a terminal)."""
    return console().is_terminal


def log_handler() -> logging.Handler:
    """RichHandler on the shared console on a terminal (lines print above progress), else
    plain lines on standard error."""
    from bridge.logs import ContextFormatter

    if live():
        handler: logging.Handler = RichHandler(
            console=console(),
            show_path=False,
            rich_tracebacks=False,
            markup=False,
            log_time_format="%H:%M:%S",
        )
        handler.setFormatter(ContextFormatter("%(name)s: %(message)s"))
        return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def note(text: str) -> None:
    """A line for people on standard error, above any live progress."""
    if live():
        console().print(text, markup=False, highlight=False)
    else:
        click.echo(text, err=True)


class LiveProgress:
    """One job's task on a shared Rich progress display (the ``sync.progress.Progress`` port)."""

    def __init__(self, progress: Progress, job: str) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task(job, total=None)

    def set_total(self, total: int | None) -> None:
        self.progress.update(self.task, total=total)

    def advance(self, items: int = 1) -> None:
        self.progress.advance(self.task, items)

    def describe(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def finish(self) -> None:
        task = self.progress.tasks[self.task]
        if task.total is None:
            self.progress.update(self.task, total=task.completed)
        self.progress.stop_task(self.task)


class PlainProgress:
    """Without a terminal: a line when a long step starts (``announce`` items or more), one
    every ``every`` seconds while it runs, one at its end; nothing redraws."""

    def __init__(
        self,
        job: str,
        *,
        every: float = 10.0,
        announce: int = 100,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.job = job
        self.every = every
        self.announce = announce
        self.clock = clock
        self.write = write or (lambda text: click.echo(text, err=True))
        self.started = self.last = clock()
        self.done = 0
        self.total: int | None = None
        self.said_total = False

    def _counts(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else str(self.done)

    def set_total(self, total: int | None) -> None:
        self.total = total
        if total is not None and total >= self.announce and not self.said_total:
            self.said_total = True  # a long run says what it starts; a short one stays quiet
            self.write(f"{self.job}: {plural(total, 'item')} to go")

    def advance(self, items: int = 1) -> None:
        self.done += items
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            self.write(f"{self.job}: {self._counts()} done, {rate:.1f}/s")

    def describe(self, text: str) -> None:
        self.write(f"{self.job}: {text}")

    def finish(self) -> None:
        if self.done and self.clock() - self.started >= self.every:
            self.write(f"{self.job}: {self._counts()} done")


@contextmanager
def progress_display(enabled: bool = True) -> Iterator[Callable[[str], Any]]:
    """A factory of per-job progress for the block: live bars on a terminal, plain lines
    elsewhere, nothing when not ``enabled`` (``--json``)."""
    if not enabled:
        from sync.progress import NullProgress

        yield lambda _job: NullProgress()
        return
    if not live():
        yield lambda job: PlainProgress(job)
        return
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console(),
        transient=False,
    )
    with display:
        yield lambda job: LiveProgress(display, job)


@contextmanager
def activity(text: str, *, plain: bool = False) -> Iterator[None]:
    """A spinner saying ``text`` on a terminal while a slow step runs; elsewhere nothing, or
    with ``plain`` one line when it starts."""
    if live():
        with console().status(text):
            yield
    else:
        if plain:
            click.echo(text, err=True)
        yield


def usage_error(message: str, option: str | None = None) -> OptionValueError:
    """A usage mistake found after parsing (two options that disagree, a bad value)."""
    return OptionValueError(message, param_hint=option)


class DateParam(click.ParamType):
    """A date option, YYYY-MM-DD; with ``times`` also YYYY-MM-DDTHH:MM[:SS] (a datetime).

    One wording for every command: a bad value says "use YYYY-MM-DD", as the report does.
    """

    name = "date"

    def __init__(self, *, times: bool = False) -> None:
        self.times = times

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from datetime import date, datetime

        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if self.times and len(text) > 10:
                return datetime.fromisoformat(text.replace(" ", "T", 1))
            day = date.fromisoformat(text)
        except ValueError:
            also = " or YYYY-MM-DDTHH:MM:SS" if self.times else ""
            raise OptionValueError(
                f"{text!r} is not a date; use YYYY-MM-DD{also}", ctx, param
            ) from None
        return datetime(day.year, day.month, day.day) if self.times else day


DAY = DateParam()
MOMENT = DateParam(times=True)
