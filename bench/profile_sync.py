"""Where a full order sync spends its time: cProfile, plus SQL statements per bridge function.

Runs the orders job in this process (sync.jobs.run_job, the code `bridge sync orders --full`
runs) against the fake shop with N orders on a fresh database, under cProfile, with a
SQLAlchemy listener that attributes every SQL statement to the bridge function that issued it
and to the pipeline step it belongs to (apply_order, enqueue_writebacks, ...).

    python -m bench.profile_sync --orders 500 --database sqlite
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import RESULTS, FakeShop, bridge, bridge_env, database, save, scratch_dir, table

# Steps of a page, as called from bridge.services.orders.page_apply (the page's unit of work) and
# bridge.services.writeback.enqueue_writebacks_for; "_apply_page" is the page's own statements.
STEPS = (
    "_changed",
    "stored_refunds_of",
    "load_page",
    "lock_cohorts",
    "apply_order",
    "reconcile_claims",
    "_settle_complimentary_calls",
    "flush",
    "_apply_page",
    "order_enrolments",
    "cohort_stock_updates",
    "event_note_drafts",
    "enqueue_notes",
    "enqueue_personal_coupons",
    "customer_meta_updates",
    "enqueue_writebacks_for",
    "_orders_waiting_in",
    "_confers_now",
    "watch_since",
    "advance_cursor",
    "load_catalogue",
)
KEY_FUNCTIONS = (
    "apply_orders",
    "_apply_page",
    "load_page",
    "apply_order",
    "reconcile_claims",
    "enqueue_writebacks_for",
    "order_enrolments",
    "customer_meta_updates",
    "enqueue_updates",
    "flush",
    "iter_pages",
    "advance_cursor",
)


def _rows_in(statement: str, params: Any, executemany: bool) -> int:
    """Rows one INSERT writes: executemany rows, or a multi-row VALUES (SQLAlchemy's
    "insertmanyvalues") counted by its bound parameters per row."""
    if executemany and isinstance(params, list):
        return len(params)
    head = statement[statement.find("(") + 1 : statement.find(")")] if "(" in statement else ""
    width = head.count(",") + 1 if head else 0
    count = len(params) if isinstance(params, (list, tuple)) else len(params or {})
    return (
        max(1, count // width) if width and statement.lstrip().upper().startswith("INSERT") else 1
    )


def _origin(frame: Any) -> tuple[str, str]:
    """(innermost bridge function, pipeline step) of the code running a statement."""
    inner = step = ""
    while frame is not None:
        code = frame.f_code
        name = code.co_filename
        if ("/bridge/" in name or "/sync/" in name) and "/site-packages/" not in name:
            if not inner:
                inner = f"{Path(name).stem}.{code.co_name}"
            if code.co_name in STEPS and not step:
                step = code.co_name
        frame = frame.f_back
    return inner or "?", step or "other"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)

    from bridge.cli.operations.sync import build_ports
    from bridge.settings import load_settings
    from bridge.store.db import make_engine
    from sync.context import RunOptions
    from sync.jobs import run_job

    with FakeShop(args.orders) as shop, database(args.database, "profile") as url:
        cwd = scratch_dir("bench-profile-")
        env = bridge_env(url, shop.url, BRIDGE_LOG_LEVEL="WARNING")
        bridge(["db", "upgrade"], env, cwd=cwd)
        bridge(["sync", "catalog", "--json"], env, cwd=cwd)
        settings = load_settings(environ=env, env_file=None)
        engine = make_engine(settings.database.url)
        by_function: Counter[str] = Counter()
        by_step: Counter[str] = Counter()
        by_text: Counter[str] = Counter()  # statements by their first words
        writes: Counter[str] = Counter()  # INSERT / UPDATE / DELETE by table, rows included
        counting = {"run": "first"}

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            words = statement.split(None, 3)
            verb = words[0].upper() if words else ""
            if verb in ("INSERT", "UPDATE", "DELETE") and len(words) > 2:
                table_name = (words[1] if verb == "UPDATE" else words[2]).strip('"')
                writes[counting["run"] + ":" + table_name] += _rows_in(
                    statement, params, executemany
                )
            if counting["run"] != "first":
                by_step["again"] += 1
                return
            inner, step = _origin(sys._getframe(1))
            by_function[inner] += 1
            by_step[step] += 1
            by_text[" ".join(statement.split()[:6])[:70]] += 1

        ports = build_ports(settings, engine)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        result = run_job("orders", ports, RunOptions(full=True))
        profiler.disable()
        wall = time.perf_counter() - started
        # The same full sync again over the unchanged shop, not profiled: what a re-run costs.
        counting["run"] = "again"
        again_started = time.perf_counter()
        again = run_job("orders", ports, RunOptions(full=True))
        again_wall = time.perf_counter() - again_started
        engine.dispose()

    RESULTS.mkdir(parents=True, exist_ok=True)
    prof_path = RESULTS / f"profile-sync-{args.database}-{args.orders}.prof"
    profiler.dump_stats(prof_path)
    stats = pstats.Stats(profiler)
    total = sum(v[3] for k, v in stats.stats.items() if k[2] == "run_job") or wall  # type: ignore[attr-defined]

    def cumulative(name: str) -> float:
        return sum(v[3] for k, v in stats.stats.items() if k[2] == name)  # type: ignore[attr-defined]

    def tottime_where(predicate: Any) -> float:
        return sum(v[2] for k, v in stats.stats.items() if predicate(k))  # type: ignore[attr-defined]

    shares = {name: round(cumulative(name), 2) for name in KEY_FUNCTIONS}
    driver = tottime_where(lambda k: (k[0] == "~" and "sqlite3." in k[2]) or "/psycopg/" in k[0])
    sqlalchemy = tottime_where(lambda k: "/sqlalchemy/" in k[0] or "/sqlmodel/" in k[0])
    http = cumulative("iter_pages")
    text_out = io.StringIO()
    stats.stream = text_out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(r"bridge/|sync/", args.top)
    statements = sum(by_function.values())
    first_writes = {k.split(":", 1)[1]: n for k, n in writes.items() if k.startswith("first:")}
    again_writes = {k.split(":", 1)[1]: n for k, n in writes.items() if k.startswith("again:")}
    again_statements = by_step.pop("again", 0)
    summary = {
        "orders": args.orders,
        "database": args.database,
        "job_status": result.status,
        "wall_s_profiled": round(wall, 2),
        "run_job_s": round(total, 2),
        "statements": statements,
        "statements_per_order": round(statements / args.orders, 1),
        "rows_written": dict(sorted(first_writes.items())),
        "rows_written_per_order": round(sum(first_writes.values()) / args.orders, 1),
        "rerun_status": again.status,
        "rerun_wall_s": round(again_wall, 2),
        "rerun_statements": again_statements,
        "rerun_statements_per_order": round(again_statements / args.orders, 3),
        "rerun_rows_written": dict(sorted(again_writes.items())),
        "statements_by_step": dict(by_step.most_common()),
        "statements_by_function": dict(by_function.most_common(25)),
        "statements_by_text": dict(by_text.most_common(25)),
        "cumulative_s": shares,
        "self_time_in_sqlalchemy_s": round(sqlalchemy, 2),
        "self_time_in_db_driver_s": round(driver, 2),
        "http_fetch_s": round(http, 2),
        "pstats_top": text_out.getvalue(),
        "prof_file": str(prof_path),
    }
    path = save(f"profile-sync-{args.database}", summary)
    rows = [[step, n, f"{n / args.orders:.1f}"] for step, n in by_step.most_common()]
    print(
        f"profiled full sync of {args.orders} orders on {args.database}: {wall:.1f}s "
        f"(under cProfile), {statements} SQL statements ({statements / args.orders:.1f} "
        "per order)"
    )
    print(table(rows, ["pipeline step", "SQL statements", "per order"]))
    rows = [[name, f"{sec:.2f}", f"{100 * sec / total:.0f}%"] for name, sec in shares.items()]
    print(table(rows, ["function (cumulative)", "s", "share of run_job"]))
    print(
        f"self time inside SQLAlchemy/SQLModel: {sqlalchemy:.2f}s "
        f"({100 * sqlalchemy / total:.0f}%), inside the DB driver: {driver:.2f}s "
        f"({100 * driver / total:.0f}%), HTTP fetch of pages: {http:.2f}s"
    )
    rows = [[name, n] for name, n in by_function.most_common(15)]
    print(table(rows, ["bridge function issuing SQL", "statements"]))
    rows = [[text, n] for text, n in by_text.most_common(args.top)]
    print(table(rows, ["statement (first words)", "count"]))
    rows = [[name, n, f"{n / args.orders:.2f}"] for name, n in sorted(first_writes.items())]
    print(table(rows, ["table (first application)", "rows written", "per order"]))
    print(
        f"re-run over the unchanged shop: {again_statements} SQL statements "
        f"({again_statements / args.orders:.3f} per order), rows written "
        f"{dict(sorted(again_writes.items())) or 0}, {again_wall:.2f}s in process"
    )
    print(f"\nresults: {path}\nprofile: {prof_path} (python -m pstats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
