"""Bounded report work (issue 36, S4): a 1,000-year report, and deliveries beside long reports.

Per database, on 127.0.0.1: `bridge serve --no-scheduler` (one gunicorn process, 4 request
threads, its processing thread) on a fresh database, seeded with N ordinary orders posted to
the receiver and processed. Then, with a read token:

1. one `GET /report?since=0001-01-01&until=9999-12-31` (the probe's request): status and time
   (the client gives up after --report-timeout seconds);
2. the probe's load: 4 such reports at once and, once they run, 8 signed WooCommerce deliveries
   one after the other (each given --delivery-timeout seconds): statuses and latencies of both;
3. the same load with the longest period allowed (--allowed-since / until: two years);
4. the same load with reports of the default period that hold their read transaction open for
   --hold-seconds (a stand-in for a report over a large shop): the server is then
   `python -m bench.report_limits --serve-held PORT SECONDS`, webhooks.server as `bridge serve`
   runs it (one gunicorn process, 4 threads) with the report's reading slowed.

    python -m bench.report_limits --orders 300
    python -m bench.report_limits --databases sqlite --report-timeout 60

Imports only the bridge's own code (run from an older checkout it measures that code).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from bench.common import (
    BRIDGE,
    PYTHON,
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
from bridge.services.operations import create_token, signed_delivery
from bridge.services.operations.simulation import SignedDelivery
from bridge.store.db import make_engine, unit_of_work

THOUSAND_YEARS = ("0001-01-01", "9999-12-31")


def delivery(orders: Orders, i: int) -> SignedDelivery:
    return signed_delivery(
        "order.updated", orders.order(i), WEBHOOK_SECRET, source="https://shop.example.com/"
    )


def post(url: str, item: SignedDelivery, timeout: float) -> tuple[str, float]:
    began = time.perf_counter()
    try:
        status = str(
            requests.post(
                f"{url}/webhooks/woocommerce", data=item.body, headers=item.headers, timeout=timeout
            ).status_code
        )
    except requests.Timeout:
        status = "timeout"
    except requests.RequestException as exc:
        status = type(exc).__name__
    return status, time.perf_counter() - began


def get_report(url: str, token: str, period: tuple[str, str], timeout: float) -> tuple[str, float]:
    began = time.perf_counter()
    try:
        status = str(
            requests.get(
                f"{url}/report",
                params={"token": token, "since": period[0], "until": period[1]},
                timeout=timeout,
            ).status_code
        )
    except requests.Timeout:
        status = "timeout"
    except requests.RequestException as exc:
        status = type(exc).__name__
    return status, time.perf_counter() - began


def wait_processed(database_url: str, timeout: float) -> float:
    """Seconds until no delivery is left 'received' (bounded by ``timeout``)."""
    engine = make_engine(database_url)
    began = time.monotonic()
    try:
        while time.monotonic() - began < timeout:
            with engine.connect() as connection:
                left = connection.execute(
                    text("SELECT count(*) FROM inbox WHERE status = 'received'")
                ).scalar()
            if not left:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    return time.monotonic() - began


def read_token(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            _, token = create_token(session, "bench-phone", "read")
            session.commit()
    finally:
        engine.dispose()
    return token


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def load(
    url: str,
    token: str,
    period: tuple[str, str],
    orders: Orders,
    first: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """``args.reports`` reports at once; once they run, ``args.deliveries`` deliveries in turn."""
    reports: list[tuple[str, float]] = []
    answered: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        answer = get_report(url, token, period, args.report_timeout)
        with lock:
            reports.append(answer)
            answered.append(time.monotonic())

    threads = [threading.Thread(target=one, daemon=True) for _ in range(args.reports)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the reports are in the server's threads (or answered already)
    deliveries = [
        post(url, delivery(orders, first + i), args.delivery_timeout)
        for i in range(args.deliveries)
    ]
    deliveries_done = time.monotonic()
    for thread in threads:
        thread.join(args.report_timeout + 5)
    latencies = sorted(seconds for status, seconds in deliveries if status == "200")
    return {
        "period": list(period),
        "reports": sorted([status, ms(seconds)] for status, seconds in reports),
        "reports_still_running_after_the_deliveries": sum(
            1 for at in answered if at > deliveries_done
        ),
        "deliveries": {
            "statuses": [status for status, _ in deliveries],
            "ok": len(latencies),
            "sent": len(deliveries),
            "median_ms": ms(latencies[len(latencies) // 2]) if latencies else None,
            "max_ms": ms(max(seconds for _, seconds in deliveries)),
        },
    }


def serve_held(port: int, hold: float) -> None:
    """What `bridge serve` runs (webhooks.server: one gunicorn process, 4 threads), the report
    holding its read transaction ``hold`` seconds after reading its rows."""
    from bridge.services.reporting import report
    from bridge.settings import load_settings
    from webhooks import create_app
    from webhooks.server import run_server

    original = report.load_rows

    def held(session: Any, end: Any) -> Any:
        rows = original(session, end)
        time.sleep(hold)
        return rows

    report.load_rows = held  # type: ignore[assignment]
    settings = load_settings()
    run_server(
        create_app(settings, make_engine(settings.database.url)),
        host="127.0.0.1",
        port=port,
        threads=4,
    )


@contextmanager
def serving(env: dict[str, str], cwd: str, hold: float | None = None) -> Iterator[str]:
    """`bridge serve` on a free port (4 threads, its processing thread); its URL. With
    ``hold``: the same server with the report's reading held that long."""
    port = free_port()
    argv = [BRIDGE, "serve", "--port", str(port), "--no-scheduler"]
    if hold is not None:
        argv = [PYTHON, "-m", "bench.report_limits", "--serve-held", str(port), str(hold)]
        env = {**env, "PYTHONPATH": str(REPO)}
    workers: list[int] = []
    try:
        with ServerProcess(argv, env, cwd, port, open(f"{cwd}/serve.log", "a+b")) as server:  # noqa: SIM115
            assert server.proc is not None
            children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
            workers = [int(pid) for pid in children.read_text().split()]
            yield server.url
    finally:
        for pid in workers:  # a worker still busy with a report outlives its killed arbiter
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


