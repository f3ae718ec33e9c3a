"""`bridge learners` (find learners) and `bridge cohort CODE` (roster, waitlist, capacity,
and steering: promote, remove, move)."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option, pass_ctx
from bridge.cli.learners.privacy import erase_command, export_command
from bridge.cli.output import usage_error
from bridge.rules.listing import csv_text
from bridge.rules.words import credit_text
from bridge.services.cohorts import ACTIONS
from bridge.services.learners import (
    LEARNER_COLUMNS,
    LEARNER_SORTS,
    LIMIT,
    LearnerQuery,
    list_learners,
)
from bridge.services.reporting import cohort_roster, list_cohorts
from bridge.store.db import unit_of_work


def _balances(balances: dict[str, int]) -> str:
    return ", ".join(credit_text(amount, kind) for kind, amount in sorted(balances.items())) or "-"


@click.group("learners", invoke_without_command=True)
@click.option(
    "--search",
    "query",
    default="",
    metavar="TEXT",
    help="Part of an e-mail or name, or a customer id.",
)
@click.option("--q", "query", hidden=True)  # the old spelling of --search
@click.option(
    "--limit",
    default=LIMIT,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Most learners to list.",
)
@click.option(
    "--cohort", default="", metavar="CODE", help="Only those with a seat or a waitlist place in it."
)
@click.option("--offer", default="", metavar="SKU", help="Only those who bought this micro-SKU.")
@click.option("--balance", is_flag=True, help="Only those with some credit balance above zero.")
@click.option("--waitlisted", is_flag=True, help="Only those waiting for a seat.")
@click.option("--sort", type=click.Choice(list(LEARNER_SORTS)), default="newest", show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="Every match as CSV (the JSON's columns).")
@json_option
@click.pass_context
def learners_command(
    ctx: click.Context,
    query: str,
    limit: int,
    cohort: str,
    offer: str,
    balance: bool,
    waitlisted: bool,
    sort: str,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Find learners, or export or erase one.

    Found by e-mail, name or customer id; former e-mail addresses match too; newest first;
    erased learners never. Without --search, lists the newest learners. `bridge learner
    LEARNER` shows one in full; `bridge learners export LEARNER` and `bridge learners erase
    LEARNER` answer their privacy requests.
    """
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.find_root().obj
    wanted = LearnerQuery(
        text=query,
        cohort=cohort.strip(),
        offer=offer.strip(),
        balance=balance,
        waitlisted=waitlisted,
        sort=sort,
    )
    with unit_of_work(app.ready_engine()) as session:
        rows, _ = list_learners(session, wanted, limit=100_000 if as_csv else limit)
    if as_csv:
        click.echo(csv_text(rows, LEARNER_COLUMNS), nl=False)
        return

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo(f"no learner matches {query!r}" if query else "no learners yet")
        for row in rows:
            who = f"#{row['customer_id']}" if row["customer_id"] else "guest"
            click.echo(
                f"{row['email']:<36} {row['name'][:24]:<24} {who:<9} "
                f"seats {row['seats']}  {_balances(row['balances'])}"
            )

    emit(rows, as_json, render)


def _render_cohort(data: dict[str, Any]) -> None:
    cohort = data["cohort"]
    click.echo(f"{cohort['code']}: {cohort['title'] or '(no title)'}")
    click.echo(
        f"  {(cohort['starts_at'] or '?')[:10]} to {(cohort['ends_at'] or '?')[:10]}"
        f" ({cohort['timezone']})"
    )
    click.echo(f"  capacity {cohort['capacity']}: {cohort['capacity_why']}")
    click.echo(f"  now: {cohort['seats_left_why']}")
    click.echo(f"roster ({len(data['roster'])} active):")
    for row in data["roster"]:
        click.echo(f"  {row['email']:<36} {row['name'][:24]:<24} order {row['order_id']}")
    if not data["roster"]:
        click.echo("  nobody yet")
    click.echo(f"waitlist ({len(data['waitlist'])}, first in line first):")
    for row in data["waitlist"]:
        click.echo(
            f"  {row['position']:>3}. {row['email']:<36} since "
            f"{(row['since'] or '')[:16].replace('T', ' ')}"
        )
    if not data["waitlist"]:
        click.echo("  empty")


