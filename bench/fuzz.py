"""Hostile input at scale: fuzzed requests against `bridge serve` and the Procfile's gunicorn line.

Each target runs on 127.0.0.1 only, on its own fresh database: `bridge serve` (one process,
background processing thread) on SQLite, and `gunicorn --workers 2 --threads 4
'webhooks:create_app()'` (the Procfile's web line) on PostgreSQL. The requests are those of
bench/fuzz_cases.py (seeded): valid and poisoned signed orders, malformed bodies, unknown topics,
pings, unsigned requests, wrong methods, odd API paths, ids, bodies, tokens and pages), plus
chunked bodies over the size limit. Printed per target: answers by status, 5xx, tracebacks in the
server's log, rows whose signature does not verify, poisoned deliveries rejected / refused /
dead-lettered / other, whether an ordinary order sent afterwards is processed and how fast, and
the server's memory (RSS of its process tree) before and after.

Then the database size after 10,000 ordinary deliveries (recorded and processed in-process on
SQLite, as the receiver does) before and after retention (bodies and rows past their retention,
incremental vacuum).

    python -m bench.fuzz --requests 10000 --concurrency 4
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    BIN,
    BRIDGE,
    CATALOG,
    REPO,
    WEBHOOK_SECRET,
    ServerProcess,
    bridge_env,
    database,
    free_port,
    live_processes,
    log,
    save,
    scratch_dir,
    table,
)
from bench.fuzz_cases import RECEIVER, Case, cases
from bridge.rules.inbound.signatures import sign, verify
from bridge.services.operations import Line, order_payload
from bridge.services.operations.simulation import php_json

BODY_LIMIT = 1024 * 1024


def rss_mb(pid: int) -> float:
    """Resident memory of a process and every process below it, in MB (from /proc)."""
    total = 0
    for one in live_processes(pid):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


class Target(ServerProcess):
    """A server process with its log in ``<cwd>/<name>.log``."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: str, port: int
    ) -> None:
        self.name = name
        self.log_path = Path(cwd) / f"{name}.log"
        super().__init__(argv, env, cwd, port, self.log_path.open("w+b"))

    def memory(self) -> float:
        assert self.proc is not None
        return rss_mb(self.proc.pid)

    def log_text(self) -> str:
        return self.log_bytes().decode("utf-8", "replace")


def chunked_case(index: int) -> Case:
    """A signed body over the size limit sent without Content-Length (chunked)."""
    body = b'{"id": %d, "pad": "' % (900_000 + index) + b"x" * (BODY_LIMIT + 1024) + b'"}'
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": sign(body, WEBHOOK_SECRET),
    }
    return Case(
        "chunked over the limit", "POST", RECEIVER, headers, body, signed=True, poisoned=True
    )


def send_all(url: str, batch: list[Case], concurrency: int, budget: float) -> list[Any]:
    """Every case once, bounded in concurrency and time; (case, status, answer JSON)."""
    local = threading.local()
    deadline = time.monotonic() + budget

    def send(case: Case) -> tuple[Case, int, Any]:
        if time.monotonic() > deadline:
            return case, -1, None
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        data: Any = case.body
        if case.kind == "chunked over the limit":
            data = (case.body[i : i + 65536] for i in range(0, len(case.body), 65536))
        try:
            response = session.request(
                case.method, url + case.path, headers=case.headers, data=data, timeout=60
            )
        except requests.RequestException as exc:
            # A server may close the connection after a 413 before the body is all sent.
            return case, 0, {"error": type(exc).__name__}
        try:
            answer = response.json()
        except ValueError:
            answer = None
        return case, response.status_code, answer

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(send, batch))


def inbox_rows(database_url: str) -> list[dict[str, Any]]:
    from sqlmodel import select

    from bridge.store.db import make_engine, unit_of_work
    from bridge.store.models import InboxDelivery

    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            return [
                {
                    "id": row.id,
                    "status": row.status,
                    "body": row.body,
                    "headers": row.headers or {},
                    "resource_id": row.resource_id,
                    "error": row.last_error,
                }
                for row in session.exec(select(InboxDelivery)).all()
            ]
    finally:
        engine.dispose()


def received_count(database_url: str) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from bridge.store.db import make_engine, unit_of_work
    from bridge.store.models import InboxDelivery

    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(InboxDelivery)
                    .where(InboxDelivery.status == "received")
                ).one()
            )
    finally:
        engine.dispose()


def make_token(database_url: str) -> str:
    from bridge.services.operations import create_token
    from bridge.store.db import make_engine, unit_of_work

    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        _, token = create_token(session, "fuzz", "write")
        session.commit()
    engine.dispose()
    return token


def delivery_status(database_url: str, inbox_id: int) -> str:
    from bridge.store.db import make_engine, unit_of_work
    from bridge.store.models import InboxDelivery

    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            row = session.get(InboxDelivery, inbox_id)
            return f"{row.status}: {row.last_error}" if row else "missing"
    finally:
        engine.dispose()


