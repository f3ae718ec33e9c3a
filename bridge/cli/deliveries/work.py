"""`bridge work`: the worker that processes both durable queues (the Procfile's ``worker``).

It runs the same drain as the service's own processing thread (webhooks.processing.QueueDrain:
inbox batches, each followed by an outbox drain, and the outbox's due retries when the inbox is
empty); `bridge inbox work` is the same command under its older name.
"""

from __future__ import annotations

import time

import click

from bridge.cli.context import AppContext
from bridge.cli.output import plural

poll_option = click.option(
    "--poll",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between looks at the queues when they are empty.",
)
max_seconds_option = click.option(
    "--max-seconds",
    default=None,
    type=click.FloatRange(1),
    metavar="SECONDS",
    help="Stop after this long (default: run until SIGTERM or Ctrl-C).",
)
once_option = click.option("--once", is_flag=True, help="Drain what is there now, then stop.")


def run_worker(app: AppContext, poll: float, max_seconds: float | None, once: bool) -> None:
    """Process the queues until stopped (or once); says how many deliveries it processed."""
    import signal
    import threading

    from bridge.services.orders import build_handlers, build_outbox_drainer
    from bridge.store.db import require_current_schema
    from webhooks.app import queue_drain
    from webhooks.processing import DrainLoop, WorkerHeartbeat, wait_for_database

    settings = app.settings
    engine = app.ready_engine() if once else app.engine
    drain = queue_drain(
        engine,
        settings,
        build_handlers(engine, settings),
        build_outbox_drainer(engine, settings),
    )
    if once:
        total = drain.inbox()
        if drain.outbox is not None:
            drain.outbox()  # the write-backs the deliveries queued, and the due retries
        click.echo(f"worker: {plural(total, 'delivery')} processed")
        return
    loop = DrainLoop(drain, poll=poll, what="worker")
    stopped = threading.Event()

    def stop(*_: object) -> None:
        stopped.set()
        loop.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + max_seconds if max_seconds else None
    total = 0
    try:
        # A database down at start is waited for like any outage; an outdated schema is not.
        if wait_for_database(
            lambda: require_current_schema(engine), stopped, deadline=deadline, what="worker"
        ):
            heartbeat = WorkerHeartbeat(engine, loop).start()
            try:
                total = loop.run(deadline=deadline)
            finally:
                heartbeat.stop()
    except KeyboardInterrupt:
        total = loop.processed
    finally:
        stopped.set()
    click.echo(f"worker: {plural(total, 'delivery')} processed")


WORK_HELP = """Process stored webhook deliveries and send write-backs (the Procfile's worker).

Run any number of these beside web processes started with BRIDGE_INBOX_WORKER=true (which then
only verify and store): each claims its own batches from the durable queues (on PostgreSQL
FOR UPDATE SKIP LOCKED; on SQLite claims take turns), the same drain the service's own
processing thread runs. Failed deliveries are retried here after their backoff; write-backs
are sent after each batch, and their due retries when the inbox is empty. A database outage
pauses the worker (one log line when it starts, one when it ends), it does not stop it; its
heartbeat tells /healthz that it runs.
"""


@click.command("work", help=WORK_HELP, short_help="Process the inbox and send write-backs.")
@poll_option
@max_seconds_option
@once_option
@click.pass_context
def work(ctx: click.Context, poll: float, max_seconds: float | None, once: bool) -> None:
    run_worker(ctx.find_root().obj, poll, max_seconds, once)
