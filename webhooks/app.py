"""Flask app factory: ``create_app()`` for gunicorn, ``create_app(settings, engine)`` for tests."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from datetime import datetime

from flask import Flask, Response, jsonify, redirect, request, url_for
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestURITooLarge

from bridge import __version__
from bridge.logs import configure_logging
from bridge.process import tune_collector
from bridge.services.bookings import booking_counts
from bridge.services.catalogue import unmapped_skus
from bridge.services.inbox import Handler, InboxDrain, status_counts
from bridge.services.operations import worker_health
from bridge.services.orders import build_handlers, build_outbox_drainer, catalogue_loader
from bridge.settings import Settings, load_settings
from bridge.store.db import (
    DatabaseUnavailable,
    describe_db_error,
    make_engine,
    require_current_schema,
    schema_status,
)
from bridge.store.models import utcnow
from webhooks import input_guard
from webhooks.api import api, api_docs, events_api, privacy_api
from webhooks.assets import assets
from webhooks.console import (
    console,
    console_bookings,
    console_business,
    console_cohorts,
    console_error_page,
    console_learner_pages,
    console_ops,
    console_privacy,
    console_wallets,
    init_sessions,
)
from webhooks.page_limits import init_page_limits
from webhooks.processing import (
    STOPPED,
    WORKER_STALE_AFTER,
    BackgroundProcessor,
    InlineProcessor,
    Processor,
    QueueDrain,
    StoreOnly,
)
from webhooks.public import (
    credential_pages,
    init_claims,
    init_learner_pages,
    init_ob_api,
    outcomes,
    report_page,
)
from webhooks.receivers import booking_receivers, woocommerce_receiver
from webhooks.runtime import Runtime, runtime

log = logging.getLogger(__name__)

# Longer request targets are refused (414) before any view looks at them.
MAX_URL_LENGTH = 4096
# The GIL's switch interval in a web process that keeps a processing thread (seconds).
PROCESSING_SWITCH_INTERVAL = 0.0005


class _JSONInOrder(DefaultJSONProvider):
    """JSON answers keep their keys in the order the code writes them."""

    sort_keys = False


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    after_processing: Callable[[], None] | None = None,
    background: bool = True,
    clock: Callable[[], datetime] = utcnow,
    env_file: str | None = None,
) -> Flask:
    """Build the receiver; settings, engine and handlers come from the environment if not given.

    With ``background`` (the service) deliveries are processed in batches by one thread after
    the answer, or by a separate worker process when ``BRIDGE_INBOX_WORKER`` is set; without it
    (tests, tools) on the request thread once the answer is sent.
    """
    started_by_server = settings is None and background
    if settings is None:
        # Under gunicorn (the Procfile's web line) nothing else sets up the bridge's log format,
        # and with it the masking of secrets in every line.
        settings = load_settings()
        tune_collector()  # the service's process (bridge.process)
        env_file = ".env"  # what load_settings read: a change to it waits for a restart
        configure_logging(settings.logging.level)
    if engine is None:
        engine = make_engine(settings.database.url)
        _refuse_outdated_schema(engine)
    if handlers is None:
        handlers = build_handlers(engine, settings)
        after_processing = after_processing or build_outbox_drainer(engine, settings)
    app = Flask("creator-bridge")
    app.config["MAX_CONTENT_LENGTH"] = settings.web.max_body_bytes
    app.json = _JSONInOrder(app)
    processor = inbox_processor(engine, settings, handlers, after_processing, background=background)
    app.extensions["bridge"] = Runtime(
        settings=settings,
        engine=engine,
        handlers=handlers,
        after_processing=after_processing,
        processor=processor,
        catalogue=catalogue_loader(engine, settings),
        clock=clock,
        env_file=env_file,
    )
    app.register_error_handler(HTTPException, _json_error)
    app.register_error_handler(DatabaseUnavailable, _database_unavailable)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.before_request(_refuse_long_urls)
    input_guard.init_app(
        app, raw_body_blueprints={woocommerce_receiver.name, booking_receivers.name}
    )
    init_sessions(app, settings.console.secret_key)
    init_page_limits(app, settings)
    app.add_url_rule("/", view_func=index)
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/readyz", view_func=readyz)
    app.register_blueprint(woocommerce_receiver)
    app.register_blueprint(booking_receivers)
    app.register_blueprint(api)
    app.register_blueprint(api_docs())
    app.register_blueprint(events_api)
    app.register_blueprint(privacy_api)
    app.register_blueprint(report_page)
    init_claims(app, settings.claims.attempts_per_minute)
    init_learner_pages(app, settings.claims.page_requests_per_minute)
    init_ob_api(app, settings.claims.page_requests_per_minute)
    app.register_blueprint(credential_pages)
    app.register_blueprint(console)
    app.register_blueprint(console_ops)
    app.register_blueprint(console_bookings)
    app.register_blueprint(console_business)
    app.register_blueprint(console_cohorts)
    app.register_blueprint(console_learner_pages)
    app.register_blueprint(console_privacy)
    app.register_blueprint(console_wallets)
    app.register_blueprint(outcomes)
    app.register_blueprint(assets)
    if not settings.shop.configured:
        log.warning("shop not configured (WOOCOMMERCE_URL unset): sync is off")
    if started_by_server:
        # A gunicorn web worker (the Procfile's web line): what is stored is processed now,
        # not when the next delivery arrives.
        if isinstance(processor, BackgroundProcessor):
            # The processing thread is busy with the CPU for long stretches; a request thread
            # waits for the GIL at each of its reads and writes, each time up to the switch
            # interval (5 ms by default): a shorter one keeps the answers quick beside it.
            sys.setswitchinterval(PROCESSING_SWITCH_INTERVAL)
        processor.start()
    return app


def inbox_processor(
    engine: Engine,
    settings: Settings,
    handlers: Mapping[str, Handler],
    after_processing: Callable[[], None] | None,
    *,
    background: bool,
) -> Processor:
    """What drains the inbox in this process (see webhooks.processing)."""
    if background and settings.inbox.worker:
        return StoreOnly()
    drain = queue_drain(engine, settings, handlers, after_processing, beside_receivers=True)
    # Inline (tests, one-shot tools): what a wake stored is processed; retries wait for a drain.
    return BackgroundProcessor(drain) if background else InlineProcessor(drain.inbox)


def queue_drain(
    engine: Engine,
    settings: Settings,
    handlers: Mapping[str, Handler],
    after_processing: Callable[[], None] | None,
    *,
    beside_receivers: bool = False,
) -> QueueDrain:
    """The one processing of both queues: the service's thread (``beside_receivers``: it
    takes turns with the other web processes') and ``bridge work`` run it."""
    inbox = InboxDrain(
        engine,
        handlers,
        max_attempts=settings.inbox.max_attempts,
        max_quantity=settings.orders.max_line_quantity,
        after_batch=after_processing,
    )
    return QueueDrain(engine, inbox, after_processing, beside_receivers=beside_receivers)


