"""A live shop with history: what a first install, a dry run and a rebuild tell customers.

Against bench/fake_shop.py (which keeps the notes and coupons it is sent and refuses a coupon
code it has), with the `bridge` command as a creator runs it:

1. first install over a year of 2025 orders: `bridge init`, `bridge sync catalog`,
   `bridge sync orders --full`, `bridge sync outbox` -> customer notes and coupons created;
2. on a fresh database, `bridge sync orders --full --dry-run --json` against the real run's
   figures (orders compete for the 3 seats of the sample cohort);
3. the database deleted and rebuilt (`bridge db upgrade`, sync catalog, orders --full, outbox)
   -> notes posted, coupons created, learners' balances and seats before and after;
4. the same rebuild on a shop whose recent orders the bridge told customers about
   (BRIDGE_NOTIFY_SINCE before them), even with `--notify`: the notes and coupons are in the
   shop already, so nothing is posted or created again.

    python -m bench.live_shop --orders 300 --databases sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import FakeShop, bridge, bridge_env, database, job_json, log, save, scratch_dir

FIGURES = (
    "fetched",
    "changed",
    "grants",
    "reversals",
    "seats",
    "waitlisted",
    "writebacks",
    "notified",
    "requests",
)


def holdings(database_url: str) -> dict[str, Any]:
    """Balances by e-mail and seats (e-mail, order, status) in claim order: no local ids."""
    from sqlmodel import col, select

    from bridge.services.ledger import balances
    from bridge.store.db import make_engine, unit_of_work
    from bridge.store.models import Learner, Seat

    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            learners = session.exec(select(Learner).order_by(col(Learner.email))).all()
            emails = {learner.id: learner.email for learner in learners}
            held = {learner.email: balances(session, learner.id) for learner in learners}  # type: ignore[arg-type]
            seats = [
                (emails[s.learner_id], s.order_id, s.status)
                for s in session.exec(select(Seat).order_by(col(Seat.id))).all()
            ]
    finally:
        engine.dispose()
    return {"balances": held, "seats": seats}


def written(shop: FakeShop) -> dict[str, int]:
    stats = shop.stats()
    return {
        "notes": stats["notes"],
        "customer_notes": stats["customer_notes"],
        "customers_emailed": stats["customers_emailed"],
        "coupons": stats["coupons"],
        "note_posts": stats["requests"].get("POST orders/<id>/notes", 0),
        "coupon_batches": stats["requests"].get("POST coupons/batch", 0),
    }


def sync(env: dict[str, str], cwd: str, *args: str) -> dict[str, Any]:
    return job_json(bridge(["sync", *args, "--json"], env, cwd=cwd, timeout=1800))


def wipe(database_url: str) -> None:
    """The database is lost: every table dropped (SQLite: the file deleted)."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def rebuild(env: dict[str, str], cwd: str, *notify: str) -> dict[str, Any]:
    bridge(["db", "upgrade"], env, cwd=cwd)
    sync(env, cwd, "catalog")
    orders = sync(env, cwd, "orders", "--full", *notify)
    outbox = sync(env, cwd, "outbox")
    return {"orders": orders, "outbox": outbox}


def one_database(kind: str, orders: int) -> dict[str, Any]:
    result: dict[str, Any] = {"database": kind}
    history = ("--start", "2025-01-01T00:00:00", "--step-seconds", str(365 * 86400 // orders))
    with FakeShop(
        orders, cohort_every=20, refund_every=15, max_seconds=1800, extra=history
    ) as shop:
        with database(kind, "live1") as url:
            cwd = scratch_dir("bench-live-")
            env = bridge_env(url, shop.url)
            bridge(["init", "--path", os.path.join(cwd, ".env")], env, cwd=cwd)
            sync(env, cwd, "catalog")
            first = {
                "orders": sync(env, cwd, "orders", "--full"),
                "outbox": sync(env, cwd, "outbox"),
            }
            result["first_install"] = {
                "shop": written(shop),
                "orders": {k: first["orders"][k] for k in FIGURES},
                "notified": first["outbox"]["notified"],
            }
            before = holdings(url)
            shop_before = written(shop)
            wipe(url)
            again = rebuild(env, cwd)
            after_shop = written(shop)
            result["rebuild"] = {
                "notes_posted": after_shop["note_posts"] - shop_before["note_posts"],
                "coupons_created": after_shop["coupons"] - shop_before["coupons"],
                "notified": again["outbox"]["notified"],
                "holdings_equal": holdings(url) == before,
                "learners": len(before["balances"]),
                "seats": len(before["seats"]),
            }
        with database(kind, "live2") as url:
            cwd = scratch_dir("bench-live-")
            env = bridge_env(url, shop.url)
            bridge(["db", "upgrade"], env, cwd=cwd)
            sync(env, cwd, "catalog")
            dry = sync(env, cwd, "orders", "--full", "--dry-run")
            real = sync(env, cwd, "orders", "--full")
            result["dry_run"] = {
                "dry": {k: dry[k] for k in FIGURES},
                "real": {k: real[k] for k in FIGURES},
                "equal": all(dry[k] == real[k] for k in FIGURES),
            }
    recent = datetime.now(UTC) - timedelta(days=7)
    lately = (
        "--start",
        recent.replace(tzinfo=None).isoformat(timespec="seconds"),
        "--step-seconds",
        str(6 * 86400 // orders),
    )
    with (
        FakeShop(orders, cohort_every=20, refund_every=15, max_seconds=1800, extra=lately) as shop,
        database(kind, "live3") as url,
    ):
        cwd = scratch_dir("bench-live-")
        env = bridge_env(
            url,
            shop.url,
            BRIDGE_NOTIFY_SINCE=(recent - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        served = rebuild(env, cwd)
        before, shop_before = holdings(url), written(shop)
        wipe(url)
        again = rebuild(env, cwd, "--notify")
        after_shop = written(shop)
        result["rebuild_after_serving"] = {
            "served": {**shop_before, "notified": served["outbox"]["notified"]},
            "notes_posted": after_shop["note_posts"] - shop_before["note_posts"],
            "coupons_created": after_shop["coupons"] - shop_before["coupons"],
            "notified": again["outbox"]["notified"],
            "holdings_equal": holdings(url) == before,
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--databases", default="sqlite")
    args = parser.parse_args(argv)
    results = []
    for kind in args.databases.split(","):
        log(f"live shop on {kind}, {args.orders} orders")
        results.append(one_database(kind, args.orders))
        print(json.dumps(results[-1], indent=2))
    save("live_shop", {"orders": args.orders, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
