"""Webhook ingest: signed, realistic order deliveries posted to the receiver under gunicorn.

In one run, each under the same gunicorn settings (Procfile's: 2 workers, 4 threads, gthread) on
127.0.0.1: the baseline app (bench/baseline_app.py: verify the signature, answer 200), the
bridge's receiver on SQLite, the bridge's receiver on PostgreSQL, and the baseline again. A
bounded client (a thread pool, one requests.Session per thread) posts N deliveries after a
warm-up; each delivery is a distinct order of the fake shop's generator (the shape of
bridge.services.operations.simulation), signed as WooCommerce signs it. Reported: deliveries per
second, p50 / p99 acknowledgement latency, and the ratios bridge / baseline. Each bridge target
runs in two modes: 'thread' (the Procfile web line as it is: each web process keeps one
processing thread that drains the inbox in batches after the answers) and 'worker' (web
processes with BRIDGE_INBOX_WORKER=true only store; K `bridge inbox work` processes drain,
--sqlite-inbox-workers / --pg-inbox-workers). The backlog drain is measured from the end of the
burst: deliveries processed within 10 s, and the time until none is left 'received' (bounded by
--drain-timeout).

Diagnostic targets 'store-only-<db>' run the same receiver built with no handlers
(create_app(handlers={})): it verifies, parses and stores each delivery and processes nothing,
which separates the cost of the answer from that of the processing that follows it on the same
worker threads.

    python -m bench.ingest --deliveries 2000 --concurrency 8
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import create_engine, text

from bench.common import (
    BIN,
    BRIDGE,
    REPO,
    WEBHOOK_SECRET,
    ServerProcess,
    bridge,
    bridge_env,
    database,
    free_port,
    log,
    save,
    scratch_dir,
    table,
)
from bench.fake_shop import Orders
from bridge.services.operations import signed_delivery
from bridge.services.operations.simulation import SignedDelivery


def deliveries(first: int, count: int, orders: Orders) -> list[SignedDelivery]:
    """Distinct orders, each delivered once as order.created or order.updated."""
    made = []
    for i in range(first, first + count):
        topic = "order.created" if i % 2 else "order.updated"
        made.append(
            signed_delivery(
                topic, orders.order(i), WEBHOOK_SECRET, source="https://shop.example.com/"
            )
        )
    return made


class Server(ServerProcess):
    """gunicorn serving an app factory (Procfile settings unless told otherwise)."""

    def __init__(
        self, app: str, env: dict[str, str], cwd: str, *, workers: int, threads: int
    ) -> None:
        port = free_port()
        argv = [
            str(BIN / "gunicorn"),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "10",
            app,
        ]
        super().__init__(argv, env, cwd, port, tempfile.TemporaryFile())  # noqa: SIM115

    def log_tail(self) -> str:
        return self.log_bytes()[-2000:].decode("utf-8", "replace")


def post_all(
    url: str, batch: list[SignedDelivery], concurrency: int, timeout: float
) -> dict[str, Any]:
    """Post every delivery once (bounded pool, bounded time); latencies of the 200s."""
    local = threading.local()
    deadline = time.monotonic() + timeout
    endpoint = f"{url}/webhooks/woocommerce"

    def send(delivery: SignedDelivery) -> tuple[int, float]:
        if time.monotonic() > deadline:
            return -1, 0.0
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        began = time.perf_counter()
        try:
            response = session.post(
                endpoint, data=delivery.body, headers=delivery.headers, timeout=30
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - began

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(send, batch))
    wall = time.perf_counter() - start
    latencies = sorted(seconds for status, seconds in answers if status == 200)
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        index = min(len(latencies) - 1, max(0, int(round(p * len(latencies))) - 1))
        return round(latencies[index] * 1000, 2)

    return {
        "sent": len(batch),
        "ok": len(latencies),
        "statuses": statuses,
        "wall_s": round(wall, 3),
        "per_second": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
    }


def inbox_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status, count(*) FROM inbox GROUP BY status")).all()
        return {str(status): int(n) for status, n in rows}
    finally:
        engine.dispose()


def wait_processed(database_url: str, expected: int, timeout: float) -> dict[str, Any]:
    """Poll the inbox until no delivery is left 'received' (bounded); note the 10 s mark."""
    started = time.monotonic()
    counts: dict[str, int] = {}
    at_10s: int | None = None
    drained = False
    while time.monotonic() - started < timeout:
        counts = inbox_counts(database_url)
        if at_10s is None and time.monotonic() - started >= 10:
            at_10s = counts.get("received", 0)
        if counts.get("received", 0) == 0 and sum(counts.values()) >= expected:
            drained = True
            break
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    left = counts.get("received", 0)
    return {
        "inbox": counts,
        "drained": drained,
        "drained_after_s": round(elapsed, 2) if drained else None,
        "received_left_at_10s": 0 if at_10s is None and drained else at_10s,
        "received_left_at_end": left,
        "drain_per_second": round((expected - left) / elapsed, 1) if elapsed else None,
    }


class InboxWorkers:
    """K `bridge inbox work` processes (bounded in time), stopped with SIGTERM on exit."""

    def __init__(self, count: int, env: dict[str, str], cwd: str, max_seconds: float) -> None:
        self.argv = [
            BRIDGE,
            "inbox",
            "work",
            "--poll",
            "0.1",
            "--max-seconds",
            str(int(max_seconds)),
        ]
        self.count, self.env, self.cwd = count, env, cwd
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> InboxWorkers:
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(  # noqa: S603 (our own console script)
                    self.argv,
                    env=self.env,
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_target(
    name: str,
    app: str,
    env: dict[str, str],
    cwd: str,
    batch: list[SignedDelivery],
    warmup: list[SignedDelivery],
    args: argparse.Namespace,
    database_url: str | None = None,
    inbox_workers: int = 0,
) -> dict[str, Any]:
    log(f"ingest: {name} ({len(batch)} deliveries, {args.concurrency} client threads)")
    budget = args.timeout + args.drain_timeout + 180
    with (
        Server(app, env, cwd, workers=args.workers, threads=args.threads) as server,
        InboxWorkers(inbox_workers, env, cwd, budget),
    ):
        post_all(server.url, warmup, args.concurrency, args.timeout)
        if database_url:  # start measuring with the warm-up processed, as in a steady state
            wait_processed(database_url, len(warmup), 120)
        result = post_all(server.url, batch, args.concurrency, args.timeout)
        if database_url:
            result.update(
                wait_processed(database_url, len(batch) + len(warmup), args.drain_timeout)
            )
        if result["ok"] < len(batch):
            result["server_log_tail"] = server.log_tail()
    result["target"] = name
    result["inbox_workers"] = inbox_workers
    log(
        f"  {name}: {result['per_second']}/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, statuses {result['statuses']}"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--no-store-only",
        dest="store_only",
        action="store_false",
        help="skip the diagnostic targets that store deliveries but process "
        "none (create_app(handlers={}))",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds one target may take to receive its deliveries",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the backlog to be processed after the burst",
    )
    parser.add_argument(
        "--modes",
        default="thread,worker",
        help="thread (web processes process), worker (they only store)",
    )
    parser.add_argument("--sqlite-inbox-workers", type=int, default=1)
    parser.add_argument("--pg-inbox-workers", type=int, default=4)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    orders = Orders(1_000_000)  # order numbers only; nothing is kept per order
    n, w = args.deliveries, args.warmup

    base_env = {**os.environ, "WOOCOMMERCE_WEBHOOK_SECRET": WEBHOOK_SECRET, "PYTHONPATH": str(REPO)}
    results: list[dict[str, Any]] = []
    results.append(
        run_target(
            "baseline",
            "bench.baseline_app:create_app()",
            base_env,
            str(REPO),
            deliveries(1, n, orders),
            deliveries(n + 1, w, orders),
            args,
        )
    )
    offset = 10 * (n + w)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for kind in kinds:
        for mode in modes:
            with database(kind, f"ingest{mode}") as url:
                cwd = scratch_dir("bench-ingest-")
                workers = 0
                env = bridge_env(url)
                if mode == "worker":
                    workers = (
                        args.pg_inbox_workers
                        if kind == "postgresql"
                        else (args.sqlite_inbox_workers)
                    )
                    env = bridge_env(url, BRIDGE_INBOX_WORKER="true")
                bridge(["db", "upgrade"], env, cwd=cwd)
                batch = deliveries(offset, n, orders)
                warm = deliveries(offset + n, w, orders)
                offset += n + w
                results.append(
                    run_target(
                        f"bridge-{kind}-{mode}",
                        "webhooks:create_app()",
                        env,
                        cwd,
                        batch,
                        warm,
                        args,
                        database_url=url,
                        inbox_workers=workers,
                    )
                )
        if args.store_only:
            # Diagnosis: the same receiver with no handlers stores each delivery (as
            # 'ignored') and processes nothing after the answer: the cost of the ack path.
            with database(kind, "ingeststore") as url:
                cwd = scratch_dir("bench-ingest-")
                env = bridge_env(url)
                bridge(["db", "upgrade"], env, cwd=cwd)
                batch = deliveries(offset, n, orders)
                warm = deliveries(offset + n, w, orders)
                offset += n + w
                results.append(
                    run_target(
                        f"store-only-{kind}",
                        "webhooks:create_app(handlers={})",
                        env,
                        cwd,
                        batch,
                        warm,
                        args,
                    )
                )
    results.append(
        run_target(
            "baseline-again",
            "bench.baseline_app:create_app()",
            base_env,
            str(REPO),
            deliveries(1, n, orders),
            deliveries(n + 1, w, orders),
            args,
        )
    )
    baselines = [r for r in results if r["target"].startswith("baseline") and r["per_second"]]
    base_rate = sum(r["per_second"] for r in baselines) / len(baselines)
    base_p99 = sum(r["p99_ms"] for r in baselines) / len(baselines)
    for r in results:
        if r["per_second"]:
            r["throughput_ratio"] = round(r["per_second"] / base_rate, 2)
            r["p99_ratio"] = round(r["p99_ms"] / base_p99, 2)
    path = save(
        "ingest",
        {
            "deliveries": n,
            "warmup": w,
            "concurrency": args.concurrency,
            "gunicorn": {
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": "gthread",
            },
            "bridge_command": BRIDGE,
            "results": results,
            "baseline_mean": {"per_second": round(base_rate, 1), "p99_ms": round(base_p99, 2)},
        },
    )
    rows = [
        [
            r["target"],
            r["ok"],
            f"{r['per_second']}",
            f"{r['p50_ms']}",
            f"{r['p99_ms']}",
            f"{r.get('throughput_ratio')}x",
            f"{r.get('p99_ratio')}x",
            r.get("received_left_at_10s", ""),
            r.get("drained_after_s", ""),
            r.get("drain_per_second", ""),
        ]
        for r in results
    ]
    print(
        table(
            rows,
            [
                "target",
                "acked",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "throughput / baseline",
                "p99 / baseline",
                "left at +10 s",
                "all processed after s",
                "processed/s after burst",
            ],
        )
    )
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