def _refuse_outdated_schema(engine: Engine) -> None:
    """Do not serve on a schema older than the code; an unreachable database may come back."""
    try:
        require_current_schema(engine)
    except DatabaseUnavailable as exc:
        log.warning("database unavailable at start (webhooks answer 503 until it is back): %s", exc)


def _database_report(engine: Engine) -> tuple[bool, dict[str, object]]:
    try:
        status = schema_status(engine)
    except DatabaseUnavailable as exc:
        # The error names hosts and ports: it goes to the log, not to whoever asks.
        log.warning("health check: %s", exc)
        return False, {"database": "unavailable"}
    report: dict[str, object] = {
        "database": "ok",
        "schema": {"current": status.current, "head": status.head, "up_to_date": status.up_to_date},
    }
    return status.up_to_date, report


def index() -> ResponseReturnValue:
    """The service's front door is the operator console."""
    return redirect(url_for("console.home"))


def healthz() -> ResponseReturnValue:
    """Liveness: the process answers; the body says how the database and the shop look."""
    rt = runtime()
    up_to_date, report = _database_report(rt.engine)
    processing = _processing(rt, database_ok=report["database"] == "ok")
    body: dict[str, object] = {
        "status": "ok",
        "version": __version__,
        **report,
        "inbox": _inbox_counts(rt.engine) if report["database"] == "ok" else None,
        "shop": "configured" if rt.settings.shop.configured else "not configured",
        "sync": "on" if rt.settings.sync_active else "off",
        "processing": processing,
    }
    if processing["state"] == STOPPED:
        # Still 200: this process answers. Stored deliveries wait until processing runs again.
        body["status"] = "degraded"
    if up_to_date:
        # Paid order lines that sold no micro-SKU when last applied: money in, nothing granted.
        try:
            body["unmapped_skus"] = {u.sku or "(none)": u.lines for u in unmapped_skus(rt.engine)}
        except SQLAlchemyError:
            body["unmapped_skus"] = None
        # Bookings the creator must look at: nothing was debited for them.
        try:
            body["bookings"] = booking_counts(rt.engine)
        except DatabaseUnavailable:
            body["bookings"] = "unavailable"
    return jsonify(body), 200


