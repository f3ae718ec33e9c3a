"""Process-wide tuning every entry point applies once it does real work (commands that use
the database, the web app under gunicorn, the worker, the scheduler).

The garbage collector: with CPython's default thresholds a page of orders triggers hundreds
of young-generation collections, each walking the rows, statements and dicts just made, which
cost about a sixth of the CPU of applying the page (measured with ``bench/order_cpu.py``).
Collecting every 10,000 allocations instead keeps the same bound on garbage cycles with a
fraction of the passes.

At the exit of a command: CPython's last full collection walks every object the command still
holds, to free memory the operating system takes back anyway (0.3 s after a sync of 10,000
orders, a tenth of the command). A command skips it; objects are still finalised as modules are
torn down, and logging's handlers are still flushed and closed.
"""

from __future__ import annotations

import atexit
import gc

# (young, middle, old) generation thresholds; CPython's defaults are (700, 10, 10).
COLLECTOR_THRESHOLDS = (10_000, 20, 20)


def tune_collector() -> None:
    """Set the garbage collector's thresholds (idempotent)."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


_exit_hooked = False


def skip_final_collection() -> None:
    """At exit, freeze the heap instead of collecting it one last time (idempotent)."""
    global _exit_hooked
    if not _exit_hooked:
        _exit_hooked = True
        atexit.register(gc.freeze)
