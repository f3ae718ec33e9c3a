"""`bridge bookings`: Cal.com and Calendly bookings, their review, learners' booking links and
the set-up of the tools."""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import click
from click.core import ParameterSource

from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.learners.learner import os_user
from bridge.errors import PermanentError
from bridge.rules.bookings.events import Attendance, BookingStatus
from bridge.rules.bookings.links import CALCOM_PARAMETER, CALENDLY_FIELD
from bridge.rules.inbound.payloads import unstorable
from bridge.rules.listing import csv_text
from bridge.rules.words import amount_text, credit_text
from bridge.services.audit import Via, operator_of, record_action
from bridge.services.bookings import (
    LISTED_STATUSES,
    NEEDS_ATTENTION,
    BookingLink,
    BookingPolicy,
    booking_counts,
    booking_link,
    booking_links,
    list_bookings,
    review_booking,
    revoke_booking_link,
    rotate_booking_link,
)
from bridge.services.learners import require_learner
from bridge.store.db import unit_of_work

CALCOM_PATH, CALENDLY_PATH = "/webhooks/calcom", "/webhooks/calendly"
TOKEN_ENV = "CALENDLY_TOKEN"  # noqa: S105  (the variable's name, not a token)


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def _render_bookings(data: dict[str, Any]) -> None:
    rows = data["bookings"]
    if not rows:
        click.echo("no bookings" + (f" with status {data['status']}" if data["status"] else ""))
    for row in rows:
        when = (row["starts_at"] or "")[:16].replace("T", " ") or "(time unknown)"
        spent = credit_text(row["amount"], row["credit_type"]) if row["credit_type"] else "-"
        who = row["learner"]["email"] if row["learner"] else row["attendee_email"] or "?"
        attendance = "" if row["attendance"] == Attendance.BOOKED else f", {row['attendance']}"
        click.echo(
            f"#{row['id']:<5} {when}  {row['status']:<15} {spent:<22} {who}  with "
            f"{row['mentor'] or row['mentor_name'] or '?'}  ({row['source']}"
            f"{attendance})"
        )
        if row["note"] and row["status"] in (*NEEDS_ATTENTION, BookingStatus.REJECTED):
            click.echo(f"    {row['note']}")
    counts = data["counts"]
    attention = [f"{counts[s]} {s}" for s in NEEDS_ATTENTION if counts[s]]
    if attention:
        click.echo("needs you: " + ", ".join(attention) + " (nothing was debited for them)")
    if counts[BookingStatus.HELD_FOR_REVIEW]:
        click.echo(
            "  held_for_review: only the attendee's e-mail named the learner; "
            "bridge bookings approve ID debits them, reject ID does not"
        )
    if counts[BookingStatus.UNFUNDED] or counts[BookingStatus.UNKNOWN_LEARNER]:
        click.echo(
            "  unfunded, unknown_learner: grant credits, or tell the learner to book "
            "with their booking link (bridge bookings link EMAIL)"
        )


