"""`bridge demo`: the whole product on the embedded default, with no shop.

A temporary SQLite database, the example catalogue shipped in the package, the sample shop's
products (as `bridge catalog sync` would store them), a real receiver on a free local port, and
signed, realistic deliveries sent to it over HTTP, as `bridge simulate` sends them. Each step
says what it granted.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bridge.cli.credentials import demo_pathway
from bridge.cli.deliveries.webhooks import post_delivery
from bridge.cli.output import credit_text, emit, json_option, plural, wrap
from bridge.logs import configure_logging
from bridge.rules.cohorts import SeatStatus
from bridge.rules.entitlements import OrderStatus
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.rules.periods import SubscriptionStatus
from bridge.services.catalogue import (
    read_catalogue_file,
    store_cohorts,
    store_offers,
    sync_catalogue,
)
from bridge.services.inbox import status_counts
from bridge.services.learners import (
    changes_since,
    learners_overview,
    queued_writebacks,
    take_snapshot,
)
from bridge.services.operations import (
    Line,
    SampleShop,
    example_catalogue_path,
    order_payload,
    subscription_payload,
)
from bridge.settings import Settings
from bridge.store.db import make_engine, unit_of_work, upgrade
from bridge.store.models import utcnow

# The sample shop's prices (bridge/data/sample_products.json).
PRICES = {
    "MENTOR-PACK-3H": 170.0,
    "COHORT-DV-2027-01": 390.0,
    "PREVIEW-DV": 0.0,
    "SUB-MENTOR-MONTHLY": 79.0,
    "PROJ-DATAVIZ": 149.0,
    "ASSESS-DV": 49.0,
}
SUBSCRIPTION_ID = 500


@dataclass(frozen=True)
class Step:
    """One thing a learner does, and the delivery the shop sends for it."""

    narration: str
    topic: str
    email: str
    resource_id: int
    lines: list[Line] = field(default_factory=list)
    status: str = OrderStatus.PROCESSING
    customer_id: int = 0
    renewal_of: int | None = None


def script() -> list[Step]:
    """The demo's story, in the order it plays."""
    seat = [Line("COHORT-DV-2027-01", 1, PRICES["COHORT-DV-2027-01"])]
    steps = [
        Step(
            "Gina takes the free cohort preview",
            "order.created",
            "gina@example.com",
            101,
            [Line("PREVIEW-DV", 1, 0.0)],
        ),
        Step(
            "Alice buys a 3-hour mentor pack",
            "order.created",
            "alice@example.com",
            102,
            [Line("MENTOR-PACK-3H", 1, PRICES["MENTOR-PACK-3H"])],
        ),
    ]
    for order_id, name in zip(
        range(103, 108), ("alice", "bob", "cara", "dan", "erin"), strict=True
    ):
        steps.append(
            Step(
                f"{name.title()} buys a seat in cohort DV-2027-01 (capacity 3)",
                "order.created",
                f"{name}@example.com",
                order_id,
                seat,
            )
        )
    subscription = [Line("SUB-MENTOR-MONTHLY", 1, PRICES["SUB-MENTOR-MONTHLY"])]
    steps += [
        Step(
            "Bob's seat is refunded: the first waitlisted learner moves up",
            "order.updated",
            "bob@example.com",
            104,
            seat,
            status=OrderStatus.REFUNDED,
        ),
        Step(
            "Frank pays for monthly mentoring",
            "order.created",
            "frank@example.com",
            108,
            subscription,
            customer_id=42,
        ),
        Step(
            "WooCommerce Subscriptions creates his subscription",
            "subscription.created",
            "frank@example.com",
            SUBSCRIPTION_ID,
            subscription,
            status=SubscriptionStatus.ACTIVE,
            customer_id=42,
        ),
        Step(
            "Frank's subscription renews a month later",
            "order.created",
            "frank@example.com",
            109,
            subscription,
            customer_id=42,
            renewal_of=SUBSCRIPTION_ID,
        ),
        Step(
            "Hana buys the data-viz project and its assessment: the steps of a pathway",
            "order.created",
            "hana@example.com",
            110,
            [
                Line("PROJ-DATAVIZ", 1, PRICES["PROJ-DATAVIZ"]),
                Line("ASSESS-DV", 1, PRICES["ASSESS-DV"]),
            ],
        ),
    ]
    return steps


