"""`bridge webhooks`, `bridge inbox`, `bridge simulate` and `bridge demo`."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import click
import requests

from bridge.cli.audited import audit_cli
from bridge.cli.context import AppContext, emit, json_option
from bridge.cli.deliveries.work import (
    WORK_HELP,
    max_seconds_option,
    once_option,
    poll_option,
    run_worker,
)
from bridge.cli.output import plural, show_value, table, usage_error
from bridge.errors import PermanentError
from bridge.rules.entitlements import OrderStatus
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.rules.listing import csv_text, every_row
from bridge.rules.words import did_you_mean
from bridge.services.inbox import STATUSES, inbox_listing, retry_now, show_delivery
from bridge.services.operations import Line, order_payload, signed_delivery
from bridge.services.queue import ListQuery
from bridge.store.models import utcnow


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def _emit(data: Any, as_json: bool, render: Any) -> None:
    emit(data, as_json, render)


def _require(value: str | None, variable: str, example: str) -> str:
    if not value:
        raise PermanentError(f"{variable} is not set; for example {variable}={example}")
    return value


def _shop_client(app: AppContext) -> Any:
    from bridge.shop.client import WooClient

    settings = app.settings
    _require(settings.shop.url, "WOOCOMMERCE_URL", "https://shop.example.com")
    return WooClient(settings)


# --- webhooks ---------------------------------------------------------------------------------


@click.group("webhooks", invoke_without_command=True)
@json_option
@click.pass_context
def webhooks(ctx: click.Context, as_json: bool) -> None:
    """Install or check the shop's webhooks.

    Without a command: the shop's webhooks and their status (`bridge webhooks status`).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(webhooks_status, repair=False, as_json=as_json)


@webhooks.command("install")
@json_option
@click.pass_context
def webhooks_install(ctx: click.Context, as_json: bool) -> None:
    """Create or repair the webhooks the bridge needs (idempotent)."""
    from bridge.shop.webhooks import delivery_url, install_webhooks

    app = _app(ctx)
    public_url = _require(
        app.settings.web.public_url, "BRIDGE_PUBLIC_URL", "https://bridge.example.com"
    )
    secret = _require(
        app.settings.shop.webhook_secret, "WOOCOMMERCE_WEBHOOK_SECRET", "a-long-random-string"
    )
    client = _shop_client(app)
    try:
        actions = install_webhooks(client, public_url, secret)
    finally:
        client.close()
    data = [vars(action) for action in actions]

    def render(rows: list[dict[str, Any]]) -> None:
        click.echo(f"webhooks delivering to {delivery_url(public_url)}:")
        for row in rows:
            click.echo(f"  {row['topic']:<22} {row['action']:<9} id {row['webhook_id']}")

    _emit(data, as_json, render)


@webhooks.command("status")
@click.option("--repair", is_flag=True, help="Re-enable the bridge's disabled or paused webhooks.")
@json_option
@click.pass_context
def webhooks_status(ctx: click.Context, repair: bool, as_json: bool) -> None:
    """List the shop's webhooks, flag disabled ones."""
    from bridge.shop.webhooks import webhook_status

    app = _app(ctx)
    client = _shop_client(app)
    try:
        rows = webhook_status(client, app.settings.web.public_url, repair=repair)
    finally:
        client.close()

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("the shop has no webhooks; run `bridge webhooks install`")
        for row in rows:
            flag = (
                " <- " + ("re-enabled" if row["repaired"] else row["status"].upper())
                if row["problem"]
                else ""
            )
            mine = "bridge" if row["ours"] else "other "
            click.echo(f"  #{row['id']:<5} {mine} {row['topic']:<22} {row['status']:<9}{flag}")
        if any(r["problem"] and r["ours"] and not r["repaired"] for r in rows):
            click.echo("run `bridge webhooks status --repair` to re-enable them")

    _emit(rows, as_json, render)
    if any(r["problem"] and r["ours"] and not r["repaired"] for r in rows):
        ctx.exit(1)


# --- inbox ------------------------------------------------------------------------------------


