"""A real server and Debian's Chromium for the browser tests.

The app is served by werkzeug's threaded server on 127.0.0.1 and a free port, in a thread of
the test process; Chromium is Debian's (/usr/bin/chromium, installed by .ci/run when missing),
driven by Playwright without any browser download. On CI (CI=true) a missing browser fails
the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> Any:
    """Playwright's sync API, or a skip (a failure on CI) saying what is missing."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem, sync_playwright = f"playwright is not installed ({exc})", None
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run on CI: {problem}")
        pytest.skip(problem)
    return sync_playwright


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve the app on 127.0.0.1 and a free port until the block ends; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def copy_sqlite(template: Path, folder: Path) -> str:
    path = folder / "bridge.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"
