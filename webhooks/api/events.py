"""POST /api/v1/events (scope events): outcome events from outside the shop, idempotent by
the token's Idempotency-Key.

Same tokens, error shape and contract (webhooks/api/openapi.py) as the rest of /api/v1; nothing is
written on any error.
"""

from __future__ import annotations

import logging

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import CatalogueError
from bridge.services.bookings import InvalidRequest
from bridge.services.credentials import (
    CredentialSchemaError,
    CredentialsNotConfigured,
    SigningKeyError,
    issuing_factory,
    record_in_transaction,
)
from webhooks.api.credits import requires
from webhooks.api.errors import api_error, register_api_errors
from webhooks.limits import json_body
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
events_api = Blueprint("events_api", __name__, url_prefix="/api/v1")


register_api_errors(events_api)


@events_api.errorhandler(CredentialsNotConfigured)
@events_api.errorhandler(CatalogueError)
@events_api.errorhandler(SigningKeyError)
@events_api.errorhandler(CredentialSchemaError)
def _cannot_issue(exc: PermanentError) -> ResponseReturnValue:
    # The bridge's own configuration is at fault; the event was not recorded, so a retry
    # once it is fixed records it and issues the credential.
    log.error("cannot issue a credential: %s", exc)
    return api_error(409, f"credentials cannot be issued: {exc}", "credentials_not_configured")


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