def _delivery_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A delivery as the queue lists it, its times as ISO strings (the JSON scripts read)."""
    shown = {key: row[key] for key in INBOX_COLUMNS}
    for key in ("received_at", "next_attempt_at"):
        shown[key] = row[key].isoformat() if row[key] is not None else None
    return shown


# What `bridge inbox` shows of each delivery (the console shows the same listing).
INBOX_COLUMNS = (
    "id",
    "topic",
    "resource_id",
    "status",
    "attempts",
    "last_error",
    "received_at",
    "next_attempt_at",
    "delivery_id",
)


@click.group("inbox", invoke_without_command=True)
# Their values: given the StrEnum members, click would show and take their names.
@click.option(
    "--status",
    "status",
    default=None,
    type=click.Choice([str(s) for s in STATUSES]),
    help="Only deliveries in this status.",
)
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option(
    "--csv", "as_csv", is_flag=True, help="Every matching delivery as CSV (JSON's columns)."
)
@json_option
@click.pass_context
def inbox(ctx: click.Context, status: str | None, limit: int, as_csv: bool, as_json: bool) -> None:
    """List, show and retry webhook deliveries."""
    if ctx.invoked_subcommand is not None:
        return
    engine = _app(ctx).ready_engine()
    if as_csv:
        wanted = ListQuery(statuses=[status] if status else None, limit=1000)

        def fetch(offset: int) -> tuple[list[dict[str, Any]], int]:
            page = inbox_listing(engine, dataclasses.replace(wanted, offset=offset))
            return [_delivery_summary(row) for row in page.rows], page.total

        click.echo(csv_text(every_row(fetch), INBOX_COLUMNS), nl=False)
        return
    listed = inbox_listing(engine, ListQuery(statuses=[status] if status else None, limit=limit))
    rows = [_delivery_summary(row) for row in listed.rows]
    counts = listed.counts

    def render(data: dict[str, Any]) -> None:
        click.echo(
            "inbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty")
        )
        if not data["deliveries"]:
            return
        cells = [
            [
                f"#{row['id']}",
                row["status"],
                row["topic"],
                row["resource_id"],
                row["received_at"][:16].replace("T", " "),
                ""
                if row["status"] == DeliveryStatus.PROCESSED
                else plural(row["attempts"], "try", "tries"),
                row["last_error"] or "",
            ]
            for row in data["deliveries"]
        ]
        for line in table(
            ["id", "status", "topic", "resource", "received", "attempts", "last error"],
            cells,
            right=[0, 3],
            shrink=[6, 2],
            indent="  ",
        ):
            click.echo(line)

    _emit({"counts": counts, "deliveries": rows}, as_json, render)


@inbox.command("show")
@click.argument("inbox_id", type=int)
@click.option("--body", is_flag=True, help="Also print the raw body (contains personal data).")
@json_option
@click.pass_context
def inbox_show(ctx: click.Context, inbox_id: int, body: bool, as_json: bool) -> None:
    """One delivery with its headers and error."""
    engine = _app(ctx).ready_engine()
    shown = show_delivery(engine, inbox_id, all_headers=True, parsed_body=True)
    data = _delivery_summary(shown) | {
        "headers": shown["headers"],
        "business_key": shown["business_key"],
    }
    if body:  # a delivery's body is JSON (WooCommerce's): shown as JSON, not as text
        data["body"] = shown["body"]

    def render(data: dict[str, Any]) -> None:
        for key, value in data.items():
            click.echo(f"{key}: {show_value(value)}")

    _emit(data, as_json, render)


@inbox.command("retry")
@click.argument("inbox_id", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Every failed delivery.")
@json_option
@click.pass_context
def inbox_retry(ctx: click.Context, inbox_id: int | None, retry_all: bool, as_json: bool) -> None:
    """Process a delivery by its id, or every failed one, again now.

    A dead or rejected delivery is retried by its id once its cause is fixed (for example
    BRIDGE_MAX_LINE_QUANTITY raised). Exit status 1 when one fails again.
    """
    from bridge.services.inbox import InboxDrain
    from bridge.services.orders import build_handlers

    if (inbox_id is None) == (not retry_all):
        raise click.UsageError("give one delivery id or --all")
    app = _app(ctx)
    engine = app.ready_engine()
    made_due = retry_now(engine, inbox_id)
    if inbox_id is not None and not made_due:
        raise PermanentError(f"delivery #{inbox_id} is not failed, dead or rejected")
    audit_cli(
        app,
        "inbox.retry",
        f"inbox:{inbox_id}" if inbox_id is not None else "inbox:failed",
        details={"made_due": made_due},
    )
    results: dict[str, int] = {}

    def tally(finals: Mapping[int, str]) -> None:
        for status in finals.values():
            results[status] = results.get(status, 0) + 1

    # The same batch drain as the worker's: what is due now (or this delivery), claimed first.
    InboxDrain(
        engine,
        build_handlers(engine, app.settings),
        max_attempts=app.settings.inbox.max_attempts,
        max_quantity=app.settings.orders.max_line_quantity,
        on_batch=tally,
        only=[inbox_id] if inbox_id is not None else None,
    )()
    _emit(
        {"retried": results},
        as_json,
        lambda data: click.echo(
            "retried: "
            + (
                ", ".join(f"{n} {s}" for s, n in sorted(data["retried"].items()))
                or "nothing was due"
            )
        ),
    )
    if results.get(DeliveryStatus.FAILED) or results.get(DeliveryStatus.DEAD):
        ctx.exit(1)


# --- simulate ---------------------------------------------------------------------------------

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def _known_skus(app: AppContext, skus: tuple[str, ...]) -> None:
    """Refuse a SKU the catalogue neither sells nor marks as no offer: a typo, said so."""
    from bridge.cli.credentials import catalogue_loader

    catalogue = catalogue_loader(app)()
    known = {*catalogue.offers, *catalogue.not_offers}
    for sku in skus:
        if sku not in known:
            hint = did_you_mean(sku, known)
            raise PermanentError(
                f"no micro-SKU {sku!r} in the catalogue; "
                f"{hint or '`bridge catalog` lists them'} (--unmapped sends "
                "it anyway, as a line that sells no micro-SKU)"
            )


def post_delivery(url: str, topic: str, payload: Any, secret: str) -> dict[str, Any]:
    """Send one signed delivery to a running receiver; returns its JSON answer."""
    delivery = signed_delivery(topic, payload, secret)
    try:
        response = requests.post(url, data=delivery.body, headers=delivery.headers, timeout=30)
    except requests.RequestException as exc:
        raise PermanentError(
            f"no receiver at {url} ({type(exc).__name__}); start it with `bridge serve`"
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:200]}
    if response.status_code != 200:
        raise PermanentError(
            f"receiver answered {response.status_code}: {answer.get('error', answer)}"
        )
    return answer


@click.command("simulate")
@click.argument("event", type=click.Choice(["order", "refund", "cancel", "renewal"]))
@click.option("--sku", "skus", multiple=True, required=True, help="SKU bought (repeatable).")
@click.option("--email", required=True, help="The buyer's e-mail.")
@click.option(
    "--name",
    default=None,
    help="The buyer's name (default: from the e-mail, bo.lindqvist@... is Bo Lindqvist).",
)
@click.option(
    "--quantity",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Units of each SKU (1 or more).",
)
@click.option(
    "--price",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Unit price the report counts (the sample shop's: MENTOR-1H 60, "
    "MENTOR-PACK-3H 170, COHORT-DV-2027-01 390, SUB-MENTOR-MONTHLY 79).",
)
@click.option("--order-id", type=int, default=None, help="Order id (default: new).")
@click.option("--customer-id", type=int, default=0, show_default=True, help="0 = guest.")
@click.option(
    "--status",
    default=OrderStatus.PROCESSING.value,
    show_default=True,
    type=click.Choice([s.value for s in OrderStatus]),
    help="Order status for `order`.",
)
@click.option("--subscription-id", type=int, default=None, help="For `renewal`.")
@click.option(
    "--url",
    default="http://127.0.0.1:8000/webhooks/woocommerce",
    show_default=True,
    help="The receiver to send to.",
)
@click.option(
    "--unmapped",
    is_flag=True,
    help="Send a SKU the catalogue does not know (a line that sells no micro-SKU) "
    "instead of refusing it as a typo.",
)
@json_option
@click.pass_context
def simulate(
    ctx: click.Context,
    event: str,
    skus: tuple[str, ...],
    email: str,
    name: str | None,
    quantity: int,
    price: float,
    order_id: int | None,
    customer_id: int,
    status: str,
    subscription_id: int | None,
    url: str,
    unmapped: bool,
    as_json: bool,
) -> None:
    """Send a signed test delivery to a receiver.

    EVENT is an order, its refund or cancellation (same --order-id), or a subscription
    renewal; the body is shaped and signed exactly as WooCommerce sends it, and marked as
    simulated (meta _bridge_simulated): the bridge grants as for any order but writes nothing
    about it to a shop.
    """
    if not EMAIL.fullmatch(email.strip()):
        raise usage_error(f"{email!r} is not an e-mail address", "--email")
    app = _app(ctx)
    secret = _require(
        app.settings.shop.webhook_secret, "WOOCOMMERCE_WEBHOOK_SECRET", "the secret in .env"
    )
    if event in ("refund", "cancel") and order_id is None:
        raise click.UsageError(f"`{event}` needs the --order-id of the order to {event}")
    if event == "renewal" and subscription_id is None:
        raise click.UsageError("`renewal` needs --subscription-id")
    if not unmapped:
        _known_skus(app, skus)
    order_id = order_id or int(time.time() * 1000) % 1_000_000_000
    now = utcnow()
    state = {
        "order": status,
        "refund": OrderStatus.REFUNDED,
        "cancel": OrderStatus.CANCELLED,
        "renewal": OrderStatus.PROCESSING,
    }[event]
    created = now - timedelta(minutes=1) if event in ("refund", "cancel") else now
    payload = order_payload(
        order_id,
        [Line(sku, quantity, price) for sku in skus],
        email=email,
        status=state,
        now=now,
        created=created,
        customer_id=customer_id,
        renewal_of=subscription_id if event == "renewal" else None,
        name=name,
        simulated=True,
    )
    topic = "order.created" if event in ("order", "renewal") else "order.updated"
    answer = post_delivery(url, topic, payload, secret)
    data = {"topic": topic, "order_id": order_id, "order_status": state, "receiver": answer}
    _emit(
        data,
        as_json,
        lambda d: click.echo(
            f"sent {topic} for order {order_id} ({state}, marked simulated: nothing about it goes "
            f"to a shop): receiver says {answer.get('status')} (inbox #{answer.get('inbox_id')}); "
            f"`bridge learner {email.strip()}` shows the result"
        ),
    )


@inbox.command("work", help=WORK_HELP, short_help="The same as `bridge work`.")
@poll_option
@max_seconds_option
@once_option
@click.pass_context
def inbox_work(ctx: click.Context, poll: float, max_seconds: float | None, once: bool) -> None:
    run_worker(_app(ctx), poll, max_seconds, once)
