"""What the benchmarks share: the machine, databases, the fake shop, bridge commands, results."""

from __future__ import annotations

import atexit
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import requests

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CATALOG = REPO / "catalog.example.toml"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
BRIDGE = str(BIN / "bridge") if (BIN / "bridge").exists() else (shutil.which("bridge") or "bridge")
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 (a throw-away local secret)
DEFAULT_CONNECTIONS = 3  # BRIDGE_HTTP_CONNECTIONS's default
CONSUMER_KEY = "ck_bench0000000000000000000000000000000000"
CONSUMER_SECRET = "cs_bench0000000000000000000000000000000000"  # noqa: S105


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """nproc, CPU model and RAM from /proc, Python and PostgreSQL versions."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Poll a loopback URL until it answers (anything), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout:.0f}s") from None
            time.sleep(0.1)


class ServerProcess:
    """A server process on 127.0.0.1 writing its output to ``log``: ready once its
    ``/healthz`` answers, stopped with SIGTERM (then killed after 30 s) on exit."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: str, port: int, log: IO[bytes]
    ) -> None:
        self.argv, self.env, self.cwd, self.log = argv, env, cwd, log
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(  # noqa: S603
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self.log,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        wait_http(f"{self.url}/healthz", timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def log_bytes(self) -> bytes:
        """What the server has written so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def scratch_dir(prefix: str) -> str:
    """A temporary working directory (where bridge commands run), removed when this exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


# --- databases ---------------------------------------------------------------------------------


@contextmanager
def database(kind: str, name: str) -> Iterator[str]:
    """A fresh, empty database URL (SQLite file in a temp dir, or a new PostgreSQL database),
    dropped afterwards."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix=f"bench-{name}-")
        try:
            yield f"sqlite:///{folder}/bridge.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if kind != "postgresql":
        raise ValueError(kind)
    import psycopg

    db_name = f"bench_{name}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        yield f"{base}/{db_name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


# Compiled modules of the bridge's processes (the first command of a run writes them): an
# installed service runs from bytecode, as its dependencies here already do, where a
# PYTHONDONTWRITEBYTECODE environment would compile every bridge module again in every command.
PYCACHE = Path(tempfile.gettempdir()) / "creator-bridge-bench-pycache"


def bridge_env(database_url: str, shop_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a bridge process runs with here: this venv, one database, one shop."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WOOCOMMERCE_", "BRIDGE_", "DATABASE_URL"))
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        PYTHONPYCACHEPREFIX=str(PYCACHE),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=database_url,
        WOOCOMMERCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        BRIDGE_CATALOG_FILE=str(CATALOG),
        BRIDGE_SYNC_ENABLED="false",
    )
    if shop_url:
        env.update(
            WOOCOMMERCE_URL=shop_url,
            WOOCOMMERCE_CONSUMER_KEY=CONSUMER_KEY,
            WOOCOMMERCE_CONSUMER_SECRET=CONSUMER_SECRET,
            # What production uses (https): Basic auth. Over plain http "auto" would
            # sign every request with OAuth 1.0a, which a real shop on https never needs.
            BRIDGE_WOO_AUTH="basic",
        )
    env.update(extra)
    return env


@dataclass
class Run:
    """A finished child process: exit code, wall time, peak memory (this process alone)."""

    argv: list[str]
    returncode: int
    wall_s: float
    maxrss_mb: float
    user_s: float
    sys_s: float
    stdout: str
    stderr_tail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "wall_s": round(self.wall_s, 3),
            "maxrss_mb": round(self.maxrss_mb, 1),
            "user_s": round(self.user_s, 2),
            "sys_s": round(self.sys_s, 2),
        }


def run_measured(
    argv: list[str],
    env: dict[str, str],
    *,
    cwd: str,
    timeout: float,
    stderr_path: Path | None = None,
) -> Run:
    """Run a command to its end (killed after ``timeout``), with os.wait4's rusage for it alone."""
    err = open(stderr_path, "w+b") if stderr_path else tempfile.TemporaryFile()  # noqa: SIM115
    out = tempfile.TemporaryFile()  # noqa: SIM115 (both closed in finally)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603
            argv,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        tail = err.read()[-4000:].decode("utf-8", "replace")
    finally:
        out.close()
        err.close()
    assert usage is not None
    return Run(
        argv,
        proc.returncode,
        wall,
        usage.ru_maxrss / 1024,
        usage.ru_utime,
        usage.ru_stime,
        stdout,
        tail,
    )


def bridge(
    args: list[str],
    env: dict[str, str],
    *,
    cwd: str,
    timeout: float = 600,
    stderr_path: Path | None = None,
    check: bool = True,
) -> Run:
    run = run_measured([BRIDGE, *args], env, cwd=cwd, timeout=timeout, stderr_path=stderr_path)
    if check and run.returncode != 0:
        raise RuntimeError(
            f"bridge {' '.join(args)} exited {run.returncode}:\n{run.stdout[-2000:]}"
            f"\n{run.stderr_tail}"
        )
    return run


def job_json(run: Run) -> dict[str, Any]:
    """The one job result `bridge sync JOB --json` printed."""
    results = json.loads(run.stdout)
    return results[0] if isinstance(results, list) else results


# --- the fake shop -----------------------------------------------------------------------------


class FakeShop:
    """bench/fake_shop.py as a child process on 127.0.0.1; stopped on exit."""

    def __init__(
        self,
        orders: int,
        *,
        refund_every: int = 0,
        cohort_every: int = 0,
        latency_ms: float = 0.0,
        page_ms: float = 0.0,
        max_seconds: float = 7200,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.argv = [
            PYTHON,
            "-m",
            "bench.fake_shop",
            "--orders",
            str(orders),
            "--refund-every",
            str(refund_every),
            "--cohort-every",
            str(cohort_every),
            "--latency-ms",
            str(latency_ms),
            "--page-ms",
            str(page_ms),
            "--max-seconds",
            str(max_seconds),
            *extra,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FakeShop:
        self.proc = subprocess.Popen(  # noqa: S603
            self.argv,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"fake shop did not start: {line!r}")
        self.url = line
        self.session = requests.Session()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def api(self) -> str:
        return f"{self.url}/wp-json/wc/v3"

    def stats(self) -> dict[str, Any]:
        return self.session.get(f"{self.url}/__bench/stats", timeout=10).json()

    def reset(self) -> None:
        self.session.post(f"{self.url}/__bench/reset", timeout=10).raise_for_status()


def bare_fetch(
    shop: FakeShop, pages: int, *, connections: int = 1, timeout: float = 900
) -> dict[str, Any]:
    """The same order pages the full sync reads, with no processing: one requests.Session page
    after page, or with ``connections`` > 1 the first page, then the others on that many
    connections at once (as the bridge's client reads ahead), each thread its own session."""
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()
    url = f"{shop.api}/orders"
    deadline = time.monotonic() + timeout

    def session() -> requests.Session:
        found = getattr(local, "session", None)
        if found is None:
            found = local.session = requests.Session()
            found.auth = (CONSUMER_KEY, CONSUMER_SECRET)
            found.headers.update({"Accept": "application/json"})
            with lock:
                sessions.append(found)
        return found

    def page(number: int) -> tuple[int, int]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"bare fetch beyond {timeout} s")
        params: dict[str, str | int] = {
            "per_page": 100,
            "orderby": "modified",
            "order": "asc",
            "page": number,
        }
        response = session().get(url, params=params, timeout=60)
        response.raise_for_status()
        return len(response.content), int(response.headers.get("X-WP-TotalPages", "0"))

    start = time.perf_counter()
    try:
        fetched, total_pages = page(1)
        last = min(max(1, pages), total_pages)
        if connections <= 1:
            for number in range(2, last + 1):
                fetched += page(number)[0]
        else:
            with ThreadPoolExecutor(connections) as pool:
                fetched += sum(size for size, _ in pool.map(page, range(2, last + 1)))
    finally:
        for opened in sessions:
            opened.close()
    return {
        "wall_s": time.perf_counter() - start,
        "requests": max(1, last),
        "bytes": fetched,
        "connections": connections,
    }


# --- results -----------------------------------------------------------------------------------


def save(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>-<UTC time>.json and bench/results/<name>-latest.json.

    With BENCH_TAG set (the quick smoke run sets "quick"), the name carries the tag, so a smoke
    run never replaces the latest real figures.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    if os.environ.get("BENCH_TAG"):
        name = f"{name}-{os.environ['BENCH_TAG']}"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {"benchmark": name, "finished_at": stamp, "machine": machine(), **data}
    text = json.dumps(data, indent=2, default=str)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path


def live_processes(root: int) -> list[int]:
    """``root`` and every process below it that is alive now (Linux /proc; [] elsewhere)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        found.append(pid)
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A Markdown table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells[1:]
    ]
    return "\n".join(lines)


def self_rusage_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
