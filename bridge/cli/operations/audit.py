"""`bridge audit`: the audit trail of operator actions, filtered, as a table, JSON or CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import DAY, table
from bridge.rules.listing import csv_text
from bridge.services.audit import AuditFilter, Via, event_data, list_events
from bridge.store.db import unit_of_work

COLUMNS = ["id", "at", "operator", "via", "action", "subject", "reason", "details"]


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


@click.command("audit", short_help="Who did what, when and why: the audit trail.")
@click.option("--by", "operator", default="", help="Only this operator (an e-mail or a name).")
@click.option(
    "--action",
    default="",
    help="Only this action (credits.grant) or area (credits: grants and revokes).",
)
@click.option("--subject", default="", help="Only this subject, e.g. learner:12.")
@click.option("--via", type=click.Choice([v.value for v in Via]), default=None, help="Channel.")
@click.option("--since", type=DAY, default=None, metavar="DATE", help="From this UTC day.")
@click.option("--until", type=DAY, default=None, metavar="DATE", help="To this UTC day, included.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--csv", "as_csv", is_flag=True, help="Every matching row as CSV (JSON's columns).")
@json_option
@click.pass_context
def audit_command(
    ctx: click.Context,
    operator: str,
    action: str,
    subject: str,
    via: str | None,
    since: date | None,
    until: date | None,
    limit: int,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Every operator action, newest first: manual grants and revokes, retries, cohort
    steering, catalogue changes, operators, tokens, credential revocations.

    Each row says who (the console's operator, or --by / BRIDGE_OPERATOR / the OS user for the
    CLI), when, through what, on what (a reference such as learner:12) and why.
    """
    app: AppContext = ctx.find_root().obj
    flt = AuditFilter(
        operator=operator.strip(),
        action=action.strip(),
        subject=subject.strip(),
        via=via or "",
        since=_midnight(since),
        until=None if until is None else _midnight(until + timedelta(days=1)),
    )
    with unit_of_work(app.ready_engine()) as session:
        rows, total = list_events(session, flt, limit=100_000 if as_csv else limit)
        data = [event_data(row) for row in rows]
    if as_csv:
        click.echo(csv_text(data, COLUMNS), nl=False)
        return

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no operator actions" + (" match" if flt != AuditFilter() else ""))
            return
        cells = [
            [
                row["at"][:16].replace("T", " "),
                row["operator"],
                row["via"],
                row["action"],
                row["subject"],
                row["reason"],
            ]
            for row in rows
        ]
        for line in table(["when", "by", "via", "action", "subject", "why"], cells, shrink=[5]):
            click.echo(line)
        if total > len(rows):
            click.echo(f"{len(rows)} of {total} shown; --limit or --csv for more", err=True)

    emit(data, as_json, render)