def _payload(step: Step, when: datetime, start: datetime) -> dict[str, Any]:
    if step.topic.startswith("subscription."):
        return subscription_payload(
            step.resource_id,
            step.lines,
            email=step.email,
            status=step.status,
            now=when,
            start=start,
            parent_order_id=108,
            customer_id=step.customer_id,
            order_ids=[109],
        )
    return order_payload(
        step.resource_id,
        step.lines,
        email=step.email,
        status=step.status,
        now=when,
        created=start,
        customer_id=step.customer_id,
        renewal_of=step.renewal_of,
    )


def describe_change(change: dict[str, Any]) -> str:
    """One change for people: "+3 h of mentor time (Mentor hour pack, 3 hours)"."""
    kind = change["kind"]
    if kind == "credit":
        amount = change["amount"]
        text = ("+" if amount > 0 else "-") + credit_text(abs(amount), change["credit_type"])
        if change["reason"] == "complimentary":
            return text + " (complimentary first mentor call)"
        if change["reason"] == "reversal":
            return text + " (reversed)"
        return text + (f" ({change['offer']})" if change["offer"] else "")
    if kind == "seat":
        cohort, status, was = change["cohort"], change["status"], change["was"]
        if status == SeatStatus.ACTIVE:
            return (
                f"moves up into a seat in {cohort}"
                if was == SeatStatus.WAITLISTED
                else f"a seat in {cohort}"
            )
        if status == SeatStatus.WAITLISTED:
            return f"on the {cohort} waitlist (full)"
        return f"seat in {cohort} released"
    if kind == "access":
        until = f" until {change['ends_at'][:10]}" if change["ends_at"] else ""
        return f"{change['access']} access to {change['offer_sku']}{until}"
    if kind == "coupon":
        off = f"{change['amount']}%" if change["discount_type"] == "percent" else change["amount"]
        until = f", until {change['expires_at'][:10]}" if change["expires_at"] else ""
        return f"coupon {change['code']}: {off} off {', '.join(change['offers'])}{until}"
    if kind == "subscription":
        perks = ", ".join(change["perks"]) or "no perks"
        return f"subscription #{change['id']} {change['status']}, perks: {perks}"
    return kind


def narrate(changes: list[dict[str, Any]]) -> list[str]:
    """The changes of one step, one line per learner."""
    by_learner: dict[str, list[str]] = {}
    for change in changes:
        by_learner.setdefault(change["learner"], []).append(describe_change(change))
    return [f"{email.split('@')[0]}: {'; '.join(parts)}" for email, parts in by_learner.items()]


