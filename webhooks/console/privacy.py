"""/console/learners/<id>/export and /console/learners/<id>/erase: a learner's access and
erasure requests on the console, for admins only.

The export downloads everything held about the learner as JSON (bridge.services.privacy). The
erasure has a review step: the page shows what would be removed and retained (a dry run of the
real code), and only the confirming POST (CSRF token, the word "erase" typed) erases. Both leave
an audit row naming the operator, never the learner's data.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import Session

from bridge.errors import PermanentError
from bridge.services.audit import Via, record_action
from bridge.services.privacy import (
    credential_signer,
    erase_in_transaction,
    export_learner,
)
from bridge.store.db import unit_of_work
from bridge.store.ids import MAX_ROW_ID
from bridge.store.models import Learner
from webhooks.console.auth import admin_required, current_operator, guard, render_page
from webhooks.runtime import runtime

console_privacy = Blueprint("console_privacy", __name__, url_prefix="/console")
guard(console_privacy)
CONFIRMATION = "erase"


def _by() -> str:
    operator = current_operator()
    return operator.email if operator else "console"


def _learner(session: Session, learner_id: int) -> Learner:
    found = session.get(Learner, learner_id) if 0 < learner_id <= MAX_ROW_ID else None
    if found is None:
        abort(404, description=f"no learner {learner_id}")
    return found


@console_privacy.get("/learners/<int:learner_id>/export")
@admin_required
def export(learner_id: int) -> Response:
    """Everything held about the learner, as a JSON file to hand them."""
    with unit_of_work(runtime().engine) as session:
        data = export_learner(session, _learner(session, learner_id))
        record_action(
            session,
            operator=_by(),
            via=Via.CONSOLE,
            action="learner.export",
            subject=f"learner:{learner_id}",
        )
        session.commit()
    response = Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="learner-{learner_id}-export.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _erase(learner_id: int, *, dry_run: bool, reason: str = "") -> dict[str, object]:
    rt = runtime()
    try:
        report = erase_in_transaction(
            rt.engine,
            learner_id,
            by_id=True,
            dry_run=dry_run,
            operator=_by(),
            via=Via.CONSOLE,
            signer_for=credential_signer(rt.settings),
            reason=reason,
        )
    except PermanentError as exc:
        abort(409, description=f"the learner cannot be erased here: {exc}")
    return report.as_dict()


@console_privacy.get("/learners/<int:learner_id>/erase")
@admin_required
def erase_review(learner_id: int) -> Response:
    """The review step: what erasing would remove and keep (nothing is changed)."""
    with unit_of_work(runtime().engine) as session:
        learner = _learner(session, learner_id)
        who = {"id": learner_id, "email": learner.email, "name": learner.name}
    return render_page(
        "console/erase_confirm.html",
        who=who,
        report=_erase(learner_id, dry_run=True),
        learner_id=learner_id,
        confirmation=CONFIRMATION,
    )


@console_privacy.post("/learners/<int:learner_id>/erase")
@admin_required
def erase(learner_id: int) -> ResponseReturnValue:
    """Erase, once the word is typed; erasing again changes nothing."""
    if request.form.get("confirm", "").strip().lower() != CONFIRMATION:
        abort(400, description=f'type "{CONFIRMATION}" to confirm the erasure')
    reason = " ".join(request.form.get("reason", "").split())[:500]
    report = _erase(learner_id, dry_run=False, reason=reason)
    if report["already_erased"]:
        flash("this learner was erased already; nothing changed")
    else:
        flash(f"learner {learner_id} erased: now {report['pseudonym']}; the ledger stays")
    return redirect(url_for("console.learner", learner_id=learner_id))
