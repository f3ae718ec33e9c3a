"""Serve a Flask app with gunicorn in the foreground, as ``bridge serve`` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _EmbeddedGunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    # A Flask app is a WSGI app; gunicorn's stubs type the environ as a MutableMapping where
    # Flask's own annotation says dict, so the override does not line up on paper.
    def load(self) -> Flask:  # type: ignore[override]
        return self.application


def run_server(
    app: Flask,
    *,
    host: str,
    port: int,
    threads: int = 4,
    on_worker_start: Callable[[], None] | None = None,
    on_worker_exit: Callable[[], None] | None = None,
) -> None:
    """Run one gunicorn worker with threads; the hooks run inside that worker process."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": None,
        "graceful_timeout": 30,
    }
    if on_worker_start is not None:
        options["post_worker_init"] = lambda _worker: on_worker_start()
    if on_worker_exit is not None:
        options["worker_exit"] = lambda _server, _worker: on_worker_exit()
    _EmbeddedGunicorn(app, options).run()
