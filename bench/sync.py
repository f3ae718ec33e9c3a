"""Order sync: `bridge sync orders --full` against the fake shop at N orders, beside a bare fetch.

For each N (and database): a fresh database, `bridge db upgrade` and `bridge sync catalog` (not
timed: products and cohorts must be known first, as in production), then, timed on the whole
command (process start, every order applied and committed):

  * requests the full sync made (counted by the shop, per route) against the minimum ceil(N/100);
  * wall time against a bare paginated fetch of the same pages (requests.Session, no
    processing) in the same run, before and after the sync (the ratio uses their mean);
  * peak memory (ru_maxrss of that process alone, from os.wait4);
  * the same `bridge sync orders --full` again over the unchanged shop (every order already
    applied: the re-run), timed the same way against the same bare fetch;
  * an incremental `bridge sync orders` and `bridge sync catalog` over the unchanged shop
    (requests per resource).

``--page-ms 500`` makes the shop answer each page of 100 orders as slowly as a small real shop;
then the sync (which reads the next pages while it applies one, on ``--connections``) is
compared with the bare fetch on one connection and on the same number of connections.

Sizes that would not fit the time budget (estimated from the previous size) are skipped and
reported as such.

    python -m bench.sync --sizes 1000,10000,100000 --budget-minutes 40
    python -m bench.sync --sizes 10000 --page-ms 500 --connections 1 --no-rerun
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_CONNECTIONS,
    RESULTS,
    FakeShop,
    bare_fetch,
    bridge,
    bridge_env,
    database,
    job_json,
    log,
    save,
    scratch_dir,
    table,
)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def one_size(
    n: int,
    db_kind: str,
    *,
    refund_every: int,
    timeout: float,
    page_ms: float = 0.0,
    connections: int = DEFAULT_CONNECTIONS,
    with_rerun: bool = True,
) -> dict[str, Any]:
    minimum = math.ceil(n / 100)
    result: dict[str, Any] = {
        "orders": n,
        "database": db_kind,
        "refund_every": refund_every,
        "minimum_requests": minimum,
        "page_ms": page_ms,
        "connections": connections,
        "load_before": loadavg(),
    }
    with (
        FakeShop(n, refund_every=refund_every, page_ms=page_ms, max_seconds=timeout + 1800) as shop,
        database(db_kind, f"sync{n}") as url,
    ):
        cwd = scratch_dir("bench-sync-")
        env = bridge_env(url, shop.url, BRIDGE_HTTP_CONNECTIONS=str(connections))
        bridge(["db", "upgrade"], env, cwd=cwd)
        catalog = bridge(["sync", "catalog", "--json"], env, cwd=cwd)
        result["catalog_full_requests"] = shop.stats()["requests"]
        result["catalog_full_wall_s"] = round(catalog.wall_s, 2)

        bare_before = bare_fetch(shop, minimum)
        same_before = (
            bare_before if connections == 1 else bare_fetch(shop, minimum, connections=connections)
        )
        shop.reset()
        log(f"  sync orders --full, N={n} on {db_kind} ...")
        stderr_path = RESULTS / f"sync-{db_kind}-{n}.stderr.log"
        RESULTS.mkdir(parents=True, exist_ok=True)
        full = bridge(
            ["sync", "orders", "--full", "--json"],
            env,
            cwd=cwd,
            timeout=timeout,
            stderr_path=stderr_path,
            check=False,
        )
        stats = shop.stats()
        job = job_json(full) if full.stdout.strip().startswith("[") else {}
        bare_after = bare_fetch(shop, minimum)
        same_after = (
            bare_after if connections == 1 else bare_fetch(shop, minimum, connections=connections)
        )
        result.update(
            full_returncode=full.returncode,
            full_status=job.get("status"),
            full_reason=job.get("reason"),
            full_requests=stats["total"],
            full_requests_by_route=stats["requests"],
            full_client_requests=job.get("requests"),
            full_fetched=job.get("fetched"),
            full_changed=job.get("changed"),
            full_grants=job.get("grants"),
            full_writebacks_queued=job.get("writebacks"),
            full_job_duration_s=job.get("duration"),
            full_wall_s=round(full.wall_s, 2),
            full_cpu_s=round(full.user_s + full.sys_s, 2),
            full_maxrss_mb=round(full.maxrss_mb, 1),
            bare_wall_s=[round(bare_before["wall_s"], 3), round(bare_after["wall_s"], 3)],
            bare_same_connections_wall_s=[
                round(same_before["wall_s"], 3),
                round(same_after["wall_s"], 3),
            ],
            bare_requests=bare_before["requests"],
            bare_mb=round(bare_before["bytes"] / 1e6, 1),
        )
        bare = (bare_before["wall_s"] + bare_after["wall_s"]) / 2
        result["wall_ratio"] = round(full.wall_s / bare, 2) if bare else None
        same = (same_before["wall_s"] + same_after["wall_s"]) / 2
        result["wall_ratio_same_connections"] = round(full.wall_s / same, 2) if same else None
        result["ms_per_order"] = round(full.wall_s * 1000 / n, 2)
        result["cpu_ms_per_order"] = round((full.user_s + full.sys_s) * 1000 / n, 2)
        result["requests_over_minimum"] = stats["total"] - minimum
        if full.returncode != 0:
            result["full_stderr_tail"] = full.stderr_tail[-1500:]
            return result
        if not with_rerun:
            return result

        shop.reset()
        rerun = bridge(
            ["sync", "orders", "--full", "--json"], env, cwd=cwd, timeout=timeout, check=False
        )
        rerun_job = job_json(rerun) if rerun.stdout.strip().startswith("[") else {}
        bare_again = bare_fetch(shop, minimum)
        result.update(
            rerun_returncode=rerun.returncode,
            rerun_requests=shop.stats()["total"] - bare_again["requests"],
            rerun_changed=rerun_job.get("changed"),
            rerun_wall_s=round(rerun.wall_s, 2),
            rerun_cpu_s=round(rerun.user_s + rerun.sys_s, 2),
            rerun_maxrss_mb=round(rerun.maxrss_mb, 1),
            rerun_bare_wall_s=round(bare_again["wall_s"], 3),
        )
        result["rerun_ratio"] = (
            round(rerun.wall_s / bare_again["wall_s"], 2) if bare_again["wall_s"] else None
        )
        shop.reset()
        incremental = bridge(["sync", "orders", "--json"], env, cwd=cwd)
        result["incremental_orders_requests"] = shop.stats()["requests"]
        result["incremental_orders_wall_s"] = round(incremental.wall_s, 2)
        result["incremental_orders_fetched"] = job_json(incremental).get("fetched")
        shop.reset()
        bridge(["sync", "catalog", "--json"], env, cwd=cwd)
        result["incremental_catalog_requests"] = shop.stats()["requests"]
        result["load_after"] = loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="comma-separated order counts (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--databases", default="sqlite", help="comma-separated: sqlite, postgresql (default sqlite)"
    )
    parser.add_argument(
        "--refund-every",
        type=int,
        default=0,
        help="every K-th paid order partially refunded (each costs a "
        "GET orders/<id>/refunds); 0 for none",
    )
    parser.add_argument(
        "--page-ms",
        type=float,
        default=0.0,
        help="the fake shop takes this long per page of 100 orders (a small real shop: 500)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help="BRIDGE_HTTP_CONNECTIONS of the sync, and of the second bare fetch "
        f"(default {DEFAULT_CONNECTIONS}, the setting's default)",
    )
    parser.add_argument(
        "--no-rerun",
        dest="rerun",
        action="store_false",
        help="only the full sync (no re-run over the unchanged shop, no incremental runs)",
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=40.0,
        help="skip a size whose estimated full sync exceeds this (default 40)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    budget = args.budget_minutes * 60
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for kind in kinds:
        per_order: float | None = None
        for n in sorted(sizes):
            estimate = per_order * n * 1.2 + 10 if per_order else None
            if estimate is not None and estimate > budget:
                log(
                    f"skip N={n} on {kind}: estimated {estimate / 60:.0f} min > budget "
                    f"{args.budget_minutes:.0f} min"
                )
                skipped.append(
                    {"orders": n, "database": kind, "estimated_minutes": round(estimate / 60, 1)}
                )
                continue
            log(f"sync benchmark N={n} on {kind}")
            started = time.monotonic()
            result = one_size(
                n,
                kind,
                refund_every=args.refund_every,
                timeout=max(budget, 120),
                page_ms=args.page_ms,
                connections=args.connections,
                with_rerun=args.rerun,
            )
            result["bench_wall_s"] = round(time.monotonic() - started, 1)
            runs.append(result)
            if result.get("full_returncode") == 0:
                per_order = result["full_wall_s"] / n
            log(
                f"  N={n}: {result['full_requests']} requests"
                f" (minimum {result['minimum_requests']}),"
                f" {result['full_wall_s']}s vs bare {result['bare_wall_s']}s"
                f" ({args.connections} connections: {result['bare_same_connections_wall_s']}s),"
                f" {result['full_maxrss_mb']} MB"
            )
    growth = {}
    for kind in kinds:
        done = [r for r in runs if r["database"] == kind and r.get("full_returncode") == 0]
        if len(done) >= 2:
            small, large = done[0], done[-1]
            growth[kind] = {
                "from": small["orders"],
                "to": large["orders"],
                "maxrss_growth_mb": round(large["full_maxrss_mb"] - small["full_maxrss_mb"], 1),
            }
    path = save(
        "sync",
        {
            "runs": runs,
            "skipped": skipped,
            "memory_growth": growth,
            "argv": sys.argv,
            "pid": os.getpid(),
        },
    )
    print(render(runs, skipped, growth))
    print(f"\nresults: {path}")
    return 0


def render(
    runs: list[dict[str, Any]], skipped: list[dict[str, Any]], growth: dict[str, Any]
) -> str:
    rows = []
    for r in runs:
        inc = r.get("incremental_orders_requests") or {}
        rows.append(
            [
                f"{r['orders']:,}",
                r["database"],
                f"{r['full_requests']} / {r['minimum_requests']}",
                f"{r['full_wall_s']:.1f}",
                f"{r['full_cpu_s']:.1f}",
                " / ".join(f"{b:.2f}" for b in r["bare_wall_s"]),
                f"{r['wall_ratio']}x",
                f"{r['connections']}: "
                + " / ".join(f"{b:.2f}" for b in r["bare_same_connections_wall_s"]),
                f"{r['wall_ratio_same_connections']}x",
                f"{r['ms_per_order']}",
                f"{r['full_maxrss_mb']:.0f}",
                f"{r.get('rerun_wall_s', '-')} / {r.get('rerun_bare_wall_s', '-')} = "
                f"{r.get('rerun_ratio', '-')}x",
                f"{sum(inc.values())} ({', '.join(f'{k} {v}' for k, v in inc.items())})",
                r.get("full_status") or r.get("full_returncode"),
            ]
        )
    text = table(
        rows,
        [
            "orders",
            "db",
            "requests / min",
            "full sync s",
            "cpu s",
            "bare fetch s (1 connection, before / after)",
            "ratio",
            "bare fetch s (the sync's connections)",
            "ratio",
            "ms/order",
            "peak MB",
            "re-run s / bare s",
            "incremental requests",
            "status",
        ],
    )
    if runs and runs[0]["page_ms"]:
        text += f"\nthe shop took {runs[0]['page_ms']:.0f} ms per page of 100 orders"
    for s in skipped:
        text += (
            f"\nskipped N={s['orders']:,} on {s['database']}: estimated "
            f"{s['estimated_minutes']} min"
        )
    for kind, g in growth.items():
        text += (
            f"\npeak memory growth {g['from']:,} -> {g['to']:,} orders on {kind}: "
            f"{g['maxrss_growth_mb']} MB"
        )
    return text


if __name__ == "__main__":
    sys.exit(main())