def ordinary_order_latency(url: str, database_url: str, order_id: int) -> dict[str, Any]:
    """Seconds from posting an ordinary order to its inbox row being processed."""
    from datetime import UTC, datetime

    payload = order_payload(
        order_id,
        [Line("MENTOR-1H", 1, 60.0)],
        email=f"after-fuzz-{order_id}@example.com",
        status="processing",
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )
    body = php_json(payload)
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": sign(body, WEBHOOK_SECRET),
        "X-WC-Webhook-Delivery-ID": f"after-{order_id}",
    }
    began = time.monotonic()
    response = requests.post(url + RECEIVER, data=body, headers=headers, timeout=30)
    answer = response.json()
    inbox_id = answer.get("inbox_id")
    status = "no inbox id"
    while inbox_id is not None and time.monotonic() - began < 60:
        status = delivery_status(database_url, inbox_id)
        if status.startswith("processed"):
            return {"seconds": round(time.monotonic() - began, 2), "status": status}
        time.sleep(0.25)
    return {"seconds": None, "status": status, "answer": answer}


def run_target(
    name: str, kind: str, requests_count: int, concurrency: int, seed: int, budget: float
) -> dict[str, Any]:
    with database(kind, f"fuzz_{name}") as database_url:
        cwd = scratch_dir(f"bench-fuzz-{name}-")
        env = bridge_env(
            database_url, BRIDGE_WEBHOOK_MAX_BODY_BYTES=str(BODY_LIMIT), BRIDGE_LOG_LEVEL="INFO"
        )
        subprocess.run(  # noqa: S603
            [BRIDGE, "db", "upgrade"],
            env=env,
            cwd=cwd,
            check=True,
            capture_output=True,
            timeout=120,
        )
        token = make_token(database_url)
        port = free_port()
        if name == "serve":
            argv = [BRIDGE, "serve", "--port", str(port), "--no-scheduler"]
        else:
            # The Procfile's web line, bound to the loopback only.
            argv = [
                str(BIN / "gunicorn"),
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
                "webhooks:create_app()",
            ]
        batch = list(cases(seed, requests_count, secret=WEBHOOK_SECRET, token=token))
        for index in range(0, len(batch), 500):
            batch[index] = chunked_case(index)
        with Target(name, argv, env, cwd, port) as target:
            for _ in range(20):  # warm-up
                requests.get(target.url + "/healthz", timeout=10)
            memory_before = target.memory()
            peak = [memory_before]
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.5):
                    peak[0] = max(peak[0], target.memory())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            began = time.monotonic()
            answers = send_all(target.url, batch, concurrency, budget)
            wall = time.monotonic() - began
            # Let the processing threads finish the backlog first: the ordinary order then
            # shows whether anything is wedged, not how long the queue in front of it was.
            drained_after = None
            while time.monotonic() - began < wall + 900:
                if received_count(database_url) == 0:
                    drained_after = round(time.monotonic() - began - wall, 1)
                    break
                time.sleep(2)
            latency = ordinary_order_latency(target.url, database_url, 9_999_001)
            stop.set()
            sampler.join()
            memory_after = target.memory()
            server_log = target.log_text()
        rows = inbox_rows(database_url)
    statuses = Counter(str(status) for _, status, _ in answers)
    unsigned = 0
    for row in rows:
        headers = {key.lower(): value for key, value in row["headers"].items()}
        if not verify(row["body"] or b"", WEBHOOK_SECRET, headers.get("x-wc-webhook-signature")):
            unsigned += 1
    poisoned: Counter[str] = Counter()
    for case, status, answer in answers:
        if case.poisoned:
            outcome = (answer or {}).get("status") if status == 200 else str(status)
            poisoned[str(outcome)] += 1
    rows_by_status = Counter(row["status"] for row in rows)
    five = sum(n for status, n in statuses.items() if status.isdigit() and int(status) >= 500)
    return {
        "target": name,
        "database": kind,
        "requests": len(answers),
        "sent_within_budget": sum(1 for _, status, _ in answers if status != -1),
        "wall_seconds": round(wall, 1),
        "statuses": dict(sorted(statuses.items())),
        "five_xx": five,
        "tracebacks_in_log": server_log.count("Traceback"),
        "unsigned_rows": unsigned,
        "rows_by_status": dict(rows_by_status),
        "poisoned": dict(poisoned),
        "backlog_processed_after_sending_seconds": drained_after,
        "ordinary_order_processed_after_seconds": latency["seconds"],
        "ordinary_order": latency,
        "memory_mb": {
            "before": memory_before,
            "peak": peak[0],
            "after": memory_after,
            "growth": round(peak[0] - memory_before, 1),
        },
        "log_error_lines": sum(
            1 for line in server_log.splitlines() if " ERROR " in line or " CRITICAL " in line
        ),
    }


