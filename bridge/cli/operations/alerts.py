"""`bridge alerts`: incidents the creator is alerted to, a check now, and a test alert."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.errors import PermanentError
from bridge.services.alerts import check_alerts, incident_data, list_incidents, send_test_alert
from bridge.services.audit import Via, operator_of, record_action
from bridge.store.db import unit_of_work
from bridge.store.models import utcnow


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


@click.group("alerts", invoke_without_command=True)
@json_option
@click.pass_context
def alerts(ctx: click.Context, as_json: bool) -> None:
    """Alerts to the creator: incidents (the default), check, test.

    Incidents are opened and cleared by the `alerts` sync job (BRIDGE_SYNC_ALERTS_SCHEDULE);
    each opening and each clearing is sent once to BRIDGE_ALERT_EMAIL_TO (SMTP) and
    BRIDGE_ALERT_WEBHOOK_URL (a Slack-compatible chat webhook).
    """
    if ctx.invoked_subcommand is None:
        with unit_of_work(_app(ctx).ready_engine()) as session:
            rows = [incident_data(row) for row in list_incidents(session)]

        def render(rows: list[dict[str, Any]]) -> None:
            if not rows:
                click.echo("no incidents")
            for row in rows:
                when = (row["cleared_at"] or row["opened_at"])[:16].replace("T", " ")
                click.echo(f"{row['state']:<8} {when}  {row['summary']}")
                if row["state"] == "open":
                    click.echo(f"         fix: {row['fix']}")

        emit(rows, as_json, render)


@alerts.command("check")
@json_option
@click.pass_context
def alerts_check(ctx: click.Context, as_json: bool) -> None:
    """Look for incidents now and send what is untold.

    What the scheduled alerts job does, run once.
    """
    app = _app(ctx)
    run = check_alerts(app.ready_engine(), app.settings, utcnow())

    def render(data: dict[str, Any]) -> None:
        click.echo(
            f"{len(data['opened'])} opened, {len(data['cleared'])} cleared, {data['sent']} "
            f"message(s) sent to {', '.join(data['channels']) or 'no channel (none is set)'}"
        )
        for channel, why in sorted(data["failed"].items()):
            click.echo(f"not delivered by {channel}: {why}", err=True)

    emit(run.as_dict(), as_json, render)
    if run.failed:
        ctx.exit(1)


@alerts.command("test")
@click.option("--by", default=None, help="Who sends it, for the audit trail.")
@json_option
@click.pass_context
def alerts_test(ctx: click.Context, by: str | None, as_json: bool) -> None:
    """Send a test alert to every configured channel.

    Says what each channel answered.
    """
    app = _app(ctx)
    if not app.settings.alerts.channels:
        raise PermanentError(
            "no alert channel is set: BRIDGE_ALERT_EMAIL_TO with BRIDGE_SMTP_HOST, and/or "
            "BRIDGE_ALERT_WEBHOOK_URL"
        )
    outcome = send_test_alert(app.settings, utcnow())
    with unit_of_work(app.ready_engine()) as session:
        record_action(
            session,
            operator=operator_of(by, app.settings.console.operator),
            via=Via.CLI,
            action="alerts.test",
            details=outcome,
        )
        session.commit()

    def render(data: dict[str, str]) -> None:
        for channel, result in data.items():
            click.echo(f"{channel}: {result}")

    emit(outcome, as_json, render)
    if any(result != "sent" for result in outcome.values()):
        ctx.exit(1)
