"""Write-back: K queued changes -> requests drain_outbox sends, against ceil(K/100) per resource.

For each size: the fake shop with N orders, a fresh database, `bridge sync catalog` and
`bridge sync orders --full` (subprocesses) queue realistic write-backs: order meta, customer
meta, personal coupons, product links / cohort stock, and order notes. Then, in this process,
``drain_outbox(engine, WooClient(settings), settings)`` is called until nothing is due (bounded),
and the shop counts the requests per route. The minimum per batch endpoint is
ceil(items / 100), items being the distinct targets of updates (latest value wins) and the rows
of creates; notes have no batch endpoint, so each is one POST, and there is at most one per
order changed (the events of one application are worded together). The sync runs with
``--notify``: the fake shop's orders predate the watch start, and history is otherwise silent.
A second drain after re-applying every order must send nothing (unchanged values are not
written again).

    python -m bench.writeback --sizes 1000,3000
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from typing import Any

from sqlalchemy import text

from bench.common import (
    FakeShop,
    bridge,
    bridge_env,
    database,
    job_json,
    log,
    save,
    scratch_dir,
    table,
)
from bridge.services.writeback import drain_outbox
from bridge.services.writeback.outbox import DRAIN_LIMIT
from bridge.settings import load_settings
from bridge.shop.client import WooClient
from bridge.store.db import make_engine

ROUTES = {
    "coupon": "POST coupons/batch",
    "product": "POST products/batch",
    "order": "POST orders/batch",
    "customer": "POST customers/batch",
    "variation": "POST products/<id>/variations/batch",
    "order_note": "POST orders/<id>/notes",
}


def queued(engine: Any) -> dict[str, dict[str, int]]:
    """Pending rows per resource: rows, and items a batch call carries (targets for updates)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT resource, operation, count(*), count(DISTINCT target_key) FROM outbox "
                "WHERE status = 'pending' GROUP BY resource, operation"
            )
        ).all()
    out: dict[str, dict[str, int]] = {}
    for resource, operation, count, targets in rows:
        entry = out.setdefault(str(resource), {"rows": 0, "items": 0})
        entry["rows"] += int(count)
        entry["items"] += int(targets) if operation == "update" else int(count)
    return out


