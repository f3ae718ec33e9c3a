"""`bridge sync` (each job once, for cron and people) and `bridge scheduler` (the clock).

Part of the composition root: it builds the jobs' ports from settings and may import ``sync``.
Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import click

from bridge.cli.context import AppContext, json_option
from bridge.cli.output import MOMENT, progress_display, to_json
from bridge.rules.catalogue.catalog import Catalogue
from bridge.settings import Settings
from bridge.store.models import JobRunStatus

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sync.context import JobResult, SyncPorts
    from sync.progress import Progress

# Exit codes: 1 a job failed; 75 (EX_TEMPFAIL) a job did not run because another runner had it.
EXIT_FAILED = 1
EXIT_BUSY = 75
JOB_NAMES = (
    "catalog",
    "orders",
    "subscriptions",
    "inbox",
    "expiry",
    "outbox",
    "webhooks",
    "alerts",
    "backup",
)


def build_ports(
    settings: Settings,
    engine: Engine,
    *,
    progress: Callable[[str], Progress] | None = None,
    shop: Callable[[], Any] | None = None,
) -> SyncPorts:
    """The jobs' ports from settings: a fresh WooCommerce client per run, the catalogue file."""
    from bridge.cli.catalog import file_catalogue
    from sync.context import SyncPorts
    from sync.progress import NullProgress

    def new_client() -> Any:
        from bridge.shop.client import WooClient

        return WooClient(settings)

    def catalogue_file() -> Catalogue:
        catalogue, _problems = file_catalogue(settings, engine)  # none: product meta only
        return catalogue

    return SyncPorts(
        engine=engine,
        settings=settings,
        shop=shop or new_client,
        file_catalogue=catalogue_file,
        progress=progress or (lambda _job: NullProgress()),
    )


