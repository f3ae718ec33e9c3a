"""GET /api/v1/learners/<learner>/export and POST /api/v1/learners/<learner>/erase (scope
privacy): a learner's access and erasure requests, for a WordPress privacy plugin or a script.

The export answers everything held about the learner (bridge.services.privacy), or with
``?format=wordpress&page=N`` the N-th page of a WordPress personal-data exporter
(``{data, done}``). The erasure answers what it removed and retained, with a WordPress eraser's
``items_removed``, ``items_retained``, ``messages`` and ``done``; the audit row names the token.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from bridge.errors import PermanentError
from bridge.services.audit import Via, record_action
from bridge.services.bookings import InvalidRequest, learner_ref
from bridge.services.credentials import CredentialsNotConfigured, SigningKeyError
from bridge.services.ledger import UnknownLearner
from bridge.services.privacy import (
    ErasureRefused,
    credential_signer,
    erase_in_transaction,
    export_learner,
    find_for_privacy,
    wordpress_pages,
)
from bridge.store.db import unit_of_work
from webhooks.api.credits import requires
from webhooks.api.errors import api_error, register_api_errors
from webhooks.limits import json_body
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
privacy_api = Blueprint("privacy_api", __name__, url_prefix="/api/v1")
register_api_errors(privacy_api)


@privacy_api.errorhandler(ErasureRefused)
@privacy_api.errorhandler(CredentialsNotConfigured)
@privacy_api.errorhandler(SigningKeyError)
def _cannot_erase(exc: PermanentError) -> ResponseReturnValue:
    return api_error(409, f"the learner cannot be erased here: {exc}", "erasure_refused")


def _ref(raw: str) -> str | int:
    return learner_ref(raw, "learner")


def _page(raw: str | None) -> int:
    if raw is None:
        return 1
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= 100:
        raise InvalidRequest("page", "must be a whole number from 1")
    return int(raw)


@privacy_api.get("/learners/<learner>/export")
@requires("privacy")
def export(learner: str) -> ResponseReturnValue:
    """Everything held about the learner, or one WordPress exporter page of it."""
    wanted = request.args.get("format", "bridge")
    if wanted not in ("bridge", "wordpress"):
        raise InvalidRequest("format", "must be bridge or wordpress")
    page = _page(request.args.get("page"))
    ref = _ref(learner)
    with unit_of_work(runtime().engine) as session:
        found = find_for_privacy(session, ref)
        if found is None:
            raise UnknownLearner(f"no learner is known as {ref!r}")
        data = export_learner(session, found)
        record_action(
            session,
            operator=f"token:{g.token_name}",
            via=Via.API,
            action="learner.export",
            subject=f"learner:{found.id}",
        )
        session.commit()
    log.info("learner exported", extra={"learner_id": found.id, "token": g.token_name})
    if wanted == "bridge":
        return jsonify(data), 200
    pages = wordpress_pages(data)
    if page > len(pages):
        return jsonify({"data": [], "done": True}), 200
    return jsonify(pages[page - 1]), 200


@privacy_api.post("/learners/<learner>/erase")
@requires("privacy")
def erase(learner: str) -> ResponseReturnValue:
    """Erase the learner's personal data; again changes nothing (``already_erased``)."""
    ref = _ref(learner)
    body: Any = json_body(runtime().settings.web.max_body_bytes) if request.data else {}
    if not isinstance(body, dict):
        raise InvalidRequest("body", "must be a JSON object")
    dry_run = body.get("dry_run", False)
    reason = body.get("reason", "")
    if not isinstance(dry_run, bool):
        raise InvalidRequest("dry_run", "must be true or false")
    if not isinstance(reason, str) or len(reason) > 500:
        raise InvalidRequest("reason", "must be text of at most 500 characters")
    report = erase_in_transaction(
        runtime().engine,
        ref,
        dry_run=dry_run,
        operator=f"token:{g.token_name}",
        via=Via.API,
        signer_for=credential_signer(runtime().settings),
        reason=reason,
    )
    log.info(
        "learner erased" if not dry_run else "learner erasure previewed",
        extra={"learner_id": report.learner_id, "token": g.token_name},
    )
    return jsonify(report.as_dict()), 200
