"""GET /report: the outcome report as one HTML page (its body drawn by webhooks.report_view).

No script, no external asset: the page reads on a phone and leaks nothing to other hosts.
A token is required (scope read). It is taken from ``Authorization: Bearer`` (scripts) or from
``?token=`` (a phone's bookmark cannot send a header). A token in a URL lands in browser
history, so the query accepts only read tokens; the page sends no Referer and is not cached.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy.exc import OperationalError

from bridge.rules.report.rows import PeriodTooLong, ReportError
from bridge.services.operations import TokenIdentity, authenticate, touch
from bridge.services.reporting import build_report
from bridge.store.db import DatabaseUnavailable, QueryTimeout, describe_db_error, unit_of_work
from bridge.store.models import utcnow
from webhooks.page_limits import PagesBusy, query_timeout_message
from webhooks.report_view import period_from_query, render_report
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
report_page = Blueprint("report_page", __name__, template_folder="templates")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


def _identify() -> tuple[TokenIdentity | None, str | None, bool]:
    """The token's identity, why it was refused, and whether it came in the query string."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None, "send Authorization: Bearer <token>", False
        presented, in_query = presented.strip(), False
    else:
        presented, in_query = request.args.get("token", "").strip(), True
        if not presented:
            return None, "a token is required: add ?token=<read token> to the address", True
    with unit_of_work(runtime().engine) as session:
        identity = authenticate(session, presented)
        if identity is not None:
            touch(session, identity.id)
            session.commit()
    if identity is None:
        return None, "the token is unknown or revoked", in_query
    return identity, None, in_query


def _page(title: str, status: int = 200, **content: Any) -> Response:
    """The page around the report's ``body``, or around a refusal's ``message``."""
    html = render_template("report/page.html", title=title, **content)
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def _refusal(status: int, message: str, **details: Any) -> Response:
    """An HTML page saying why; JSON ({"error": ...}) to a client that prefers JSON."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        response = jsonify({"error": message, **details})
        response.status_code = status
        response.headers.update(SECURITY_HEADERS)
    else:
        response = _page("Outcome report", status, message=message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="creator-bridge"'
    return response


@report_page.errorhandler(DatabaseUnavailable)
@report_page.errorhandler(OperationalError)
def _database_error(exc: Exception) -> Response:
    detail = describe_db_error(exc) if isinstance(exc, OperationalError) else str(exc)
    log.error("report page failed on the database: %s", detail)
    return _refusal(503, "the database is unavailable; try again in a minute")


@report_page.errorhandler(QueryTimeout)
@report_page.errorhandler(PagesBusy)
def _too_busy(exc: QueryTimeout | PagesBusy) -> Response:
    """A query past its budget, or every page slot taken: 503, try again later."""
    if isinstance(exc, QueryTimeout):
        log.warning("report query stopped after %g s", exc.seconds)
        message, code = query_timeout_message(exc), "query_timeout"
        seconds = max(1, math.ceil(exc.seconds))
    else:
        message, code, seconds = str(exc), "pages_busy", exc.retry_after
    response = _refusal(503, message, code=code)
    response.headers["Retry-After"] = str(seconds)
    return response


@report_page.get("/report")
def show_report() -> Response:
    """The outcome report for ?since=&until= (YYYY-MM-DD, until excluded) and ?tz=."""
    identity, problem, in_query = _identify()
    if identity is None:
        return _refusal(401, problem or "a token is required")
    if not identity.allows("read"):
        return _refusal(403, f"token {identity.name} may not read the report")
    if in_query and not identity.read_only:
        return _refusal(
            403,
            f"token {identity.name} can do more than read (scope "
            f"{identity.scope}), so it must not travel in an address; make a read "
            "token (bridge tokens create phone --scope read) and use that one",
        )
    settings = runtime().settings
    now = utcnow()
    try:
        period = period_from_query(
            request.args, settings.report.timezone, now, settings.report.max_days
        )
    except PeriodTooLong as exc:
        return _refusal(400, str(exc), code="period_too_long", days=exc.days, max_days=exc.max_days)
    except ReportError as exc:
        return _refusal(400, str(exc), code="bad_period")
    report = build_report(
        runtime().engine, period, now, paid_statuses=settings.orders.paid_statuses
    )
    token = request.args.get("token") if in_query else None
    return _page(
        f"Outcome report {period.since} to {period.until}", body=render_report(report, token)
    )
