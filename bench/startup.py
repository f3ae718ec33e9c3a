"""How fast the CLI starts: `bridge --version` and `bridge --help` against `import flask`.

In one run, ``--runs`` times each (default 5), taken in turn so that a busy moment hits all
three alike: ``python -c "import flask"`` (the yardstick), ``bridge --version`` and
``bridge --help`` (the console script of this virtualenv, as a user runs it). Reported: the
median wall time of each and the ratios to the yardstick (target: at most 2x), and the same for
the CPU time of each process (user + system), which a busy machine disturbs far less.

    python -m bench.startup --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import BRIDGE, PYTHON, log, save, table

COMMANDS: dict[str, list[str]] = {
    "import flask": [PYTHON, "-c", "import flask"],
    "bridge --version": [BRIDGE, "--version"],
    "bridge --help": [BRIDGE, "--help"],
}
YARDSTICK = "import flask"


def wall(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of that process alone) of one run."""
    began = time.perf_counter()
    cwd = (env or {}).get("BENCH_CWD")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env, cwd=cwd)  # noqa: S603
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime


def other_checkout(path: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """`python -m bridge --version` / `--help` of another checkout (e.g. the code before a
    change, from `git archive`), measured in the same run."""
    # Run there: `python -m` puts the working directory first on the path.
    env = {**os.environ, "PYTHONPATH": os.path.abspath(path), "BENCH_CWD": os.path.abspath(path)}
    return {
        f"{path}: bridge --version": ([PYTHON, "-m", "bridge", "--version"], env),
        f"{path}: bridge --help": ([PYTHON, "-m", "bridge", "--help"], env),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--also", action="append", default=[], help="another checkout to measure beside this one"
    )
    args = parser.parse_args(argv)
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        name: (command, None) for name, command in COMMANDS.items()
    }
    for path in args.also:
        commands.update(other_checkout(path))
    for command, env in commands.values():  # once each first: the file system cache is warm
        wall(command, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, (command, env) in commands.items():
            elapsed, used = wall(command, env)
            times[name].append(elapsed)
            cpu[name].append(used)
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    results: list[dict[str, Any]] = [
        {
            "command": name,
            "median_s": round(medians[name], 3),
            "runs_s": [round(t, 3) for t in times[name]],
            "ratio": round(medians[name] / medians[YARDSTICK], 2),
            "cpu_median_s": round(cpu_medians[name], 3),
            "cpu_ratio": round(cpu_medians[name] / cpu_medians[YARDSTICK], 2),
        }
        for name in commands
    ]
    path = save("startup", {"runs": args.runs, "results": results})
    rows = [
        [
            r["command"],
            f"{r['median_s']:.3f}",
            " ".join(f"{t:.3f}" for t in r["runs_s"]),
            r["ratio"],
            f"{r['cpu_median_s']:.3f}",
            r["cpu_ratio"],
        ]
        for r in results
    ]
    header = ["command", "median s", "runs s", f"/ {YARDSTICK}", "CPU s (median)", "CPU ratio"]
    print(table(rows, header))
    log(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
