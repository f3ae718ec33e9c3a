#!/usr/bin/env bash
# Every benchmark, one after the other: figures on stdout, JSON in bench/results/ (git-ignored).
# Uses the project's virtualenv when there is one (PYTHON=... to choose another interpreter).
# Sizes: see bench/__main__.py (BENCH_QUICK=1 for a smoke run of a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    for candidate in .venv/bin/python venv/bin/python /work/venv/bin/python; do
        if [[ -x "$candidate" ]]; then PYTHON="$candidate"; break; fi
    done
fi
PYTHON="${PYTHON:-python3}"
mkdir -p bench/results
"$PYTHON" -m bench "$@" 2>&1 | tee "bench/results/run_all-$(date -u +%Y%m%dT%H%M%SZ).log"
