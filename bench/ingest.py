"""Webhook ingest: signed, realistic order deliveries posted to the receiver under gunicorn.

In one run on 127.0.0.1: the bare verify-and-ack app (bench/baseline_app.py: verify the
signature, answer 200) in its fastest configuration (``bare-fastest``: 2 sync workers, no
threads) and in the bridge's own (``bare-web``: the Procfile's web line, workers x threads,
gthread), then the bridge's receiver on SQLite (the Procfile's web line) and on PostgreSQL (the
same with ``--pg-workers``, default 4, web processes), then both bare apps again. A bounded
client (a thread pool, one kept-alive ``http.client`` connection per thread) posts N
deliveries after a warm-up; each delivery is a distinct order of the fake shop's generator (the
shape of bridge.services.operations.simulation), signed as WooCommerce signs it. Reported:
deliveries per second, p50 / p99 acknowledgement latency, and both ratios: to the bare app's
fastest configuration and to its run in the bridge's configuration (means of the two runs of
each), and the server's CPU per delivery while the deliveries arrive (user + system time of the
gunicorn processes and any `bridge inbox work` process, from /proc: the profile of a miss; in
'thread' mode it holds the processing done meanwhile). Each bridge target runs in two modes:
'thread' (the Procfile web line as it is: each web process keeps one processing thread that
drains the inbox in batches after the answers) and 'worker' (web processes with
BRIDGE_INBOX_WORKER=true only store; K `bridge inbox work` processes drain,
--sqlite-inbox-workers / --pg-inbox-workers). The burst is then measured from
its end: deliveries left 'received' then (its backlog) and 10 s later, the time until none is
left (bounded by --drain-timeout), and the backlog processed per second and its server CPU per
delivery.

Diagnostic targets 'store-only-<db>' (``--store-only``) run the same receiver built with no
handlers (create_app(handlers={})): it verifies, parses and stores each delivery and processes
nothing, which separates the cost of the answer from that of the processing.

    python -m bench.ingest --deliveries 20000 --databases sqlite
    python -m bench.ingest --deliveries 20000 --databases postgresql --pg-workers 4
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple
from urllib.parse import urlsplit

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
    live_processes,
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


class WebConfig(NamedTuple):
    """How gunicorn runs an app: processes, threads each, worker class."""

    workers: int
    threads: int
    worker_class: str

    def label(self) -> str:
        if self.worker_class == "sync":
            return f"{self.workers} sync workers"
        return f"{self.workers} workers x {self.threads} threads ({self.worker_class})"


# The bare app's best configuration on this machine: one process per core, no threads.
FASTEST = WebConfig(workers=2, threads=1, worker_class="sync")


def procfile_web(workers: int | None = None) -> WebConfig:
    """The Procfile's web line as gunicorn runs it (``WEB_CONCURRENCY`` unset unless given)."""
    line = next(
        text.split(":", 1)[1]
        for text in (REPO / "Procfile").read_text().splitlines()
        if text.startswith("web:")
    )

    def option(name: str, default: str) -> str:
        found = re.search(rf"--{name}[ =](\S+)", line)
        if found is None:
            return default
        value = found.group(1)
        fallback = re.fullmatch(r"\$\{\w+:-(\w+)\}", value)
        return fallback.group(1) if fallback else value

    threads = int(option("threads", "1"))
    worker_class = option("worker-class", "gthread" if threads > 1 else "sync")
    return WebConfig(workers or int(option("workers", "1")), threads, worker_class)


