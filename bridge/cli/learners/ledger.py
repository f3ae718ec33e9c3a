"""`bridge ledger`: every learner's ledger rows, narrowed, as a table, JSON or CSV."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import table
from bridge.rules.listing import csv_text
from bridge.rules.words import amount_text
from bridge.services.learners import LEDGER_COLUMNS, LEDGER_SORTS, LedgerQuery, list_ledger
from bridge.store.db import unit_of_work


@click.command("ledger", short_help="Every credit movement, newest first; --csv for all.")
@click.option("--type", "credit_type", default="", help="Only this credit type.")
@click.option("--reason", default="", help="Only this reason: grant, reversal, manual, ...")
@click.option("--by", "actor", default="", help="Only manual rows made by this operator.")
@click.option("--learner", "learner_id", type=click.IntRange(1), default=None, help="Learner id.")
@click.option("--sort", type=click.Choice(list(LEDGER_SORTS)), default="newest", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="Every matching row as CSV (JSON's columns).")
@json_option
@click.pass_context
def ledger_command(
    ctx: click.Context,
    credit_type: str,
    reason: str,
    actor: str,
    learner_id: int | None,
    sort: str,
    limit: int,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Every learner's ledger rows (grants, reversals, manual adjustments with who made them,
    redemptions, expiries), newest first. Rows are never changed: a reversal is a row."""
    app: AppContext = ctx.find_root().obj
    query = LedgerQuery(credit_type.strip(), reason.strip(), actor.strip(), learner_id, sort)
    with unit_of_work(app.ready_engine()) as session:
        rows, total = list_ledger(session, query, limit=100_000 if as_csv else limit)
    if as_csv:
        click.echo(csv_text(rows, LEDGER_COLUMNS), nl=False)
        return

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no ledger rows")
            return
        cells = [
            [
                row["created_at"][:16].replace("T", " "),
                row["email"],
                amount_text(row["amount"], row["credit_type"], signed=True),
                row["reason"],
                f"order {row['order_id']}" if row["order_id"] else row["note"],
                row["actor"] or "-",
            ]
            for row in rows
        ]
        heads = ["when", "learner", "amount", "reason", "from", "by"]
        for line in table(heads, cells, right=[2], shrink=[4]):
            click.echo(line)
        if total > len(rows):
            click.echo(f"{len(rows)} of {total} shown; --limit or --csv for more", err=True)

    emit(rows, as_json, render)
