"""Console sessions: a signed cookie naming a session kept in the database, CSRF tokens, and
the operator looked up on every request.

The cookie is signed with BRIDGE_SECRET_KEY (the same in every worker, so any worker reads it)
and carries the session's id, the CSRF token and flashed messages. Whether the session is live
is the database's word (bridge.services.operations): logging out, a new password or a
removed operator ends it at once, and a saved copy of the cookie opens nothing afterwards. The
cookie is HttpOnly, SameSite=Lax, limited to /console, and Secure whenever the request came
over https (directly or through a proxy saying so).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from bridge.services.audit import Via, record_action_after
from bridge.services.operations import (
    OperatorView,
    SessionPolicy,
    dummy_hash,
    end_session,
    session_operator,
    start_session,
)
from bridge.shop.protocol import order_admin_url
from bridge.store.db import DatabaseUnavailable, QueryTimeout, describe_db_error
from webhooks.page_limits import PagesBusy, unavailable
from webhooks.runtime import runtime

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
SESSION_ID = "sid"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked Secure when the request came over https, kept by
    the browser as long as a session may live (the database decides whether it still does)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return bool(request.is_secure or forwarded == "https")

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        if not session.permanent:
            return None
        return datetime.now(UTC) + session_policy().max_age


def init_sessions(app: Flask, secret_key: str | None) -> None:
    """Configure the cookie; without a key no session can be made (the console says so)."""
    if secret_key:
        app.secret_key = secret_key
        # The dummy hash an unknown e-mail is checked against is made now, so the first such
        # login in a worker takes no longer than any other.
        dummy_hash()
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="bridge_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/console",
    )


def session_policy() -> SessionPolicy:
    return SessionPolicy.from_settings(runtime().settings)


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose form does not carry this session's token (before it does anything)."""
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD, "")
    if (
        not isinstance(expected, str)
        or not sent
        or not hmac.compare_digest(expected.encode(), sent.encode())
    ):
        abort(
            400,
            description="the form's security token is missing or out of date: "
            "reload the page and try again",
        )


def _session_id() -> str | None:
    found = session.get(SESSION_ID)
    return found if isinstance(found, str) and found else None


def log_in(operator: OperatorView) -> None:
    """A new session for this operator: a new id (the one held before ends) and CSRF token."""
    rt = runtime()
    session_id = start_session(
        rt.engine, operator.id, rt.clock(), session_policy(), replaces=_session_id()
    )
    session.clear()
    session.permanent = True
    session[SESSION_ID] = session_id
    csrf_token()
    g.operator = operator


def log_out() -> None:
    """End this browser's session in the database and forget it in the cookie."""
    session_id = _session_id()
    if session_id is not None:
        end_session(runtime().engine, session_id)
    session.clear()
    g.operator = None


