"""/outcomes and /outcomes.json: public outcome signals per cohort and micro-SKU, no login.

Only cohorts the catalogue file publishes (``public_outcomes = true``) appear; every figure
is behind the privacy floor of bridge.rules.report.outcome_figures; no learner is named.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, jsonify, render_template
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from bridge.rules.report.outcome_figures import NOT_ENOUGH, PRIVACY_FLOOR
from bridge.services.reporting import load_public_outcomes
from bridge.store.db import DatabaseUnavailable, describe_db_error
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
outcomes = Blueprint("outcomes", __name__, template_folder="templates")
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "public, max-age=300",
}


def _html(template: str, status: int = 200, **context: object) -> Response:
    response = Response(
        render_template(template, floor=PRIVACY_FLOOR, not_enough=NOT_ENOUGH, **context),
        status=status,
        mimetype="text/html",
    )
    response.headers.update(HEADERS)
    return response


@outcomes.errorhandler(DatabaseUnavailable)
@outcomes.errorhandler(OperationalError)
def _database_error(exc: Exception) -> Response:
    detail = describe_db_error(exc) if isinstance(exc, OperationalError) else str(exc)
    log.error("outcome page failed on the database: %s", detail)
    response = jsonify({"error": "the database is unavailable; try again in a minute"})
    response.status_code = 503
    return response


@outcomes.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    response = _html(
        "outcomes/error.html", status=error.code or 500, message=error.description or error.name
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@outcomes.get("/outcomes")
def outcomes_page() -> Response:
    """Every published cohort and outcome micro-SKU, as one page."""
    return _html("outcomes/index.html", data=load_public_outcomes(runtime().engine))


@outcomes.get("/outcomes.json")
def outcomes_json() -> Response:
    """The same figures as JSON; hidden figures are null with the text "not enough data"."""
    response = jsonify(load_public_outcomes(runtime().engine).as_dict())
    response.headers.update({k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"})
    return response


@outcomes.get("/outcomes/cohorts/<code>")
def cohort_page(code: str) -> Response:
    """One published cohort's page; 404 for a cohort that is not published."""
    data = load_public_outcomes(runtime().engine)
    cohort = data.cohort(code)
    if cohort is None:
        abort(404, description="no published cohort by that code")
    skus = [s for s in data.skus if s.cohort is not None and s.cohort.cohort.code == code]
    return _html("outcomes/cohort.html", data=data, cohort=cohort, skus=skus)
