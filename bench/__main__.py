"""Run every benchmark in turn: ``python -m bench`` (or ``bash bench/run_all.sh``).

Figures are printed; each benchmark also writes JSON to bench/results/ (ignored by git).
Sizes come from the environment, so a quick smoke run is ``BENCH_QUICK=1 python -m bench``:

  BENCH_INGEST_DELIVERIES   2000                deliveries per target (ingest)
  BENCH_SYNC_SIZES          1000,10000,100000   order counts (sync)
  BENCH_SYNC_BUDGET_MIN     40                  skip sync sizes estimated to take longer
  BENCH_WRITEBACK_SIZES     1000,3000           orders whose write-backs are drained
  BENCH_PROFILE_ORDERS      500                 orders in the profiled sync
  BENCH_DATABASES           sqlite,postgresql   databases for ingest
"""

from __future__ import annotations

import os
import sys
import time

from bench import ingest, profile_sync, sync, writeback
from bench.common import log, machine


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    if quick:
        os.environ.setdefault("BENCH_TAG", "quick")  # results never replace the real ones
    env = os.environ.get
    steps = [
        (
            "ingest",
            ingest.main,
            [
                "--deliveries",
                env("BENCH_INGEST_DELIVERIES", "200" if quick else "2000"),
                "--warmup",
                "20" if quick else "100",
                "--databases",
                env("BENCH_DATABASES", "sqlite,postgresql"),
            ],
        ),
        (
            "sync",
            sync.main,
            [
                "--sizes",
                env("BENCH_SYNC_SIZES", "100,300" if quick else "1000,10000,100000"),
                "--budget-minutes",
                env("BENCH_SYNC_BUDGET_MIN", "40"),
            ],
        ),
        (
            "writeback",
            writeback.main,
            [
                "--sizes",
                env("BENCH_WRITEBACK_SIZES", "100" if quick else "1000,3000"),
                "--resync-up-to",
                "100" if quick else "1000",
            ],
        ),
        (
            "profile",
            profile_sync.main,
            ["--orders", env("BENCH_PROFILE_ORDERS", "50" if quick else "500")],
        ),
    ]
    only = [s for s in env("BENCH_ONLY", "").split(",") if s]
    print(f"machine: {machine()}")
    failed = []
    for name, run, args in steps:
        if only and name not in only:
            continue
        print(
            f"\n== {name}: python -m bench.{'profile_sync' if name == 'profile' else name} "
            f"{' '.join(args)}",
            flush=True,
        )
        started = time.monotonic()
        try:
            code = run(args)
        except Exception as exc:  # noqa: BLE001  (one benchmark failing must not hide the rest)
            log(f"{name} failed: {type(exc).__name__}: {exc}")
            code = 1
        print(f"({name}: {time.monotonic() - started:.0f}s)", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