def current_operator() -> OperatorView | None:
    """The logged-in operator, or None (also once the session has ended, for any reason)."""
    if "operator" in g:
        return g.operator
    operator = None
    session_id = _session_id()
    if session_id is not None:
        rt = runtime()
        operator = session_operator(rt.engine, session_id, rt.clock(), session_policy())
        if operator is None:
            session.pop(SESSION_ID, None)
    g.operator = operator
    return operator


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path inside the console, never another site; anything
    else (control characters or spaces included) is ignored for the console's home."""
    if (
        target
        and (target == "/console" or target.startswith(("/console/", "/console?")))
        and target.isprintable()
        and " " not in target
        and "\\" not in target
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("console.home")


def _not_logged_in() -> ResponseReturnValue:
    """A page asks for the login and comes back; a form sent without a live session is
    refused (401) and changes nothing."""
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    abort(401, description="you are not logged in, or your session has ended: log in again")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Anonymous requests are sent to the login page and shown nothing."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_operator() is None:
            return _not_logged_in()
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only admins change things; a viewer gets 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        operator = current_operator()
        if operator is None:
            return _not_logged_in()
        if not operator.can_change:
            abort(403, description=f"{operator.email} is a viewer and may not change anything")
        return view(*args, **kwargs)

    return wrapper


NAV = (
    ("console.home", "Home"),
    ("console.learners", "Learners"),
    ("console.cohorts", "Cohorts"),
    ("console_bookings.bookings", "Bookings"),
    ("console_ops.inbox", "Inbox"),
    ("console_ops.outbox", "Outbox"),
    ("console_ops.catalogue", "Catalogue"),
    ("console_ops.report", "Report"),
    ("console_business.ledger", "Ledger"),
    ("console_business.audit", "Audit"),
    ("console_business.alerts", "Alerts"),
    ("console_wallets.apps", "Apps"),
    ("outcomes.outcomes_page", "Public outcomes"),
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


def audit_console(
    action: str, subject: str = "", *, reason: str = "", details: Mapping[str, Any] | None = None
) -> None:
    """Record that the logged-in operator did ``action`` (after the service committed it)."""
    operator = current_operator()
    record_action_after(
        runtime().engine,
        operator=operator.email if operator else "console",
        via=Via.CONSOLE,
        action=action,
        subject=subject,
        reason=reason,
        details=details,
    )


def _order_url(order_id: int | None) -> str | None:
    """The order's page in WP admin (HPOS or legacy, BRIDGE_WOO_ORDER_STORAGE), for links."""
    shop = runtime().settings.shop
    return order_admin_url(shop.url, order_id, shop.order_storage)


def render_page(template: str, http_status: int = 200, **context: Any) -> Response:
    """A console page with the navigation, the operator and the security headers."""
    html = render_template(
        template,
        operator=current_operator(),
        nav=NAV,
        csrf_token=csrf_token,
        order_url=_order_url,
        **context,
    )
    response = Response(html, status=http_status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def _wants_json() -> bool:
    return (
        request.accept_mimetypes.best_match(("text/html", "application/json")) == "application/json"
    )


def console_error_page(error: HTTPException) -> Response:
    """A console URL no route matches (the app's own 404 would be JSON): the console's page."""
    return _error_page(error)


def _error_page(error: HTTPException) -> Response:
    """The error as a console page, or as JSON for a client that asks for JSON."""
    status = error.code or 500
    if _wants_json():
        response = jsonify({"error": error.description or error.name})
        response.status_code = status
        response.headers.update(SECURITY_HEADERS)
    else:
        response = render_page(
            "console/error.html",
            http_status=status,
            status_code=status,
            message=error.description or error.name,
            title=error.name,
        )
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    retry_after = getattr(error, "retry_after", None)
    if status == 429 and retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _database_error(exc: Exception) -> Response:
    detail = describe_db_error(exc) if isinstance(exc, OperationalError) else str(exc)
    log.error("console page failed on the database: %s", detail)
    return render_page(
        "console/error.html",
        http_status=503,
        status_code=503,
        title="Database unavailable",
        message="the database is unavailable; try again in a minute",
    )


def _too_busy(exc: PagesBusy | QueryTimeout) -> Response:
    """Every page slot taken, or a query past its budget: a console page, 503, Retry-After."""
    message, _code, seconds = unavailable(exc)
    response = render_page(
        "console/error.html",
        http_status=503,
        status_code=503,
        title="Try again shortly",
        message=message,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def guard(blueprint: Blueprint) -> None:
    """Every request under the blueprint: a key is set, POSTs carry the CSRF token, and
    errors answer as console pages (4xx for bad input, 503 while the database is down or the
    pages are busy)."""

    @blueprint.before_request
    def _checks() -> Response | None:
        if not runtime().settings.console.secret_key:
            return render_page(
                "console/error.html",
                http_status=503,
                status_code=503,
                title="Console not set up",
                message="set BRIDGE_SECRET_KEY (bridge init writes one into "
                ".env) and restart: the console signs its sessions "
                "with it",
            )
        if request.method == "POST":
            check_csrf()
        return None

    blueprint.register_error_handler(HTTPException, _error_page)
    blueprint.register_error_handler(DatabaseUnavailable, _database_error)
    blueprint.register_error_handler(OperationalError, _database_error)
    blueprint.register_error_handler(PagesBusy, _too_busy)
    blueprint.register_error_handler(QueryTimeout, _too_busy)