@contextmanager
def local_receiver(settings: Settings, engine: Any) -> Iterator[str]:
    """The real Flask receiver on a free loopback port, for as long as the block runs."""
    from werkzeug.serving import make_server

    from webhooks import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = make_server("127.0.0.1", 0, create_app(settings, engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/woocommerce"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _wait_until_processed(engine: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not status_counts(engine).get(DeliveryStatus.RECEIVED):
            return
        time.sleep(0.05)


def run_demo(echo: Callable[[str], None] = click.echo) -> dict[str, Any]:
    """Play the demo; return each step's changes, what each learner holds and the write-backs."""
    catalogue_path = example_catalogue_path()
    with tempfile.TemporaryDirectory(prefix="creator-bridge-demo-") as tmp:
        start = utcnow() - timedelta(hours=1)
        # The story starts an hour ago, with the bridge already watching: its orders are news.
        settings = Settings().replace(
            database={"url": f"sqlite:///{Path(tmp) / 'demo.db'}"},
            catalogue={"file": catalogue_path},
            shop={"webhook_secret": secrets.token_urlsafe(16)},
            sync={"enabled": False},
            writeback={"notify_since": start - timedelta(minutes=1)},
            web={"public_url": "http://127.0.0.1:8000"},
            credentials={"key_file": Path(tmp) / "credential-signing-key.pem"},
        )
        engine = make_engine(settings.database.url)
        try:
            upgrade(engine)
            file_catalogue = read_catalogue_file(catalogue_path)
            with unit_of_work(engine) as session:
                store_cohorts(session, file_catalogue)
                store_offers(session, file_catalogue)
                session.commit()
            shop = SampleShop()
            synced = sync_catalogue(engine, shop, file_catalogue)
            offers = plural(len(file_catalogue.offers), "micro-SKU")
            products = plural(synced.products + synced.variations, "product")
            for line in wrap(
                f"catalogue: the example catalogue, {offers}, bound to the sample "
                f"shop's {products} (as `bridge catalog sync` would); database: a "
                "temporary SQLite file"
            ):
                echo(line)
            steps_out: list[dict[str, Any]] = []
            with local_receiver(settings, engine) as url:
                echo(f"receiver listening at {url}\n")
                for number, step in enumerate(script(), start=1):
                    before = take_snapshot(engine)
                    payload = _payload(step, start + timedelta(minutes=number), start)
                    answer = post_delivery(
                        url, step.topic, payload, settings.shop.webhook_secret or ""
                    )
                    _wait_until_processed(engine)
                    changes = changes_since(engine, before)
                    echo(f"{number:>2}. {step.narration} ({step.topic} #{step.resource_id})")
                    for line in narrate(changes) or ["nothing changes"]:
                        for part in wrap(line, "      "):
                            echo(part)
                    steps_out.append(
                        {
                            "step": step.narration,
                            "topic": step.topic,
                            "resource_id": step.resource_id,
                            "receiver": answer.get("status"),
                            "changes": changes,
                        }
                    )
                echo("\nThe skill stack ([pathways] in the catalogue): Hana's outcomes come in")
                pathway = demo_pathway(engine, settings, echo, f"{utcnow():%Y-%m-%dT%H:%M:%SZ}")
            learners = learners_overview(engine)
            summary = {
                "pathway": pathway,
                "steps": steps_out,
                "learners": learners,
                "writebacks": queued_writebacks(engine),
                "inbox": status_counts(engine),
            }
        finally:
            engine.dispose()
    return summary


def _holdings(data: dict[str, Any]) -> str:
    parts = [
        ", ".join(credit_text(amount, kind) for kind, amount in data["balances"].items() if amount)
    ]
    seats = ", ".join(
        f"{s['cohort']} {s['status']}" + (f" #{s['position']}" if s["position"] else "")
        for s in data["seats"]
    )
    parts.append(seats and f"seat: {seats}")
    access = ", ".join(
        f"{a['kind']} {a['offer_sku']}" for a in data["access"] if not a["revoked_at"]
    )
    parts.append(access and f"access: {access}")
    for sub in data["subscriptions"]:
        perks = ", ".join(sub["perks"]) or "no perks"
        parts.append(f"subscription #{sub['id']} {sub['status']} (perks: {perks})")
    coupons = ", ".join(c["code"] for c in data.get("coupons") or [])
    parts.append(coupons and f"coupon: {coupons}")
    return "; ".join(p for p in parts if p) or "nothing"


def render_summary(summary: dict[str, Any]) -> None:
    """What each learner holds, and what would go back to the shop."""
    click.echo("\nWhat each learner holds now (`bridge learner EMAIL` shows one in full):")
    for email, data in summary["learners"].items():
        for line in wrap(f"{email:<18} {_holdings(data)}", "  ", hanging=" " * 19):
            click.echo(line)
    writebacks = summary["writebacks"]
    click.echo(
        f"\nWhat would be written back to WooCommerce ({plural(len(writebacks), 'change')}, "
        "sent in batches once a shop is set up):"
    )
    counts: dict[tuple[str, str], int] = {}
    for item in writebacks:
        key = (item["resource"], item["operation"])
        counts[key] = counts.get(key, 0) + 1
    for (resource, operation), n in sorted(counts.items()):
        click.echo(f"  {resource.replace('_', ' ')} {operation}: {n}")
    notes = [item for item in writebacks if item["resource"] == "order_note"]
    if notes:
        click.echo("  the order notes, as the shop will show them:")
    for item in notes:
        text = str((item["payload"] or {}).get("data", {}).get("note", ""))
        for line in wrap(f"order #{item['target_id']}: {text.split(' [bridge:')[0]}", "    "):
            click.echo(line)
    click.echo(
        "\nTry it yourself: `bridge serve` in one terminal, then in another:\n"
        "  bridge simulate order --sku MENTOR-1H --price 60 --email you@example.com"
    )


@click.command("demo")
@json_option
def demo(as_json: bool) -> None:
    """Play the whole product on a throw-away database.

    No shop and nothing to configure: a temporary SQLite file, the example catalogue and the
    sample shop's products, a real receiver on a local port and signed, simulated purchases,
    a refund, a subscription and its renewal. Each step says what it granted.
    """
    # The demo narrates for itself; the service's own logs would only drown that out.
    configure_logging("ERROR")
    quiet = (lambda _text: None) if as_json else click.echo
    summary = run_demo(echo=quiet)
    emit(summary, as_json, render_summary)