PARTS = ("single", "thousand", "allowed", "held")


def run_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "database": kind,
        "orders": args.orders,
        "hold_seconds": args.hold_seconds,
    }
    parts = args.parts.split(",")
    with database(kind, "report_limits") as database_url:
        cwd = scratch_dir(f"bench-report-{kind}-")
        env = bridge_env(database_url, BRIDGE_LOG_LEVEL="WARNING")
        bridge(["db", "upgrade"], env, cwd=cwd, timeout=300)
        token = read_token(database_url)
        orders = Orders(args.orders + 1000, base=datetime(2025, 1, 1), step_seconds=100_000)
        seeded_at = time.monotonic()
        with serving(env, cwd) as url:
            seeded = [post(url, delivery(orders, i), 30) for i in range(args.orders)]
            wait_processed(database_url, 600)
        log(
            f"{kind}: seeded {sum(s == '200' for s, _ in seeded)} orders "
            f"({time.monotonic() - seeded_at:.0f}s)"
        )
        # Each part on a server of its own: a report the client gave up on may still run.
        if "single" in parts:
            with serving(env, cwd) as url:
                status, seconds = get_report(url, token, THOUSAND_YEARS, args.report_timeout)
            result["thousand_years"] = {"status": status, "ms": ms(seconds)}
            log(f"{kind}: 1,000-year report: {status} in {seconds:.2f}s")
        loads = {
            "thousand": (THOUSAND_YEARS, None),
            "allowed": ((args.allowed_since, args.allowed_until), None),
            "held": (("", ""), args.hold_seconds),
        }
        for number, (name, (period, hold)) in enumerate(loads.items()):
            if name not in parts:
                continue
            with serving(env, cwd, hold=hold) as url:
                result[name] = load(
                    url, token, period, orders, args.orders + number * args.deliveries, args
                )
            log(f"{kind}: {name}: {result[name]}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--orders", type=int, default=300, help="orders seeded per database")
    parser.add_argument("--reports", type=int, default=4, help="long reports at once")
    parser.add_argument(
        "--deliveries", type=int, default=8, help="signed deliveries sent while they run"
    )
    parser.add_argument("--report-timeout", type=float, default=60.0)
    parser.add_argument("--delivery-timeout", type=float, default=10.0)
    parser.add_argument("--allowed-since", default="2025-01-01")
    parser.add_argument("--allowed-until", default="2027-01-01")
    parser.add_argument(
        "--hold-seconds",
        type=float,
        default=8.0,
        help="how long the held reports keep their transaction open",
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="which parts to run (comma list of " + ", ".join(PARTS) + ")",
    )
    parser.add_argument(
        "--serve-held",
        nargs=2,
        metavar=("PORT", "SECONDS"),
        help="(internal) run the server whose report is held",
    )
    args = parser.parse_args(argv)
    if args.serve_held:
        serve_held(int(args.serve_held[0]), float(args.serve_held[1]))
        return 0
    results = [run_database(kind, args) for kind in args.databases.split(",") if kind]
    rows = []
    for result in results:
        for name in ("thousand", "allowed", "held"):
            part = result.get(name)
            if part is None:
                continue
            what = (
                f"default period, held {result['hold_seconds']:g} s"
                if name == "held"
                else " to ".join(part["period"])
            )
            rows.append(
                [
                    result["database"],
                    what,
                    " ".join(
                        f"{status} ({millis / 1000:.1f} s)" for status, millis in part["reports"]
                    ),
                    part["reports_still_running_after_the_deliveries"],
                    f"{part['deliveries']['ok']}/{part['deliveries']['sent']}",
                    part["deliveries"]["median_ms"],
                    part["deliveries"]["max_ms"],
                ]
            )
    print(
        table(
            [
                [r["database"], r["thousand_years"]["status"], r["thousand_years"]["ms"]]
                for r in results
                if "thousand_years" in r
            ],
            ["database", "1,000-year report", "ms"],
        )
    )
    print()
    print(
        table(
            rows,
            [
                "database",
                "4 reports at once",
                "answers",
                "still running after the deliveries",
                "deliveries 200",
                "median ms",
                "max ms",
            ],
        )
    )
    save("report_limits", {"results": results, "bridge": BRIDGE})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