def drain_all(engine: Any, settings: Any, *, max_seconds: float) -> dict[str, Any]:
    """drain_outbox until nothing is sent or due; bounded in drains and time."""
    with engine.connect() as conn:
        due = int(
            conn.execute(
                text("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
            ).scalar()
            or 0
        )
    max_drains = math.ceil(due / DRAIN_LIMIT) + 3
    drains = []
    started = time.perf_counter()
    with WooClient(settings) as client:
        for _ in range(max_drains):
            if time.perf_counter() - started > max_seconds:
                break
            summary = drain_outbox(engine, client, settings)
            drains.append(
                {
                    "sent": summary.sent,
                    "unchanged": summary.unchanged,
                    "retrying": summary.retrying,
                    "dead": summary.dead,
                    "deferred": summary.deferred,
                    "left": summary.left,
                    "http_requests": summary.http_requests,
                    "stopped": summary.stopped,
                }
            )
            if summary.stopped or not (summary.sent or summary.unchanged or summary.deferred):
                break
    return {"drains": drains, "wall_s": round(time.perf_counter() - started, 2), "rows_due": due}


def one_size(n: int, *, resync: bool, max_seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = {"orders": n}
    with (
        FakeShop(n, max_seconds=max_seconds * 3 + 1800) as shop,
        database("sqlite", f"writeback{n}") as url,
    ):
        cwd = scratch_dir("bench-writeback-")
        env = bridge_env(url, shop.url)
        bridge(["db", "upgrade"], env, cwd=cwd)
        bridge(["sync", "catalog", "--json"], env, cwd=cwd)
        log(f"  writeback: sync orders --full, N={n} (queues the write-backs) ...")
        orders = bridge(
            ["sync", "orders", "--full", "--notify", "--json"], env, cwd=cwd, timeout=max_seconds
        )
        result["writebacks_queued_by_sync"] = job_json(orders).get("writebacks")
        result["orders_changed"] = job_json(orders).get("changed")
        settings = load_settings(environ=env, env_file=None)
        engine = make_engine(url)
        try:
            pending = queued(engine)
            result["queued"] = pending
            shop.reset()
            log(f"  writeback: draining {sum(p['rows'] for p in pending.values())} rows ...")
            drained = drain_all(engine, settings, max_seconds=max_seconds)
            stats = shop.stats()
            result["drain"] = drained
            result["requests_by_route"] = stats["requests"]
            result["batch_items_by_route"] = stats["batch_items"]
            per_resource = []
            for resource, counts in sorted(pending.items()):
                route = ROUTES.get(resource, resource)
                sent = stats["requests"].get(route, 0)
                if resource == "order_note":
                    minimum = counts["items"]
                else:
                    minimum = math.ceil(counts["items"] / 100)
                per_resource.append(
                    {
                        "resource": resource,
                        "route": route,
                        "rows": counts["rows"],
                        "items": counts["items"],
                        "requests": sent,
                        "minimum": minimum,
                        "extra": sent - minimum,
                    }
                )
            result["per_resource"] = per_resource
            result["other_requests"] = {
                route: count
                for route, count in stats["requests"].items()
                if route not in {r["route"] for r in per_resource}
            }
            if resync:
                log(f"  writeback: re-applying all {n} orders, then draining again ...")
                bridge(["sync", "orders", "--full", "--json"], env, cwd=cwd, timeout=max_seconds)
                shop.reset()
                again = drain_all(engine, settings, max_seconds=max_seconds)
                result["after_resync"] = {
                    "queued": queued(engine),
                    "drain": again,
                    "requests": shop.stats()["requests"],
                }
        finally:
            engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="1000,3000",
        help="orders whose write-backs are drained (default 1000,3000)",
    )
    parser.add_argument(
        "--resync-up-to",
        type=int,
        default=1000,
        help="re-apply and drain again for sizes up to this (default 1000)",
    )
    parser.add_argument("--max-seconds", type=float, default=1200.0)
    args = parser.parse_args(argv)
    runs = []
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        log(f"writeback benchmark N={n}")
        runs.append(one_size(n, resync=n <= args.resync_up_to, max_seconds=args.max_seconds))
    path = save("writeback", {"runs": runs, "drain_limit": DRAIN_LIMIT})
    print(render(runs))
    print(f"\nresults: {path}")
    return 0


def render(runs: list[dict[str, Any]]) -> str:
    rows = []
    notes = []
    for run in runs:
        for r in run["per_resource"]:
            target = "1 per note" if r["resource"] == "order_note" else "ceil(items/100)"
            rows.append(
                [
                    f"{run['orders']:,}",
                    r["resource"],
                    r["rows"],
                    r["items"],
                    r["requests"],
                    f"{r['minimum']} ({target})",
                    r["extra"],
                ]
            )
        drains = run["drain"]["drains"]
        notes.append(
            f"N={run['orders']:,}: {len(drains)} drain(s) in {run['drain']['wall_s']}s,"
            f" sent {sum(d['sent'] for d in drains)} rows, other requests "
            f"{run['other_requests'] or 'none'}"
        )
        note_posts = run["requests_by_route"].get(ROUTES["order_note"], 0)
        notes.append(
            f"N={run['orders']:,}: note POSTs {note_posts} for "
            f"{run.get('orders_changed')} orders changed"
        )
        if "after_resync" in run:
            again = run["after_resync"]
            notes.append(
                f"N={run['orders']:,} after re-applying every order: requests "
                f"{sum(Counter(again['requests']).values())} "
                f"({again['requests'] or 'none'})"
            )
    return (
        table(rows, ["orders", "resource", "rows", "items", "requests", "minimum", "extra"])
        + "\n"
        + "\n".join(notes)
    )


if __name__ == "__main__":
    sys.exit(main())