def _processing(rt: Runtime, *, database_ok: bool) -> dict[str, object]:
    """Who processes the stored deliveries, and whether it runs: this process's thread, or
    (``BRIDGE_INBOX_WORKER``) the `bridge inbox work` processes, by their heartbeats."""
    shown: dict[str, object] = dict(rt.processor.health())
    if shown.get("mode") != "worker":
        return shown
    if not database_ok:
        return {**shown, "state": "unknown"}
    try:
        workers = worker_health(rt.engine, now=rt.clock(), stale_after=WORKER_STALE_AFTER)
    except (DatabaseUnavailable, DBAPIError) as exc:
        log.warning("health check: worker heartbeats unavailable: %s", type(exc).__name__)
        return {**shown, "state": "unknown"}
    return {**shown, **workers.as_dict()}


def _inbox_counts(engine: Engine) -> dict[str, int] | None:
    """Deliveries per status (rejected and dead ones need a person), None if unreadable."""
    try:
        return status_counts(engine)
    except (DatabaseUnavailable, DBAPIError) as exc:
        log.warning("health check: inbox counts unavailable: %s", type(exc).__name__)
        return None


def readyz() -> ResponseReturnValue:
    """Readiness: 200 only when the database answers and its schema is current."""
    ready, report = _database_report(runtime().engine)
    return jsonify({"status": "ready" if ready else "not ready", **report}), 200 if ready else 503


def _json_error(error: HTTPException) -> tuple[Response, int]:
    """Every HTTP error answers JSON, never an HTML page (413 for oversized bodies included).

    The error's own headers are kept: ``Allow`` on 405 above all. A ``/console`` URL that no
    route matches is the console's: its HTML error page (JSON when the client asks for it).
    """
    if request.path == "/console" or request.path.startswith("/console/"):
        return console_error_page(error), error.code or 500
    response = jsonify({"error": error.description or error.name})
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, error.code or 500


def _database_unavailable(error: Exception) -> tuple[Response, int]:
    """The database is down for this request: 503 now, and the next request tries again."""
    detail = describe_db_error(error) if isinstance(error, OperationalError) else str(error)
    log.error("request failed on the database: %s", detail, extra={"path": request.path[:200]})
    return jsonify(
        {"error": "the database is unavailable; retry later", "code": "database_unavailable"}
    ), 503


def _refuse_long_urls() -> None:
    if len(request.full_path) > MAX_URL_LENGTH:
        raise RequestURITooLarge(f"request target longer than {MAX_URL_LENGTH} characters")