@click.group("bookings", invoke_without_command=True)
# Their values: given the StrEnum members, click would show and take their names.
@click.option(
    "--status",
    type=click.Choice([str(s) for s in LISTED_STATUSES]),
    help="Only bookings in this state.",
)
@click.option(
    "--limit",
    default=200,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="At most this many, newest first.",
)
@click.option(
    "--csv", "as_csv", is_flag=True, help="Every matching booking as CSV (JSON's columns)."
)
@json_option
@click.pass_context
def bookings(
    ctx: click.Context, status: str | None, limit: int, as_csv: bool, as_json: bool
) -> None:
    """Cal.com and Calendly bookings and what each spent.

    debited: the credits are spent; returned: cancelled (or a no-show, if
    BRIDGE_BOOKING_NO_SHOW=return), credits back; unfunded: the balance did not cover it,
    nothing spent; held_for_review: only the attendee's e-mail named the learner, nothing
    spent until approved; rejected: an operator said no; unknown_learner: no learner.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = _app(ctx)
    engine = app.ready_engine()
    with unit_of_work(engine) as session:
        rows = list_bookings(session, status=status, limit=100_000 if as_csv else limit)
    if as_csv:
        flat = [{**row, "learner": (row["learner"] or {}).get("email")} for row in rows]
        click.echo(csv_text(flat, list(rows[0]) if rows else ["id"]), nl=False)
        return
    data = {"status": status, "counts": booking_counts(engine), "bookings": rows}
    emit(data, as_json, _render_bookings)


def _review(
    ctx: click.Context, booking_id: int, approve: bool, by: str | None, reason: str, as_json: bool
) -> None:
    app = _app(ctx)
    policy = BookingPolicy(no_show=app.settings.bookings.no_show)
    with unit_of_work(app.ready_engine()) as session:
        # --by as typed (the service refuses what no column can hold), else who runs it.
        operator = by if by is not None else operator_of(None, app.settings.console.operator)
        reviewed = review_booking(
            session, booking_id, approve=approve, by=operator, policy=policy, reason=reason
        )
        if not reviewed.action.startswith("already"):
            record_action(
                session,
                operator=operator,
                via=Via.CLI,
                action="booking.approve" if approve else "booking.reject",
                subject=f"booking:{booking_id}",
                reason=reason,
            )
        session.commit()
    data = {"action": reviewed.action, "balance": reviewed.balance, **reviewed.booking}

    def render(d: dict[str, Any]) -> None:
        who = d["learner"]["email"] if d["learner"] else d["attendee_email"]
        if d["action"].startswith("already"):
            click.echo(
                f"booking #{d['id']} was {d['action'][8:]} before "
                f"(by {d['reviewed_by']}); nothing changed"
            )
        elif d["action"] == "rejected":
            click.echo(f"booking #{d['id']} rejected: nothing debited from {who}")
        elif d["status"] == BookingStatus.DEBITED:
            click.echo(
                f"booking #{d['id']} approved: {credit_text(d['amount'], d['credit_type'])}"
                f" debited from {who}; balance now "
                f"{amount_text(d['balance'], d['credit_type'])}"
            )
        else:
            click.echo(f"booking #{d['id']} approved, but {d['status']}: {d['note']}")

    emit(data, as_json, render)


@bookings.command("approve")
@click.argument("booking_id", type=int, metavar="ID")
@click.option("--by", default=None, help="Who approves (default: the OS user).")
@json_option
@click.pass_context
def approve_command(ctx: click.Context, booking_id: int, by: str | None, as_json: bool) -> None:
    """Approve a booking held for review: it debits its learner, once.

    The ID is the number `bridge bookings --status held_for_review` shows. Approving again
    changes nothing; a booking cancelled in the meantime cannot be approved.
    """
    _review(ctx, booking_id, True, by, "", as_json)


@bookings.command("reject")
@click.argument("booking_id", type=int, metavar="ID")
@click.option("--reason", default="", help="Why, kept on the booking.")
@click.option("--by", default=None, help="Who rejects (default: the OS user).")
@json_option
@click.pass_context
def reject_command(
    ctx: click.Context, booking_id: int, reason: str, by: str | None, as_json: bool
) -> None:
    """Reject a booking held for review: nothing is debited.

    It stays listed as rejected, with who reviewed it.
    """
    _review(ctx, booking_id, False, by, reason, as_json)


def with_token(page_url: str, source: str, token: str) -> str:
    """A booking page's URL with the token added to its query (other parameters kept)."""
    name = CALCOM_PARAMETER if source == "calcom" else CALENDLY_FIELD
    parts = urlsplit(page_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, token))
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


def _link_data(link: BookingLink, pages: tuple[str, ...]) -> dict[str, Any]:
    data = link.as_dict()
    data["links"] = (
        [
            with_token(page, "calendly" if "calendly.com" in page else "calcom", link.token)
            for page in pages
        ]
        if link.token
        else []
    )
    return data


