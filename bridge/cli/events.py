"""`bridge events import FILE.csv`: outcome events from a spreadsheet, all lines or none.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import plural
from bridge.errors import PermanentError
from bridge.rules.report.rows import check_timezone
from bridge.services.credentials import CSV_COLUMNS, EVENT_KINDS, import_csv, issuing_factory


class ImportRefused(PermanentError):
    """The file had bad lines; nothing was written."""


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


@click.group("events")
def events() -> None:
    """Outcome events from outside the shop.

    Projects started, submitted and accepted, assessments passed, interviews and placements,
    for the outcome report; passed assessments and accepted projects issue credentials.
    """


@events.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--timezone",
    "timezone",
    metavar="TZ",
    help="Time zone of plain dates in the file [default: BRIDGE_REPORT_TIMEZONE].",
)
@click.option("--dry-run", is_flag=True, help="Check every line; write nothing.")
@json_option
@click.pass_context
def events_import(
    ctx: click.Context, file: Path, timezone: str | None, dry_run: bool, as_json: bool
) -> None:
    """Import a CSV file of events: every line, or none.

    FILE has the columns kind,learner,sku,occurred_at and optionally key and evidence:

    \b
    kind         one of project_started, project_submitted, interview, placement,
                 assessment_passed, project_accepted (these two issue the learner's
                 Open Badges credential for the SKU)
    learner      the learner's e-mail (current or former) or WooCommerce customer id
    sku          the micro-SKU the event is about
    occurred_at  2027-02-01T10:00:00Z, 2027-02-01T11:00:00+01:00, or a plain date
                 (midnight in the report time zone)
    key          optional; a line's key makes it idempotent (without one, the event's
                 own content is its key), so importing a file again adds nothing
    evidence     optional; a URL of the work, put in the credential

    Every bad line is named; if any line is bad, nothing is written.
    """
    app = _app(ctx)
    zone = check_timezone(timezone or app.settings.report.timezone, "--timezone")
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            f"{file} is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
        ) from None
    from bridge.cli.credentials import catalogue_loader

    issuing = issuing_factory(app.settings, catalogue_loader(app))
    result = import_csv(app.ready_engine(), text, zone, dry_run=dry_run, issuing=issuing)
    data: dict[str, Any] = {
        "file": str(file),
        "recorded": result.recorded,
        "already_recorded": result.already,
        "written": result.committed,
        "errors": [{"line": e.line, "field": e.field, "problem": e.problem} for e in result.errors],
        "credentials": result.credentials,
    }

    def render(data: dict[str, Any]) -> None:
        for error in result.errors:
            click.echo(f"{file}: {error}", err=True)
        if result.errors:
            return
        verb = "would record" if dry_run else "recorded"
        click.echo(f"{verb} {plural(result.recorded, 'event')}; {result.already} already recorded")
        if result.credentials:
            issued = "would issue" if dry_run else "issued"
            click.echo(f"{issued} {plural(len(result.credentials), 'credential')}:")
            for row in result.credentials:
                click.echo(f"  line {row['line']}: {row['learner']} {row['sku']} {row['url']}")

    emit(data, as_json, render)
    if result.errors:
        raise ImportRefused(
            f"{plural(len(result.errors), 'bad line')} in {file}; nothing was written "
            f"(columns: {','.join(CSV_COLUMNS)}; kinds: {', '.join(EVENT_KINDS)})"
        )
