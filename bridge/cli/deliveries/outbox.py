"""`bridge outbox`: write-backs to WooCommerce: list, show, retry, drain, dry run.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import click

from bridge.cli.audited import audit_cli
from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.output import plural, plural_form, progress_display, show_value, table, wrap
from bridge.errors import PermanentError
from bridge.rules.listing import csv_text, every_row
from bridge.services.operations import manual_run
from bridge.services.queue import OUTBOX, ListQuery
from bridge.services.writeback import (
    STATUSES,
    DrainSummary,
    drain_outbox,
    outbox_counts,
    outbox_listing,
    refresh_catalogue_writebacks,
    retry_outbox,
    show_outbox_item,
)
from bridge.shop.protocol import API_VERSION
from bridge.store.models import OutboxStatus, utcnow

if TYPE_CHECKING:
    from bridge.settings import Settings

dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Print the exact requests a drain would send; send nothing."
)


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def _emit(data: Any, as_json: bool, render: Any) -> None:
    emit(data, as_json, render)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _state(row: dict[str, Any]) -> str:
    """Where a write-back stands, in words: a dead row is dead, not "due now"."""
    tries = plural(row["attempts"], "try", "tries")
    status = row["status"]
    if status == OutboxStatus.SENT:
        return f"sent {_when(row['sent_at'])}"
    if status == OutboxStatus.DEAD:
        return f"dead after {tries}"
    if status == OutboxStatus.SUPERSEDED:
        return "superseded by a newer value"
    if status == OutboxStatus.UNCHANGED:
        return "not sent: the shop has this value"
    if status == OutboxStatus.SENDING:
        return f"being sent ({tries} so far)"
    if status == OutboxStatus.HELD:
        return "held: waiting for BRIDGE_PUBLIC_URL"
    if not row["attempts"]:
        return "not tried yet"
    due = row["next_attempt_at"]
    return f"{tries}, " + (f"next {_when(due)}" if due else "due now")


def _api_root(settings: Settings) -> str:
    if settings.shop.url:
        return f"{settings.shop.url.rstrip('/')}/wp-json/{API_VERSION}"
    return f"/wp-json/{API_VERSION}"


def _print_summary(summary: DrainSummary, settings: Settings, as_json: bool) -> None:
    def render(data: dict[str, Any]) -> None:
        root = _api_root(settings)
        for request in data["requests"]:
            condition = f"  ({request['condition']})" if request.get("condition") else ""
            click.echo(f"{request['method']} {root}/{request['path']}{condition}")
            if "body" in request:
                click.echo(json.dumps(request["body"], indent=2, sort_keys=True))
        click.echo(summary.summary())

    _emit(summary.as_dict(), as_json, render)


def _dry_run(app: AppContext, as_json: bool) -> None:
    summary = drain_outbox(app.ready_engine(), None, app.settings, dry_run=True)
    _print_summary(summary, app.settings, as_json)


@click.group("outbox", invoke_without_command=True)
@click.option(
    "--status",
    "status",
    default=None,
    # Their values: given the StrEnum members, click would show and take their names.
    type=click.Choice([*(str(s) for s in STATUSES), "all"]),
    help="Only rows in this status (default: pending, sending, held and dead).",
)
@click.option("--limit", default=100, show_default=True, help="How many, oldest first.")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Every matching row as CSV (the JSON's columns)."
)
@dry_run_option
@json_option
@click.pass_context
def outbox(
    ctx: click.Context, status: str | None, limit: int, as_csv: bool, dry_run: bool, as_json: bool
) -> None:
    """List, show, retry and drain write-backs.

    Lists what waits for the shop by default; --dry-run prints the exact requests the next
    drain would send.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = _app(ctx)
    if dry_run:
        _dry_run(app, as_json)
        return
    engine = app.ready_engine()
    statuses = list(STATUSES) if status == "all" else [status] if status else None
    if as_csv:
        query = ListQuery(statuses=statuses, limit=1000)

        def fetch(offset: int) -> tuple[list[dict[str, Any]], int]:
            page = outbox_listing(engine, dataclasses.replace(query, offset=offset))
            return page.rows, page.total

        click.echo(csv_text(every_row(fetch), OUTBOX.listed), nl=False)
        return
    # The queue's listing, as the console's outbox page shows it.
    listed = outbox_listing(engine, ListQuery(statuses=statuses, limit=limit))
    rows, counts = listed.rows, listed.counts

    def render(data: dict[str, Any]) -> None:
        click.echo(
            "outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty")
        )
        if not data["rows"]:
            return
        cells = [
            [f"#{row['id']}", row["status"], row["target_key"], _state(row)] for row in data["rows"]
        ]
        lines = table(
            ["id", "status", "target", "state"], cells, right=[0], shrink=[2], indent="  "
        )
        click.echo(lines[0])
        for line, row in zip(lines[1:], data["rows"], strict=True):
            click.echo(line)
            if row["last_error"]:  # in full, under its row: cut short it says nothing
                for part in wrap(f"last error: {row['last_error']}", "      "):
                    click.echo(part)

    _emit({"counts": counts, "rows": rows}, as_json, render)


