"""/api/v1: redeem and refund credits, look learners up; bearer tokens with scopes.

Each route needs one scope (bridge.services.operations.SCOPES): redeem, refunds, read, and
events (webhooks.api.events); ``write`` holds all four. Idempotency keys are per token.

Errors answer JSON ``{"error": one line, "code": ..., "field": ...}`` as the contract in
webhooks/api/openapi.py says. Nothing is written on any error: each use case runs in one unit of
work that commits only on success. Tokens are never logged; only their names are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from bridge.services.bookings import (
    MAX_CUSTOMER_ID,
    InsufficientCredits,
    InvalidRequest,
    RedemptionNotFound,
    learner_ref,
    redeem_in_transaction,
    refund_in_transaction,
)
from bridge.services.learners import describe_learner
from bridge.services.ledger import UnknownLearner, find_learner
from bridge.services.operations import TokenIdentity, authenticate, touch
from bridge.store.db import unit_of_work
from bridge.store.ids import MAX_ROW_ID
from webhooks.api.errors import api_error, register_api_errors
from webhooks.api.openapi import openapi_document
from webhooks.limits import json_body
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")

View = Callable[..., Any]


register_api_errors(api)


def _unauthorised(message: str) -> tuple[Response, int]:
    response, status = api_error(401, message, "unauthorised")
    response.headers["WWW-Authenticate"] = 'Bearer realm="creator-bridge"'
    return response, status


def _identify() -> TokenIdentity | None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        return None
    with unit_of_work(runtime().engine) as session:
        identity = authenticate(session, presented)
        if identity is not None:
            touch(session, identity.id)
            session.commit()
    return identity


def requires(scope: str) -> Callable[[View], View]:
    """Let a request through only with an active token whose scopes grant ``scope``; the
    view finds the token's name in ``g.token_name``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not request.headers.get("Authorization"):
                return _unauthorised("send Authorization: Bearer <token>")
            identity = _identify()
            if identity is None:
                return _unauthorised("the bearer token is unknown or revoked")
            if not identity.allows(scope):
                return api_error(
                    403,
                    f"token {identity.name!r} has scope {identity.scope}; "
                    f"this needs scope {scope} (or write)",
                    "forbidden",
                    scope=scope,
                )
            g.token_name = identity.name
            return view(*args, **kwargs)

        return guarded

    return decorate


@api.errorhandler(RedemptionNotFound)
def _unknown_redemption(exc: RedemptionNotFound) -> ResponseReturnValue:
    return api_error(404, str(exc), "redemption_not_found")


@api.errorhandler(InsufficientCredits)
def _insufficient(exc: InsufficientCredits) -> ResponseReturnValue:
    return api_error(
        409,
        str(exc),
        "insufficient_credits",
        credit_type=exc.credit_type,
        requested=exc.requested,
        balance=exc.balance,
    )


def _json_body() -> Any:
    return json_body(runtime().settings.web.max_body_bytes)


@api.post("/redemptions")
@requires("redeem")
def create_redemption() -> ResponseReturnValue:
    """Spend credits; the Idempotency-Key (the token's own) makes a retried request safe."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise InvalidRequest("Idempotency-Key", "header is required")
    body = _json_body()
    result = redeem_in_transaction(runtime().engine, body, key, token_name=g.token_name)
    response = jsonify(result.body)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        log.info(
            "credits redeemed",
            extra={
                "redemption_id": result.body["id"],
                "credit_type": result.body["credit_type"],
                "amount": result.body["amount"],
                "token": g.token_name,
            },
        )
    return response, result.status_code


def _redemption_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise InvalidRequest("redemption_id", "must be a positive whole number")
    number = int(raw)
    if number == 0:
        raise InvalidRequest("redemption_id", "must be a positive whole number")
    if number > MAX_ROW_ID:
        raise RedemptionNotFound(f"no redemption has id {number}")
    return number


@api.delete("/redemptions/<redemption_id>")
@requires("refunds")
def delete_redemption(redemption_id: str) -> ResponseReturnValue:
    """Credit a cancelled booking back; a repeat answers the same and credits nothing."""
    result = refund_in_transaction(runtime().engine, _redemption_id(redemption_id))
    response = jsonify(result.body)
    if result.refunded_now:
        log.info(
            "redemption refunded", extra={"redemption_id": result.body["id"], "token": g.token_name}
        )
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 200


@api.get("/learners/<learner>")
@requires("read")
def get_learner(learner: str) -> ResponseReturnValue:
    """A learner by e-mail (current or former) or customer id."""
    if (
        learner.isascii()
        and learner.isdigit()
        and len(learner) <= 254
        and int(learner) > MAX_CUSTOMER_ID
    ):
        raise UnknownLearner(f"no learner has customer id {learner}")
    wanted = learner_ref(learner)
    with unit_of_work(runtime().engine) as session:
        found = find_learner(session, wanted)
        if found is None:
            raise UnknownLearner(f"no learner is known as {wanted!r}")
        return jsonify(describe_learner(session, found)), 200


@api.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 contract of this API (no token needed)."""
    return jsonify(openapi_document()), 200