class Server(ServerProcess):
    """gunicorn serving an app factory in the given configuration."""

    def __init__(self, app: str, env: dict[str, str], cwd: str, config: WebConfig) -> None:
        port = free_port()
        argv = [
            str(BIN / "gunicorn"),
            "--workers",
            str(config.workers),
            "--worker-class",
            config.worker_class,
            *(["--threads", str(config.threads)] if config.worker_class != "sync" else []),
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
    """Post every delivery once (bounded pool, bounded time); latencies of the 200s.

    Each client thread keeps one HTTP/1.1 connection (``http.client``, far lighter than
    ``requests``, so that the client is not what limits the fastest server on two cores).
    """
    local = threading.local()
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    endpoint = "/webhooks/woocommerce"

    def send(delivery: SignedDelivery) -> tuple[int, float]:
        if time.monotonic() > deadline:
            return -1, 0.0
        began = time.perf_counter()
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request("POST", endpoint, body=delivery.body, headers=delivery.headers)
                response = conn.getresponse()
                response.read()
                if response.will_close:
                    conn.close()
                    local.conn = None
                return response.status, time.perf_counter() - began
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
                if attempt == 2:
                    return 0, time.perf_counter() - began
        return 0, time.perf_counter() - began

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
    at_start: int | None = None
    drained = False
    while time.monotonic() - started < timeout:
        counts = inbox_counts(database_url)
        if at_start is None:
            at_start = counts.get("received", 0)
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
        "received_at_burst_end": at_start,
        # The backlog the burst left, processed per second after it (what was left unprocessed
        # at the deadline not counted).
        "drain_per_second": (
            round(((at_start or 0) - left) / elapsed, 1) if elapsed and at_start else None
        ),
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


def server_cpu_seconds(roots: list[int]) -> float | None:
    """CPU seconds (user + system) the live processes under ``roots`` have used so far: the
    gunicorn arbiter and its workers, and any `bridge inbox work` process (None without /proc)."""
    ticks = 0
    seen = False
    for root in roots:
        for pid in live_processes(root):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            seen = True
    return ticks / os.sysconf("SC_CLK_TCK") if seen else None


def run_target(
    name: str,
    app: str,
    env: dict[str, str],
    cwd: str,
    batch: list[SignedDelivery],
    warmup: list[SignedDelivery],
    args: argparse.Namespace,
    config: WebConfig,
    database_url: str | None = None,
    inbox_workers: int = 0,
) -> dict[str, Any]:
    log(
        f"ingest: {name} ({len(batch)} deliveries, {args.concurrency} client threads, "
        f"{config.label()})"
    )
    budget = args.timeout + args.drain_timeout + 180
    with (
        Server(app, env, cwd, config) as server,
        InboxWorkers(inbox_workers, env, cwd, budget) as workers,
    ):
        post_all(server.url, warmup, args.concurrency, args.timeout)
        if database_url:  # start measuring with the warm-up processed, as in a steady state
            wait_processed(database_url, len(warmup), 120)
        roots = [p.pid for p in (server.proc, *workers.procs) if p is not None]
        cpu_before = server_cpu_seconds(roots)
        result = post_all(server.url, batch, args.concurrency, args.timeout)
        cpu_after = server_cpu_seconds(roots)
        result["server_cpu_ms"] = (
            round((cpu_after - cpu_before) * 1000 / len(batch), 3)
            if cpu_before is not None and cpu_after is not None and batch
            else None
        )
        if database_url:
            result.update(
                wait_processed(database_url, len(batch) + len(warmup), args.drain_timeout)
            )
            cpu_drained = server_cpu_seconds(roots)
            backlog = result.get("received_at_burst_end") or 0
            result["backlog_cpu_ms"] = (
                round((cpu_drained - cpu_after) * 1000 / backlog, 3)
                if cpu_drained is not None and cpu_after is not None and backlog
                else None
            )
        if result["ok"] < len(batch):
            result["server_log_tail"] = server.log_tail()
    result["target"] = name
    result["web"] = config._asdict()
    result["inbox_workers"] = inbox_workers
    log(
        f"  {name}: {result['per_second']}/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, server CPU {result['server_cpu_ms']} ms a delivery, "
        f"statuses {result['statuses']}"
    )
    return result


def _mean(results: list[dict[str, Any]], prefix: str) -> dict[str, float] | None:
    runs = [r for r in results if r["target"].startswith(prefix) and r["per_second"]]
    if not runs:
        return None
    return {
        "per_second": round(sum(r["per_second"] for r in runs) / len(runs), 1),
        "p99_ms": round(sum(r["p99_ms"] for r in runs) / len(runs), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="web processes of the bridge on SQLite and of the bare app in the Procfile's "
        "configuration (default: the Procfile's, WEB_CONCURRENCY unset)",
    )
    parser.add_argument(
        "--pg-workers", type=int, default=4, help="web processes of the bridge on PostgreSQL"
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--store-only",
        action="store_true",
        help="also run the diagnostic targets that store deliveries but process none "
        "(create_app(handlers={}))",
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
    parser.add_argument("--pg-inbox-workers", type=int, default=2)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    orders = Orders(1_000_000)  # order numbers only; nothing is kept per order
    n, w = args.deliveries, args.warmup
    web = procfile_web(args.workers)

    base_env = {**os.environ, "WOOCOMMERCE_WEBHOOK_SECRET": WEBHOOK_SECRET, "PYTHONPATH": str(REPO)}
    results: list[dict[str, Any]] = []
    bare = "bench.baseline_app:create_app()"

    def run_bare(suffix: str) -> None:
        for name, config in (("bare-fastest", FASTEST), ("bare-web", web)):
            results.append(
                run_target(
                    f"{name}{suffix}",
                    bare,
                    base_env,
                    str(REPO),
                    deliveries(1, n, orders),
                    deliveries(n + 1, w, orders),
                    args,
                    config,
                )
            )

    run_bare("")
    offset = 10 * (n + w)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for kind in kinds:
        config = web if kind == "sqlite" else web._replace(workers=args.pg_workers)
        for mode in modes:
            with database(kind, f"ingest{mode}") as url:
                cwd = scratch_dir("bench-ingest-")
                workers = 0
                env = bridge_env(url)
                if mode == "worker":
                    workers = (
                        args.pg_inbox_workers if kind == "postgresql" else args.sqlite_inbox_workers
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
                        config,
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
                        config,
                    )
                )
    run_bare("-again")
    fastest, same = _mean(results, "bare-fastest"), _mean(results, "bare-web")
    for r in results:
        for key, base in (("fastest", fastest), ("web", same)):
            if r["per_second"] and base:
                r[f"throughput_vs_{key}"] = round(r["per_second"] / base["per_second"], 2)
                r[f"p99_vs_{key}"] = round(r["p99_ms"] / base["p99_ms"], 2)
    path = save(
        "ingest",
        {
            "deliveries": n,
            "warmup": w,
            "concurrency": args.concurrency,
            "procfile_web": web._asdict(),
            "fastest": FASTEST._asdict(),
            "bridge_command": BRIDGE,
            "results": results,
            "bare_fastest_mean": fastest,
            "bare_web_mean": same,
        },
    )
    rows = [
        [
            r["target"],
            WebConfig(**r["web"]).label(),
            r["ok"],
            f"{r['per_second']}",
            f"{r['p50_ms']}",
            f"{r['p99_ms']}",
            f"{r.get('throughput_vs_fastest')}x / {r.get('throughput_vs_web')}x",
            f"{r.get('p99_vs_fastest')}x / {r.get('p99_vs_web')}x",
            r.get("server_cpu_ms", ""),
            r.get("received_at_burst_end", ""),
            r.get("received_left_at_10s", ""),
            r.get("drained_after_s", ""),
            r.get("drain_per_second", ""),
            r.get("backlog_cpu_ms", ""),
        ]
        for r in results
    ]
    print(
        table(
            rows,
            [
                "target",
                "gunicorn",
                "acked",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "throughput / bare (fastest / same config)",
                "p99 / bare (fastest / same config)",
                "server CPU ms / delivery",
                "left at the burst's end",
                "left at +10 s",
                "all processed after s",
                "backlog processed/s",
                "server CPU ms / backlog delivery",
            ],
        )
    )
    print(
        f"\nbare app, fastest ({FASTEST.label()}): {fastest}; "
        f"same configuration as the bridge ({web.label()}): {same}"
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
