"""Flask app factory: ``create_app()`` for gunicorn, ``create_app(settings, engine)`` for tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app, jsonify
from sqlalchemy import Engine

from bridge import __version__
from bridge.db import DatabaseUnavailable, make_engine, schema_status
from bridge.settings import Settings, load_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """What request handlers need: the settings and the database engine."""

    settings: Settings
    engine: Engine


def runtime() -> Runtime:
    return current_app.extensions["bridge"]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the receiver; settings and engine come from the environment when not given."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    app = Flask("creator-bridge")
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    app.json.sort_keys = False
    app.extensions["bridge"] = Runtime(settings=settings, engine=engine)
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/readyz", view_func=readyz)
    if not settings.shop_configured:
        log.warning("shop not configured (WOOCOMMERCE_URL unset): sync is off")
    return app


def _database_report(engine: Engine) -> tuple[bool, dict[str, object]]:
    try:
        status = schema_status(engine)
    except DatabaseUnavailable as exc:
        return False, {"database": "unavailable", "error": str(exc)}
    report: dict[str, object] = {
        "database": "ok",
        "schema": {"current": status.current, "head": status.head,
                   "up_to_date": status.up_to_date},
    }
    return status.up_to_date, report


def healthz():  # type: ignore[no-untyped-def]
    """Liveness: the process answers; the body says how the database and the shop look."""
    rt = runtime()
    _, report = _database_report(rt.engine)
    body = {
        "status": "ok",
        "version": __version__,
        **report,
        "shop": "configured" if rt.settings.shop_configured else "not configured",
        "sync": "on" if rt.settings.sync_active else "off",
    }
    return jsonify(body), 200


def readyz():  # type: ignore[no-untyped-def]
    """Readiness: 200 only when the database answers and its schema is current."""
    ready, report = _database_report(runtime().engine)
    return jsonify({"status": "ready" if ready else "not ready", **report}), 200 if ready else 503