@outbox.command("show")
@click.argument("item_id", type=int)
@json_option
@click.pass_context
def outbox_show(ctx: click.Context, item_id: int, as_json: bool) -> None:
    """One write-back with its payload."""
    data = show_outbox_item(_app(ctx).ready_engine(), item_id)

    def render(data: dict[str, Any]) -> None:
        for key, value in data.items():
            click.echo(f"{key}: {show_value(value)}")

    _emit(data, as_json, render)


@outbox.command("retry")
@click.argument("item_id", type=int, required=False)
@click.option("--all", "all_dead", is_flag=True, help="Every dead-lettered write-back.")
@click.option("--all-dead", "all_dead", is_flag=True, hidden=True)  # the old spelling of --all
@json_option
@click.pass_context
def outbox_retry(ctx: click.Context, item_id: int | None, all_dead: bool, as_json: bool) -> None:
    """Make dead write-backs due again: one by its id, or --all.

    The next drain (`bridge outbox drain`, or the scheduler) sends them with fresh attempts.
    """
    if (item_id is None) == (not all_dead):
        raise click.UsageError("give one outbox row id or --all")
    changed = retry_outbox(_app(ctx).ready_engine(), item_id, all_dead=all_dead)
    audit_cli(
        _app(ctx),
        "outbox.retry",
        f"outbox:{item_id}" if item_id is not None else "outbox:dead",
        details={"retried": changed},
    )
    _emit(
        {"retried": changed},
        as_json,
        lambda data: click.echo(f"{plural(data['retried'], 'write-back')} due again"),
    )


@outbox.command("drain")
@dry_run_option
@json_option
@click.pass_context
def outbox_drain(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Send the due write-backs to the shop.

    Exit status 1 when the shop could not be reached, or when dead write-backs are left.
    """
    app = _app(ctx)
    if dry_run:
        _dry_run(app, as_json)
        return
    settings = app.settings
    if not settings.shop.configured:
        raise PermanentError(
            "the shop is not configured: set WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY and "
            "WOOCOMMERCE_CONSUMER_SECRET to drain the outbox (--dry-run works without them)"
        )
    from bridge.shop.client import WooClient

    engine = app.ready_engine()
    # A drain by hand is the outbox job's run, as `bridge sync outbox` is (the console says so).
    with manual_run(engine, "outbox", utcnow) as run:
        with WooClient(settings) as client, progress_display(enabled=not as_json) as progress:
            summary = drain_outbox(engine, client, settings, progress=progress("write-backs"))
        run.update(changed=summary.sent, dead=summary.dead, failed=summary.stopped or "")
    _print_summary(summary, settings, as_json)
    if summary.stopped:
        ctx.exit(1)
    dead = outbox_counts(engine).get(OutboxStatus.DEAD, 0)
    if dead:
        now = f", {summary.dead} of them in this drain" if summary.dead else ""
        raise PermanentError(
            f"{plural(dead, 'write-back')} {plural_form(dead, 'is')} dead{now}: `bridge "
            "outbox --status dead` says why; `bridge outbox retry --all` sends them again once "
            "the cause is fixed"
        )


@outbox.command("refresh")
@json_option
@click.pass_context
def outbox_refresh(ctx: click.Context, as_json: bool) -> None:
    """Queue stack upsells and cohort stock.

    From the current catalogue: each stack product's upsell and cross-sell links, and the
    stock of every cohort product. Values equal to what was last written are not queued.
    """
    from bridge.cli.catalog import file_catalogue
    from bridge.services.catalogue import load_catalogue

    app = _app(ctx)
    engine = app.ready_engine()
    catalogue = load_catalogue(engine, file_catalogue(app.settings, engine)[0])
    keys = refresh_catalogue_writebacks(engine, catalogue)
    _emit(
        {"queued": keys},
        as_json,
        lambda data: click.echo(
            f"{plural(len(data['queued']), 'write-back')} queued"
            + (": " + ", ".join(data["queued"]) if data["queued"] else "")
        ),
    )
