"""`bridge bookings`: Cal.com and Calendly bookings and what they spent; set-up of the tools."""

from __future__ import annotations

from typing import Any

import click

from bridge.cli.context import AppContext, emit, json_option
from bridge.errors import PermanentError
from bridge.services.bookings import LISTED_STATUSES, booking_counts, list_bookings
from bridge.store.db import unit_of_work

CALCOM_PATH, CALENDLY_PATH = "/webhooks/calcom", "/webhooks/calendly"


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj  # type: ignore[no-any-return]


def _render_bookings(data: dict[str, Any]) -> None:
    rows = data["bookings"]
    if not rows:
        click.echo("no bookings" + (f" with status {data['status']}" if data["status"] else ""))
    for row in rows:
        when = (row["starts_at"] or "")[:16].replace("T", " ") or "(time unknown)"
        spent = (f"{row['amount']} {row['credit_type']}" if row["credit_type"] else "-")
        who = row["learner"]["email"] if row["learner"] else row["attendee_email"] or "?"
        attendance = "" if row["attendance"] == "booked" else f", {row['attendance']}"
        click.echo(f"{when}  {row['status']:<15} {spent:<22} {who}  with "
                   f"{row['mentor'] or row['mentor_name'] or '?'}  ({row['source']}"
                   f"{attendance})")
        if row["note"] and row["status"] in ("unfunded", "unknown_learner"):
            click.echo(f"    {row['note']}")
    counts = data["counts"]
    attention = [f"{counts[s]} {s}" for s in ("unfunded", "unknown_learner") if counts[s]]
    if attention:
        click.echo("needs you: " + ", ".join(attention)
                   + " (nothing was debited for them; grant credits or tell the learner)")


@click.group("bookings", invoke_without_command=True)
@click.option("--status", type=click.Choice(LISTED_STATUSES),
              help="Only bookings in this state.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="At most this many, newest first.")
@json_option
@click.pass_context
def bookings(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Cal.com and Calendly bookings and what each spent.

    debited: the credits are spent; returned: cancelled (or a no-show, if
    BRIDGE_BOOKING_NO_SHOW=return), credits back; unfunded: the balance did not cover it,
    nothing spent; unknown_learner: the attendee is no learner the bridge knows.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = _app(ctx)
    engine = app.ready_engine()
    with unit_of_work(engine) as session:
        rows = list_bookings(session, status=status, limit=limit)
    data = {"status": status, "counts": booking_counts(engine), "bookings": rows}
    emit(data, as_json, _render_bookings)


@bookings.command("install")
@click.argument("tool", type=click.Choice(["calendly", "calcom"]))
@click.option("--token", envvar="CALENDLY_TOKEN", help="Calendly personal access token "
              "(Integrations > API & Webhooks); used for this call only, never stored. "
              "Default: $CALENDLY_TOKEN.")
@click.option("--scope", type=click.Choice(["organization", "user"]), default="organization",
              show_default=True,
              help="organization: every member's bookings (owner or admin token); user: yours.")
@click.option("--replace", is_flag=True,
              help="Recreate an existing subscription to the same URL (to change its key).")
@json_option
@click.pass_context
def bookings_install(ctx: click.Context, tool: str, token: str | None, scope: str,
                     replace: bool, as_json: bool) -> None:
    """Subscribe the bridge to a booking tool's webhooks.

    calendly: creates the webhook subscription through Calendly's API, signed with
    BRIDGE_CALENDLY_SIGNING_KEY. calcom: prints what to enter in Cal.com (Settings >
    Developer > Webhooks), which has no key to send.
    """
    settings = _app(ctx).settings
    public_url = settings.public_url
    if not public_url:
        raise PermanentError("BRIDGE_PUBLIC_URL is not set; for example "
                             "BRIDGE_PUBLIC_URL=https://bridge.example.com")
    if tool == "calcom":
        secret_set = bool(settings.calcom_webhook_secret)
        data = {"tool": "calcom", "subscriber_url": public_url + CALCOM_PATH,
                "secret": "BRIDGE_CALCOM_WEBHOOK_SECRET" if secret_set else None,
                "triggers": ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED",
                             "BOOKING_NO_SHOW_UPDATED", "MEETING_ENDED"]}

        def render_calcom(info: dict[str, Any]) -> None:
            click.echo("In Cal.com: Settings > Developer > Webhooks > New")
            click.echo(f"  Subscriber URL: {info['subscriber_url']}")
            click.echo("  Event triggers: " + ", ".join(info["triggers"]))
            click.echo("  Secret: the value of BRIDGE_CALCOM_WEBHOOK_SECRET" if secret_set
                       else "  Secret: set BRIDGE_CALCOM_WEBHOOK_SECRET first, then paste it")

        emit(data, as_json, render_calcom)
        return
    if not token:
        raise PermanentError("--token is required: a Calendly personal access token")
    key = settings.calendly_signing_key
    if not key:
        raise PermanentError("BRIDGE_CALENDLY_SIGNING_KEY is not set; for example "
                             "BRIDGE_CALENDLY_SIGNING_KEY=a-long-random-string (bridge init "
                             "writes one)")
    import requests

    from bridge.shop.calendly import install_calendly_webhook

    with requests.Session() as http:
        installed = install_calendly_webhook(http, token, public_url + CALENDLY_PATH, key,
                                             scope=scope, replace=replace)
    data = {"tool": "calendly", **vars(installed), "events": list(installed.events)}

    def render_calendly(info: dict[str, Any]) -> None:
        verb = {"created": "created", "replaced": "recreated",
                "exists": "already exists"}[info["action"]]
        click.echo(f"Calendly subscription {verb}: {info['callback_url']} ({info['scope']} "
                   f"scope, {info['state']})")
        click.echo("  events: " + ", ".join(info["events"]))
        if info["action"] == "exists":
            click.echo("  its signing key cannot be read back; --replace recreates it with "
                       "BRIDGE_CALENDLY_SIGNING_KEY")

    emit(data, as_json, render_calendly)

