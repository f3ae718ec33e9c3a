"""`bridge learners` (find learners) and `bridge cohort CODE` (roster, waitlist, capacity)."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option, pass_ctx
from bridge.rules.words import credit_text
from bridge.services.learners import LIMIT, search_learners
from bridge.services.reporting import cohort_roster, list_cohorts
from bridge.store.db import unit_of_work


def _balances(balances: dict[str, int]) -> str:
    return ", ".join(credit_text(amount, kind) for kind, amount in sorted(balances.items())) or "-"


@click.command("learners")
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
@json_option
@pass_ctx
def learners_command(app: AppContext, query: str, limit: int, as_json: bool) -> None:
    """Find learners by e-mail, name or customer id.

    Former e-mail addresses match too; newest first. Without --search, lists the newest
    learners. `bridge learner LEARNER` shows one in full.
    """
    with unit_of_work(app.ready_engine()) as session:
        rows = search_learners(session, query, limit=limit)

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
@json_option
@pass_ctx
def cohort_command(app: AppContext, code: str | None, as_json: bool) -> None:
    """Show a cohort's roster, waitlist and capacity.

    The roster, the waitlist first in line first, the capacity and where it comes from
    (mentors x learners per mentor, assessment slots). Without CODE, lists every cohort.
    """
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
