"""POST /api/v1/events (scope events): outcome events from outside the shop, idempotent by
the token's Idempotency-Key.

Same tokens, error shape and contract (webhooks/api/openapi.py) as the rest of /api/v1; nothing is
written on any error.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import CatalogueError
from bridge.services.bookings import IdempotencyKeyReused, InvalidRequest
from bridge.services.credentials import (
    CredentialSchemaError,
    CredentialsNotConfigured,
    SigningKeyError,
    issuing_factory,
    record_in_transaction,
)
from bridge.services.ledger import UnknownLearner
from bridge.store.db import DatabaseUnavailable, describe_db_error
from webhooks.api.credits import requires
from webhooks.input_guard import UnstorableInput
from webhooks.limits import json_body
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
events_api = Blueprint("events_api", __name__, url_prefix="/api/v1")


def _error(status: int, message: str, code: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, "code": code, **extra}), status


@events_api.errorhandler(InvalidRequest)
def _invalid(exc: InvalidRequest) -> ResponseReturnValue:
    return _error(400, str(exc), "invalid_request", field=exc.field)


@events_api.errorhandler(UnstorableInput)
def _unstorable(exc: UnstorableInput) -> ResponseReturnValue:
    return _error(400, exc.description or "", "invalid_request", field=exc.field)


@events_api.errorhandler(UnknownLearner)
def _unknown_learner(exc: UnknownLearner) -> ResponseReturnValue:
    return _error(404, str(exc), "learner_not_found")


@events_api.errorhandler(IdempotencyKeyReused)
def _key_reused(exc: IdempotencyKeyReused) -> ResponseReturnValue:
    return _error(422, str(exc), "idempotency_key_reused")


@events_api.errorhandler(CredentialsNotConfigured)
@events_api.errorhandler(CatalogueError)
@events_api.errorhandler(SigningKeyError)
@events_api.errorhandler(CredentialSchemaError)
def _cannot_issue(exc: PermanentError) -> ResponseReturnValue:
    # The bridge's own configuration is at fault; the event was not recorded, so a retry
    # once it is fixed records it and issues the credential.
    log.error("cannot issue a credential: %s", exc)
    return _error(409, f"credentials cannot be issued: {exc}", "credentials_not_configured")


@events_api.errorhandler(DatabaseUnavailable)
def _database_unavailable(exc: DatabaseUnavailable) -> ResponseReturnValue:
    # The error text names the database's host and port: the log gets it, the caller does not.
    log.error("API request failed: %s", exc)
    return _error(503, "the database is unavailable; retry later", "database_unavailable")


@events_api.errorhandler(OperationalError)
def _database_error(exc: OperationalError) -> ResponseReturnValue:
    log.error("API request failed on the database: %s", describe_db_error(exc))
    return _error(503, "the database is unavailable; retry later", "database_unavailable")


@events_api.post("/events")
@requires("events")
def create_event() -> ResponseReturnValue:
    """Record an outcome event once per key (the token's own); a passed assessment or accepted
    project also issues the learner's credential."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise InvalidRequest("Idempotency-Key", "header is required")
    rt = runtime()
    body = json_body(rt.settings.web.max_body_bytes)
    issuing = issuing_factory(rt.settings, rt.catalogue) if rt.catalogue else None
    result = record_in_transaction(rt.engine, body, key, issuing=issuing, token_name=g.token_name)
    response = jsonify(result.body)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        log.info(
            "outcome event recorded",
            extra={
                "event_id": result.body["id"],
                "kind": result.body["kind"],
                "token": g.token_name,
            },
        )
    return response, result.status_code
