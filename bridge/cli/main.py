"""The ``bridge`` command: the composition root that wires settings, storage, webhooks and sync."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from bridge import __version__
from bridge.cli.bookings import bookings
from bridge.cli.catalog import catalog
from bridge.cli.context import AppContext, BridgeGroup
from bridge.cli.credentials import credentials, pathways_command
from bridge.cli.deliveries.outbox import outbox
from bridge.cli.deliveries.webhooks import inbox, simulate, webhooks
from bridge.cli.deliveries.work import work
from bridge.cli.demo import demo
from bridge.cli.events import events
from bridge.cli.learners.claims import claims_command
from bridge.cli.learners.credits import credits, tokens
from bridge.cli.learners.learner import attach_adjustments, learner, owes_command
from bridge.cli.learners.roster import cohort_command, learners_command
from bridge.cli.operations.alerts import alerts
from bridge.cli.operations.audit import audit_command
from bridge.cli.operations.operators import operators
from bridge.cli.operations.setup import config_command, db, doctor, init, serve
from bridge.cli.operations.sync import scheduler_command, sync_command
from bridge.cli.report import report_command


def _existing_env_file(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A settings file named on the command line must exist: a typo must not mean defaults."""
    source = ctx.get_parameter_source(param.name or "env_file")
    if source is not ParameterSource.DEFAULT and not Path(value).exists():
        raise click.BadParameter(
            f"{value} not found (leave the option out to read ./.env when there is one)"
        )
    return value


@click.group("bridge", cls=BridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="creator-bridge")
@click.option(
    "--env-file",
    default=".env",
    show_default=True,
    callback=_existing_env_file,
    help="Settings file to read; the real environment wins over it. A file named here must "
    "exist (--env-file /dev/null reads none); the default .env is read only if it exists.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also print INFO log lines (commands other than serve, scheduler and work print "
    "only warnings and errors of the log).",
)
@click.pass_context
def main(ctx: click.Context, env_file: str, verbose: bool) -> None:
    """creator-bridge: turn WooCommerce purchases into mentor credits and cohort seats."""
    ctx.obj = AppContext(env_file, verbose=verbose)
    ctx.call_on_close(ctx.obj.close)


attach_adjustments(credits)
for command in (
    init,
    config_command,
    db,
    doctor,
    serve,
    catalog,
    tokens,
    credits,
    learner,
    owes_command,
    webhooks,
    inbox,
    simulate,
    demo,
    sync_command,
    scheduler_command,
    outbox,
    report_command,
    events,
    claims_command,
    credentials,
    pathways_command,
    bookings,
    operators,
    learners_command,
    cohort_command,
    audit_command,
    alerts,
    work,
):
    main.add_command(command)
