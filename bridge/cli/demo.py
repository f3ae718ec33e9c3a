"""`bridge demo`: the whole product on the embedded default, with no shop.

A temporary SQLite database, the example catalogue, a real receiver on a free local port, and
signed, realistic deliveries sent to it over HTTP, as `bridge simulate` sends them.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from sqlmodel import col, select

from bridge.cli.context import emit
from bridge.cli.webhooks import post_delivery
from bridge.errors import PermanentError
from bridge.logs import configure_logging
from bridge.services.catalogue import read_catalogue_file, store_cohorts, store_offers
from bridge.services.inbox import status_counts
from bridge.services.learner_view import describe_learner
from bridge.services.ledger import find_learner
from bridge.services.simulation import Line, order_payload
from bridge.settings import Settings
from bridge.store.db import make_engine, unit_of_work, upgrade
from bridge.store.models import Learner, OutboxItem, utcnow

# (who, what they do) in the order the demo plays it; prices are the sample shop's.
PRICES = {"MENTOR-PACK-3H": 170.0, "COHORT-DV-2027-01": 390.0, "PREVIEW-DV": 0.0,
          "SUB-MENTOR-MONTHLY": 79.0, "PROJ-DATAVIZ": 149.0}


def find_example_catalogue() -> Path:
    """catalog.example.toml from the working directory or the source checkout."""
    for candidate in (Path.cwd() / "catalog.example.toml",
                      Path(__file__).resolve().parents[2] / "catalog.example.toml"):
        if candidate.is_file():
            return candidate
    raise PermanentError("catalog.example.toml not found; run `bridge demo` from the "
                         "creator-bridge checkout")


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
        if not status_counts(engine).get("received"):
            return
        time.sleep(0.05)


def _script() -> list[tuple[str, str, str, int, dict[str, Any]]]:
    """(narration, topic, e-mail, order id, order options)."""
    seat = [Line("COHORT-DV-2027-01", 1, PRICES["COHORT-DV-2027-01"])]
    steps: list[tuple[str, str, str, int, dict[str, Any]]] = [
        ("Gina takes the free cohort preview", "order.created", "gina@example.com", 101,
         {"lines": [Line("PREVIEW-DV", 1, 0.0)]}),
        ("Alice buys a 3-hour mentor pack", "order.created", "alice@example.com", 102,
         {"lines": [Line("MENTOR-PACK-3H", 1, PRICES["MENTOR-PACK-3H"])]}),
    ]
    for order_id, name in zip(range(103, 108), ("alice", "bob", "cara", "dan", "erin"),
                              strict=True):
        steps.append((f"{name.title()} buys a seat in cohort DV-2027-01 (capacity 3)",
                      "order.created", f"{name}@example.com", order_id, {"lines": seat}))
    steps += [
        ("Bob's seat is refunded: the first waitlisted learner moves up", "order.updated",
         "bob@example.com", 104, {"lines": seat, "status": "refunded"}),
        ("Frank subscribes to monthly mentoring", "order.created", "frank@example.com", 108,
         {"lines": [Line("SUB-MENTOR-MONTHLY", 1, 79.0)], "customer_id": 42}),
        ("Frank's subscription renews a month later", "order.created", "frank@example.com", 109,
         {"lines": [Line("SUB-MENTOR-MONTHLY", 1, 79.0)], "customer_id": 42,
          "renewal_of": 500}),
    ]
    return steps


def run_demo(echo: Any = click.echo) -> dict[str, Any]:
    """Play the demo and return what each learner got and what would be written back."""
    catalogue_path = find_example_catalogue()
    with tempfile.TemporaryDirectory(prefix="creator-bridge-demo-") as tmp:
        start = utcnow() - timedelta(hours=1)
        # The story starts an hour ago, with the bridge already watching: its orders are news.
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'demo.db'}",
                            catalog_file=catalogue_path, webhook_secret=secrets.token_urlsafe(16),
                            sync_enabled=False, notify_since=start - timedelta(minutes=1))
        engine = make_engine(settings.database_url)
        try:
            upgrade(engine)
            file_catalogue = read_catalogue_file(catalogue_path)
            with unit_of_work(engine) as session:
                store_cohorts(session, file_catalogue)
                store_offers(session, file_catalogue)
                session.commit()
            echo(f"catalogue: {catalogue_path.name}, {len(file_catalogue.offers)} micro-SKUs; "
                 f"database: a temporary SQLite file")
            with local_receiver(settings, engine) as url:
                echo(f"receiver listening at {url}\n")
                for step, (narration, topic, email, order_id, options) in enumerate(_script()):
                    when = start + timedelta(minutes=step)
                    lines = options.pop("lines")
                    status = options.pop("status", "processing")
                    payload = order_payload(order_id, lines, email=email, status=status,
                                            now=when, created=start, **options)
                    answer = post_delivery(url, topic, payload, settings.webhook_secret or "")
                    _wait_until_processed(engine)
                    echo(f"- {narration}: {topic} #{order_id} -> {answer.get('status')}")
            summary = _summary(engine)
        finally:
            engine.dispose()
    return summary


def _summary(engine: Any) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        learners = {}
        for row in session.exec(select(Learner).order_by(col(Learner.id))).all():
            found = find_learner(session, row.email)
            assert found is not None
            learners[row.email] = describe_learner(session, found)
        writebacks = [
            {"resource": item.resource, "operation": item.operation,
             "target_id": item.target_id, "status": item.status, "payload": item.payload}
            for item in session.exec(select(OutboxItem).order_by(col(OutboxItem.id))).all()
        ]
    return {"learners": learners, "writebacks": writebacks, "inbox": status_counts(engine)}


def render_summary(summary: dict[str, Any]) -> None:
    click.echo("\nWhat each learner holds now:")
    for email, data in summary["learners"].items():
        credits = ", ".join(f"{amount} {kind}" for kind, amount in data["balances"].items())
        seats = ", ".join(
            f"{s['cohort']} {s['status']}" + (f" #{s['position']}" if s["position"] else "")
            for s in data["seats"])
        access = ", ".join(f"{a['kind']} {a['offer_sku']}" for a in data["access"]
                           if not a["revoked_at"])
        parts = [p for p in (credits, seats and f"seat: {seats}",
                             access and f"access: {access}") if p]
        click.echo(f"  {email:<20} " + ("; ".join(parts) or "nothing"))
    writebacks = summary["writebacks"]
    click.echo(f"\nWhat would be written back to WooCommerce ({len(writebacks)} queued "
               "changes, sent in batches once a shop is configured):")
    counts: dict[tuple[str, str], int] = {}
    for item in writebacks:
        key = (item["resource"], item["operation"])
        counts[key] = counts.get(key, 0) + 1
    for (resource, operation), n in sorted(counts.items()):
        click.echo(f"  {resource} {operation}: {n}")
    notes = [item for item in writebacks if item["resource"] == "order_note"]
    if notes:
        click.echo("  the order notes, as the shop will show them:")
    for item in notes:
        text = str((item["payload"] or {}).get("data", {}).get("note", ""))
        click.echo(f"    order #{item['target_id']}: {text.split(' [bridge:')[0][:100]}")
    click.echo("\nTry it yourself: `bridge serve`, then `bridge simulate order --sku MENTOR-1H "
               "--email you@example.com`.")


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(as_json: bool) -> None:
    """Play the whole product on a throw-away database.

    No shop and nothing to configure: a temporary SQLite file, the example catalogue, a real
    receiver on a local port and signed, simulated purchases.
    """
    # The demo narrates for itself; the service's own logs (and the demo shop's unknown
    # prices, as it has no products to sync) would only drown that out.
    configure_logging("ERROR")
    quiet = (lambda *_args, **_kw: None) if as_json else click.echo
    summary = run_demo(echo=quiet)
    emit(summary, as_json, render_summary)