@contextmanager
def graceful_stop(stop: Any, stream: TextIO) -> Iterator[None]:
    """SIGTERM, or a first Ctrl-C, stops after the current page; a second Ctrl-C aborts."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT and stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        again = " (Ctrl-C again to abort)" if signum == signal.SIGINT else ""
        stream.write(f"\nstopping after the current page{again}\n")
        stream.flush()

    previous = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    except ValueError:
        previous.clear()  # not the main thread (e.g. under a test runner): no handlers
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def render_results(results: list[JobResult]) -> None:
    """The summary for people: what changed, one line per job, a total, the reasons."""
    from sync.context import summary_line, total

    if any(result.dry_run for result in results):
        click.echo("dry run: nothing was written, locally or to WooCommerce")
    for result in results:
        for change in result.changes:
            click.echo(f"  {result.job}: {change}")
        if result.more_changes:
            click.echo(f"  {result.job}: ... and {result.more_changes} more")
        for note in result.notes:
            click.echo(f"  {result.job}: {note}")
    for result in results:
        click.echo(summary_line(result))
    if len(results) > 1:
        click.echo(summary_line(total(results)))
    for result in results:
        if result.status != JobRunStatus.OK and result.reason:
            label = "busy" if result.status == JobRunStatus.BUSY else "error"
            verb = "did not run: " if result.status == JobRunStatus.SKIPPED else ""
            click.echo(f"{label}: {result.job}: {verb}{result.reason}", err=True)


def exit_code(results: list[JobResult]) -> int:
    """0 when every job ran (or had nothing to do), 1 when one failed or could not run here
    (no shop: as `bridge scheduler`, `catalog sync` and `outbox drain` say), 75 when another
    runner had one."""
    if any(r.status in (JobRunStatus.FAILED, JobRunStatus.SKIPPED) for r in results):
        return EXIT_FAILED
    if any(r.status == JobRunStatus.BUSY for r in results):
        return EXIT_BUSY
    return 0


@click.command("sync")
@click.argument("job", required=False, type=click.Choice(JOB_NAMES))
@click.option(
    "--full",
    is_flag=True,
    help="Orders and catalogue: from the beginning (grants for orders placed before "
    "the bridge was installed).",
)
@click.option(
    "--since",
    type=MOMENT,
    default=None,
    metavar="DATE",
    help="Orders and catalogue: changes after this UTC date (YYYY-MM-DD) or time "
    "(YYYY-MM-DDTHH:MM:SS).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run for real inside one transaction that is rolled back, sending the shop "
    "only GET requests: the same figures as the real run, nothing written.",
)
@click.option(
    "--notify",
    is_flag=True,
    help="Also tell customers of history (orders changed before the bridge started "
    "watching the shop): notes, which WooCommerce e-mails, and coupons. Off by "
    "default: a first install or a rebuild tells nobody anything.",
)
@json_option
@click.pass_context
def sync_command(
    ctx: click.Context,
    job: str | None,
    full: bool,
    since: datetime | None,
    dry_run: bool,
    notify: bool,
    as_json: bool,
) -> None:
    """Run one sync job, or all of them, once.

    Jobs: catalog, orders, subscriptions, inbox, expiry, outbox, webhooks, alerts, backup. Every
    summary says how many customers would be, or were, notified. A terminal shows one progress
    display (log lines print above it); elsewhere plain lines. Exit status 0 when every job
    ran, 1 when one failed or could not run (no shop configured: the jobs that need none still
    run), 75 when another runner had a job; the reasons are on the last lines.
    """
    from contextlib import nullcontext
    from threading import Event

    from sync.context import RunOptions, rolled_back
    from sync.jobs import JOB_ORDER, run_job

    if full and since is not None:
        raise click.UsageError("--full and --since exclude each other")
    app: AppContext = ctx.find_root().obj
    settings = app.settings
    engine = app.ready_engine()
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    options = RunOptions(full=full, since=since, dry_run=dry_run, notify=notify)
    names = [job] if job else list(JOB_ORDER)
    stop = Event()
    results = []
    # A dry run of several jobs shares one rolled-back transaction: each job sees what the
    # ones before it would have stored (the orders job maps through the catalogue job's).
    with (
        rolled_back(engine) if dry_run else nullcontext(engine) as target,
        progress_display(enabled=not as_json) as progress,
        graceful_stop(stop, sys.stderr),
    ):
        # In a dry run the jobs get the rolled-back Connection where they take an Engine: they
        # only open units of work on it (see sync.context.rolled_back).
        ports = build_ports(settings, target, progress=progress)  # type: ignore[arg-type]
        for name in names:
            if stop.is_set():
                break
            results.append(run_job(name, ports, options, stop=stop))
    if as_json:
        click.echo(to_json([r.as_dict() for r in results]))
    else:
        render_results(results)
    ctx.exit(exit_code(results))


@click.command("scheduler")
@click.pass_context
def scheduler_command(ctx: click.Context) -> None:
    """Run the sync jobs on their schedules (the clock process).

    Schedules come from BRIDGE_SYNC_<JOB>_SCHEDULE. On SIGTERM or Ctrl-C the running jobs
    finish their current page, and the process exits.
    """
    from sync.scheduler import SyncScheduler

    app: AppContext = ctx.find_root().obj
    settings = app.settings
    if not settings.sync_active:
        why = (
            "BRIDGE_SYNC_ENABLED is false"
            if not settings.sync.enabled
            else "no shop is configured (WOOCOMMERCE_URL and the REST keys)"
        )
        click.echo(f"error: sync is off: {why}", err=True)
        ctx.exit(EXIT_FAILED)
    engine = app.ready_engine()
    quiet_apscheduler(settings)
    runner = SyncScheduler(build_ports(settings, engine))
    for name, schedule in runner.planned:
        click.echo(f"  {name:<13} {schedule}")
    with graceful_stop(runner.stop, sys.stderr):
        runner.start()
        click.echo(f"scheduler running {len(runner.planned)} jobs; SIGTERM or Ctrl-C stops it")
        try:
            runner.wait()
        finally:
            runner.shutdown()
    click.echo("scheduler stopped")


def quiet_apscheduler(settings: Settings) -> None:
    """APScheduler logs every run at INFO; the jobs' own summaries say more, so keep it to DEBUG."""
    if settings.logging.level != "DEBUG":
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def embedded_scheduler(settings: Settings) -> tuple[Callable[[], None], Callable[[], None]]:
    """Hooks for `bridge serve`: start the scheduler in the web worker, stop it on exit.

    The worker builds its own engine: connections must not cross the fork from the master.
    """
    from bridge.store.db import make_engine
    from sync.scheduler import SyncScheduler

    running: dict[str, SyncScheduler] = {}

    def start() -> None:
        quiet_apscheduler(settings)
        runner = SyncScheduler(build_ports(settings, make_engine(settings.database.url)))
        runner.start()
        running["scheduler"] = runner

    def stop() -> None:
        runner = running.pop("scheduler", None)
        if runner is not None:
            runner.shutdown()
            runner.ports.engine.dispose()

    return start, stop