def database_growth(deliveries: int) -> dict[str, Any]:
    """SQLite file size after ``deliveries`` ordinary orders, then after retention."""
    from datetime import UTC, datetime

    from bridge.services.inbox import Delivery, apply_retention, process_delivery, record_delivery
    from bridge.services.orders import build_handlers
    from bridge.settings import Settings
    from bridge.store.db import make_engine, upgrade
    from bridge.store.models import utcnow

    # The pipeline's per-order warnings (no shop prices, so no stack coupon) are not the point.
    logging.getLogger().setLevel(logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="bench-fuzz-size-"))
    path = folder / "bridge.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings().replace(
        database={"url": url},
        catalogue={"file": CATALOG},
        shop={"webhook_secret": WEBHOOK_SECRET},
    )
    handlers = build_handlers(engine, settings)
    skus = ("MENTOR-1H", "MENTOR-PACK-3H", "PROJ-DATAVIZ", "BUNDLE-DV-STACK")
    began = time.monotonic()
    for index in range(deliveries):
        payload = order_payload(
            100_000 + index,
            [Line(skus[index % 4], 1, 60.0)],
            email=f"size-{index % 2000}@example.com",
            status="processing",
            now=datetime(2026, 11, 1, tzinfo=UTC),
        )
        body = php_json(payload)
        delivery = Delivery(
            "order.created",
            "1",
            f"size-{index}",
            {"X-WC-Webhook-Signature": sign(body, WEBHOOK_SECRET)},
            body,
            json.loads(body),
        )
        recorded = record_delivery(engine, delivery, handled=frozenset(handlers))
        process_delivery(engine, recorded.inbox_id, handlers, max_attempts=8)
    seconds = time.monotonic() - began

    def size() -> float:
        total = sum(p.stat().st_size for p in folder.glob("bridge.db*"))
        return round(total / 1e6, 1)

    engine.dispose()
    engine = make_engine(url)
    before = size()
    # 31 days on: the bodies are past their retention; 91 days on: the rows too.
    bodies = apply_retention(
        engine,
        body_retention=timedelta(days=30),
        row_retention=timedelta(days=90),
        now=utcnow() + timedelta(days=31),
    )
    after_bodies = size()
    rows = apply_retention(
        engine,
        body_retention=timedelta(days=30),
        row_retention=timedelta(days=90),
        now=utcnow() + timedelta(days=91),
    )
    engine.dispose()
    after = size()
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "deliveries": deliveries,
        "seconds": round(seconds, 1),
        "mb_before_retention": before,
        "mb_after_body_retention": after_bodies,
        "mb_after_retention": after,
        "bodies_dropped": bodies.bodies_dropped,
        "rows_deleted": rows.rows_deleted,
        "pages_reclaimed": bodies.pages_reclaimed + rows.pages_reclaimed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=900,
        help="upper bound on the sending time per target",
    )
    parser.add_argument("--targets", default="serve:sqlite,gunicorn:postgresql")
    parser.add_argument(
        "--size-deliveries",
        type=int,
        default=10_000,
        help="ordinary deliveries for the database size figure (0: skip)",
    )
    args = parser.parse_args(argv)
    os.chdir(REPO)
    results: dict[str, Any] = {"targets": []}
    for spec in args.targets.split(","):
        name, kind = spec.split(":")
        log(f"fuzz: {args.requests} requests against {name} on {kind}")
        result = run_target(
            name, kind, args.requests, args.concurrency, args.seed, args.budget_seconds
        )
        log(json.dumps(result, indent=1))
        results["targets"].append(result)
    if args.size_deliveries:
        log(f"fuzz: database size after {args.size_deliveries} deliveries")
        results["size"] = database_growth(args.size_deliveries)
        log(json.dumps(results["size"], indent=1))
    rows = [
        [
            r["target"],
            r["database"],
            r["requests"],
            r["five_xx"],
            r["tracebacks_in_log"],
            r["unsigned_rows"],
            json.dumps(r["poisoned"], sort_keys=True),
            r["ordinary_order_processed_after_seconds"],
            r["memory_mb"]["growth"],
        ]
        for r in results["targets"]
    ]
    print(
        table(
            rows,
            [
                "target",
                "db",
                "requests",
                "5xx",
                "tracebacks",
                "unsigned rows",
                "poisoned outcomes",
                "order after (s)",
                "memory growth MB",
            ],
        )
    )
    if "size" in results:
        size = results["size"]
        print(
            f"database after {size['deliveries']} deliveries: {size['mb_before_retention']} MB;"
            f" bodies dropped (30 days): {size['mb_after_body_retention']} MB;"
            f" rows deleted too (90 days): {size['mb_after_retention']} MB"
        )
    save("fuzz", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
