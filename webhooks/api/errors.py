"""The API's error answers: one JSON shape, and the handlers every /api/v1 blueprint shares."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError

from bridge.services.bookings import IdempotencyKeyReused, InvalidRequest
from bridge.services.ledger import UnknownLearner
from bridge.store.db import DatabaseUnavailable, describe_db_error
from webhooks.input_guard import UnstorableInput

log = logging.getLogger(__name__)


def api_error(status: int, message: str, code: str, **extra: Any) -> tuple[Response, int]:
    """``{"error", "code", ...}`` with the status."""
    return jsonify({"error": message, "code": code, **extra}), status


def _invalid(exc: InvalidRequest) -> ResponseReturnValue:
    return api_error(400, str(exc), "invalid_request", field=exc.field)


def _unstorable(exc: UnstorableInput) -> ResponseReturnValue:
    return api_error(400, exc.description or "", "invalid_request", field=exc.field)


def _unknown_learner(exc: UnknownLearner) -> ResponseReturnValue:
    return api_error(404, str(exc), "learner_not_found")


def _key_reused(exc: IdempotencyKeyReused) -> ResponseReturnValue:
    return api_error(422, str(exc), "idempotency_key_reused")


def _database_unavailable(exc: DatabaseUnavailable) -> ResponseReturnValue:
    # The error text names the database's host and port: the log gets it, the caller does not.
    log.error("API request failed: %s", exc)
    return api_error(503, "the database is unavailable; retry later", "database_unavailable")


def _database_error(exc: OperationalError) -> ResponseReturnValue:
    log.error("API request failed on the database: %s", describe_db_error(exc))
    return api_error(503, "the database is unavailable; retry later", "database_unavailable")


def register_api_errors(blueprint: Blueprint) -> None:
    """Answer the errors every API route can meet the same way on ``blueprint``."""
    blueprint.register_error_handler(InvalidRequest, _invalid)
    blueprint.register_error_handler(UnstorableInput, _unstorable)
    blueprint.register_error_handler(UnknownLearner, _unknown_learner)
    blueprint.register_error_handler(IdempotencyKeyReused, _key_reused)
    blueprint.register_error_handler(DatabaseUnavailable, _database_unavailable)
    blueprint.register_error_handler(OperationalError, _database_error)