@click.command("cohort")
@click.argument("code", required=False)
@click.argument("action", required=False, type=click.Choice(ACTIONS))
@click.argument("learner_ref", metavar="[LEARNER]", required=False)
@click.option("--to", "to", default=None, metavar="CODE", help="With move: the cohort to move to.")
@click.option("--reason", default="", help="Why, kept on the audit trail.")
@click.option(
    "--by",
    default=None,
    help="Who steers, kept on the audit trail (default: BRIDGE_OPERATOR, else the OS user).",
)
@click.option("--dry-run", is_flag=True, help="Show what the action would do, store nothing.")
@json_option
@pass_ctx
def cohort_command(
    app: AppContext,
    code: str | None,
    action: str | None,
    learner_ref: str | None,
    to: str | None,
    reason: str,
    by: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Show a cohort's roster, waitlist and capacity, or steer it.

    The roster, the waitlist first in line first (in purchase order: paid date, then order),
    the capacity and where it comes from (mentors x learners per mentor, assessment slots).
    Without CODE, lists every cohort.

    \b
    bridge cohort CODE promote LEARNER         a waitlisted learner gets a seat out of turn
    bridge cohort CODE remove LEARNER          take a learner off the waitlist
    bridge cohort CODE move LEARNER --to CODE  move a seat or waitlist place to another cohort

    Each action is audited with --by, tells the learner once in a customer note and writes
    both cohorts' stock back to the shop; --dry-run shows what it would do.
    """
    if action is not None:
        _steer(app, code or "", action, learner_ref, to, reason, by, dry_run, as_json)
        return
    if learner_ref is not None or to is not None or dry_run:
        raise usage_error("LEARNER, --to and --dry-run go with promote, remove or move")
    with unit_of_work(app.ready_engine()) as session:
        if code is None:
            rows = list_cohorts(session)
        else:
            data = cohort_roster(session, code)
    if code is not None:
        emit(data, as_json, _render_cohort)
        return

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no cohorts: define them in the catalogue file")
        for row in rows:
            click.echo(
                f"{row['code']:<16} {row['active']}/{row['capacity']} active, "
                f"{row['waitlisted']} waiting; {row['capacity_why']}"
            )

    emit(rows, as_json, render)


learners_command.add_command(export_command)
learners_command.add_command(erase_command)


def _steer(
    app: AppContext,
    code: str,
    action: str,
    learner_ref: str | None,
    to: str | None,
    reason: str,
    by: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """promote, remove or move: one unit of work, committed unless --dry-run."""
    from bridge.cli.catalog import file_catalogue
    from bridge.services.audit import Via, operator_of
    from bridge.services.catalogue import load_catalogue
    from bridge.services.cohorts import steer

    if not learner_ref:
        raise usage_error(f"{action} needs the learner: bridge cohort {code} {action} LEARNER")
    engine = app.ready_engine()
    settings = app.settings
    catalogue = load_catalogue(engine, file_catalogue(settings, engine)[0])
    with unit_of_work(engine) as session:
        result = steer(
            session,
            action,
            code,
            learner_ref,
            catalogue=catalogue,
            settings=settings,
            operator=operator_of(by, settings.console.operator),
            via=Via.CLI,
            to=to,
            reason=reason,
        )
        result.dry_run = dry_run
        if dry_run:
            session.rollback()
        else:
            session.commit()

    def render(_data: dict[str, Any]) -> None:
        click.echo(result.describe())
        if result.writebacks:
            queued = "would queue" if dry_run else "queued"
            click.echo(f"  {queued} {len(result.writebacks)} write-backs (note, stock, meta)")

    emit(result.as_dict(), as_json, render)