def _render_link(data: dict[str, Any]) -> None:
    if data.get("revoked") is not None:
        click.echo(
            f"booking link of {data['email']} revoked"
            if data["revoked"]
            else f"{data['email']} had no booking link"
        )
        return
    if not data["token"]:
        click.echo(
            f"the booking link of {data['email']} cannot be shown: BRIDGE_CLAIM_SECRET "
            "changed since it was made (it still works); --rotate makes a new one"
        )
        return
    click.echo(f"booking link of {data['email']} (made {data['created_at'][:10]}):")
    click.echo(f"  Cal.com:  add ?{data['parameters']['calcom']} to a booking page's URL")
    click.echo(f"  Calendly: add ?{data['parameters']['calendly']} to a booking page's URL")
    for link in data["links"]:
        click.echo(f"  {link}")


pages_option = click.option(
    "--page",
    "pages",
    multiple=True,
    metavar="URL",
    help="A booking page (https://cal.com/you/call, https://calendly.com/you/call): print it "
    "with the learner's token added. Repeatable.",
)


@bookings.command("link")
@click.argument("learner_ref", metavar="EMAIL_OR_CUSTOMER_ID")
@click.option("--rotate", is_flag=True, help="Make a new token; the old link stops working.")
@click.option("--revoke", is_flag=True, help="End the token; the learner's bookings are held.")
@pages_option
@json_option
@click.pass_context
def link_command(
    ctx: click.Context,
    learner_ref: str,
    rotate: bool,
    revoke: bool,
    pages: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show a learner's booking link (made on first use).

    A booking made through it debits that learner; a booking that only names their e-mail
    is held for review. Hand the link to the learner only.
    """
    if rotate and revoke:
        raise click.UsageError("--rotate and --revoke exclude each other")
    problem = unstorable(learner_ref)
    if problem is not None:
        raise PermanentError(f"the e-mail or customer id holds {problem}; type it again")
    app = _app(ctx)
    secret = app.settings.claims.secret
    with unit_of_work(app.ready_engine()) as session:
        learner = require_learner(session, learner_ref)
        if revoke:
            data: dict[str, Any] = {
                "email": learner.email,
                "revoked": revoke_booking_link(session, learner),
            }
        else:
            link = (
                rotate_booking_link(session, learner, secret, by=os_user())
                if rotate
                else booking_link(session, learner, secret, create=True, by=os_user())
            )
            assert link is not None
            data = _link_data(link, pages)
        session.commit()
    emit(data, as_json, _render_link)


@bookings.command("links")
@click.option(
    "--create-missing", is_flag=True, help="Make a link for every learner who has none yet."
)
@pages_option
@json_option
@click.pass_context
def links_command(
    ctx: click.Context, create_missing: bool, pages: tuple[str, ...], as_json: bool
) -> None:
    """Every learner's booking link, for a mail merge.

    One line a learner: e-mail and token.
    """
    app = _app(ctx)
    with unit_of_work(app.ready_engine()) as session:
        rows = [
            _link_data(link, pages)
            for link in booking_links(
                session, app.settings.claims.secret, create_missing=create_missing, by=os_user()
            )
        ]
        session.commit()

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no learner has a booking link yet (--create-missing makes them)")
        for row in rows:
            click.echo(
                "\t".join([row["email"], row["token"] or "(cannot be shown)", *row["links"]])
            )

    emit(rows, as_json, render)


def _calendly_token(ctx: click.Context, token: str | None, token_stdin: bool) -> str:
    """The personal access token, from standard input, CALENDLY_TOKEN or a hidden prompt;
    never from the command line, where `ps` and the shell's history keep it."""
    if token is not None and ctx.get_parameter_source("token") == ParameterSource.COMMANDLINE:
        raise PermanentError(
            f"a token on the command line shows in ps and the shell's "
            f"history: set {TOKEN_ENV} or pipe it in with --token-stdin"
        )
    if token_stdin:
        lines = sys.stdin.read().splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise PermanentError("no token on standard input")
        return token
    token = (os.environ.get(TOKEN_ENV) or "").strip()
    if token:
        return token
    if sys.stdin.isatty():
        return str(click.prompt("Calendly personal access token", hide_input=True)).strip()
    raise PermanentError(
        f"a Calendly personal access token is needed: set {TOKEN_ENV} or "
        "pipe it in with --token-stdin"
    )


@bookings.command("install")
@click.argument("tool", type=click.Choice(["calendly", "calcom"]))
@click.option("--token", hidden=True, help="Refused: the token would show in ps and history.")
@click.option(
    "--token-stdin",
    is_flag=True,
    help=f"Read the Calendly personal access token from standard input (else "
    f"${TOKEN_ENV}, else a hidden prompt); used for this call only, never "
    "stored.",
)
@click.option(
    "--scope",
    type=click.Choice(["organization", "user"]),
    default="organization",
    show_default=True,
    help="organization: every member's bookings (owner or admin token); user: yours.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Recreate an existing subscription to the same URL (to change its key).",
)
@json_option
@click.pass_context
def bookings_install(
    ctx: click.Context,
    tool: str,
    token: str | None,
    token_stdin: bool,
    scope: str,
    replace: bool,
    as_json: bool,
) -> None:
    """Subscribe the bridge to a booking tool's webhooks.

    calendly: creates the webhook subscription through Calendly's API, signed with
    BRIDGE_CALENDLY_SIGNING_KEY; the personal access token (Integrations > API & Webhooks)
    comes from $CALENDLY_TOKEN, standard input (--token-stdin) or a hidden prompt, never
    the command line. calcom: prints what to enter in Cal.com (Settings > Developer >
    Webhooks), which has no key to send.
    """
    settings = _app(ctx).settings
    public_url = settings.web.public_url
    # A token on the command line is refused before anything else is looked at.
    pat = _calendly_token(ctx, token, token_stdin) if tool == "calendly" else ""
    if not public_url:
        raise PermanentError(
            "BRIDGE_PUBLIC_URL is not set; for example BRIDGE_PUBLIC_URL=https://bridge.example.com"
        )
    if tool == "calcom":
        secret_set = bool(settings.bookings.calcom_webhook_secret)
        data = {
            "tool": "calcom",
            "subscriber_url": public_url + CALCOM_PATH,
            "secret": "BRIDGE_CALCOM_WEBHOOK_SECRET" if secret_set else None,
            "triggers": [
                "BOOKING_CREATED",
                "BOOKING_RESCHEDULED",
                "BOOKING_CANCELLED",
                "BOOKING_NO_SHOW_UPDATED",
                "MEETING_ENDED",
            ],
        }

        def render_calcom(info: dict[str, Any]) -> None:
            click.echo("In Cal.com: Settings > Developer > Webhooks > New")
            click.echo(f"  Subscriber URL: {info['subscriber_url']}")
            click.echo("  Event triggers: " + ", ".join(info["triggers"]))
            click.echo(
                "  Secret: the value of BRIDGE_CALCOM_WEBHOOK_SECRET"
                if secret_set
                else "  Secret: set BRIDGE_CALCOM_WEBHOOK_SECRET first, then paste it"
            )

        emit(data, as_json, render_calcom)
        return
    key = settings.bookings.calendly_signing_key
    if not key:
        raise PermanentError(
            "BRIDGE_CALENDLY_SIGNING_KEY is not set; for example "
            "BRIDGE_CALENDLY_SIGNING_KEY=a-long-random-string (bridge init "
            "writes one)"
        )
    import requests

    from bridge.shop.calendly import install_calendly_webhook

    with requests.Session() as http:
        installed = install_calendly_webhook(
            http, pat, public_url + CALENDLY_PATH, key, scope=scope, replace=replace
        )
    data = {"tool": "calendly", **vars(installed), "events": list(installed.events)}

    def render_calendly(info: dict[str, Any]) -> None:
        verb = {"created": "created", "replaced": "recreated", "exists": "already exists"}[
            info["action"]
        ]
        click.echo(
            f"Calendly subscription {verb}: {info['callback_url']} ({info['scope']} "
            f"scope, {info['state']})"
        )
        click.echo("  events: " + ", ".join(info["events"]))
        if info["action"] == "exists":
            click.echo(
                "  its signing key cannot be read back; --replace recreates it with "
                "BRIDGE_CALENDLY_SIGNING_KEY"
            )

    emit(data, as_json, render_calendly)
