"""The ``bridge`` command: the composition root that wires settings, storage, webhooks and sync."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from bridge import __version__
from bridge.cli.group import BridgeGroup, LazyCommand

# Each command's module is imported when the command runs or shows its help, not for
# `bridge --help` or `bridge --version`; the line beside each is the command's own short help
# (tests/cli/test_cli_startup.py checks both).
COMMANDS: dict[str, LazyCommand] = {
    name: LazyCommand(target, short_help)
    for name, target, short_help in (
        (
            "alerts",
            "bridge.cli.operations.alerts:alerts",
            "Alerts to the creator: incidents (the default), check, test.",
        ),
        (
            "apps",
            "bridge.cli.wallets:apps",
            "Apps connected through the Open Badges API; block one.",
        ),
        (
            "ledger",
            "bridge.cli.learners.ledger:ledger_command",
            "Every credit movement, newest first; --csv for all.",
        ),
        (
            "audit",
            "bridge.cli.operations.audit:audit_command",
            "Who did what, when and why: the audit trail.",
        ),
        (
            "bookings",
            "bridge.cli.bookings:bookings",
            "Cal.com and Calendly bookings and what each spent.",
        ),
        (
            "catalog",
            "bridge.cli.catalog:catalog",
            "List micro-SKUs with products, seats, problems and warnings.",
        ),
        (
            "claims",
            "bridge.cli.learners.claims:claims_command",
            "List a team pack's places, claim links and who claimed them.",
        ),
        (
            "cohort",
            "bridge.cli.learners.roster:cohort_command",
            "Show a cohort's roster, waitlist and capacity, or steer it.",
        ),
        (
            "config",
            "bridge.cli.operations.setup:config_command",
            "Show the effective settings, secrets masked.",
        ),
        (
            "credentials",
            "bridge.cli.credentials:credentials",
            "Open Badges 3.0 credentials (verifiable badges).",
        ),
        (
            "credits",
            "bridge.cli.learners.learner:credits_group",
            "Grant, revoke, redeem and refund learners' credits.",
        ),
        ("db", "bridge.cli.operations.setup:db", "Database schema and backup commands."),
        ("demo", "bridge.cli.demo:demo", "Play the whole product on a throw-away database."),
        (
            "doctor",
            "bridge.cli.operations.setup:doctor",
            "Check the settings, database, catalogue and shop.",
        ),
        ("events", "bridge.cli.events:events", "Outcome events from outside the shop."),
        (
            "inbox",
            "bridge.cli.deliveries.webhooks:inbox",
            "List, show and retry webhook deliveries.",
        ),
        (
            "init",
            "bridge.cli.operations.setup:init",
            "Create the database, then write .env with fresh secrets.",
        ),
        (
            "learner",
            "bridge.cli.learners.learner:learner",
            "Show a learner's credits, seats, coupons and history.",
        ),
        (
            "learners",
            "bridge.cli.learners.roster:learners_command",
            "Find learners, or export or erase one.",
        ),
        (
            "operators",
            "bridge.cli.operations.operators:operators",
            "People who may log in to the console.",
        ),
        (
            "outbox",
            "bridge.cli.deliveries.outbox:outbox",
            "List, show, retry and drain write-backs.",
        ),
        (
            "owes",
            "bridge.cli.learners.learner:owes_command",
            "List learners whose balance went negative.",
        ),
        (
            "pathways",
            "bridge.cli.credentials:pathways_command",
            "Progress on the catalogue's pathways (skill stacks).",
        ),
        ("report", "bridge.cli.report:report_command", "The outcome report creators steer by."),
        (
            "scheduler",
            "bridge.cli.operations.sync:scheduler_command",
            "Run the sync jobs on their schedules (the clock process).",
        ),
        (
            "serve",
            "bridge.cli.operations.setup:serve",
            "Run the webhook receiver, the API and the sync scheduler.",
        ),
        (
            "simulate",
            "bridge.cli.deliveries.webhooks:simulate",
            "Send a signed test delivery to a receiver.",
        ),
        (
            "sync",
            "bridge.cli.operations.sync:sync_command",
            "Run one sync job, or all of them, once.",
        ),
        (
            "tokens",
            "bridge.cli.learners.credits:tokens",
            "API bearer tokens: create, list (the default), revoke.",
        ),
        (
            "webhooks",
            "bridge.cli.deliveries.webhooks:webhooks",
            "Install or check the shop's webhooks.",
        ),
        (
            "work",
            "bridge.cli.deliveries.work:work",
            "Process the inbox and send write-backs.",
        ),
    )
}


def _existing_env_file(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A settings file named on the command line must exist: a typo must not mean defaults."""
    source = ctx.get_parameter_source(param.name or "env_file")
    if source is not ParameterSource.DEFAULT and not Path(value).exists():
        raise click.BadParameter(
            f"{value} not found (leave the option out to read ./.env when there is one)"
        )
    return value


@click.group(
    "bridge",
    cls=BridgeGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    from bridge.cli.context import AppContext  # with the command: settings, storage, output

    ctx.obj = AppContext(env_file, verbose=verbose)
    ctx.call_on_close(ctx.obj.close)
