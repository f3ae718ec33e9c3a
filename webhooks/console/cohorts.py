"""Steering a cohort from its console page: promote, take off the waitlist, move (defer).

Two steps, as for manual credits: the review runs the action for real inside a transaction
that is rolled back and shows what it would do; the confirmation does it (audited with the
logged-in operator, told to the learner once in a customer note, stock of both cohorts queued).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from bridge.services.audit import Via
from bridge.services.catalogue import load_catalogue
from bridge.services.cohorts import ACTIONS, AlreadySteered, Steered, SteeringError, steer
from bridge.services.reporting import UnknownCohortCode, cohort_roster, list_cohorts
from bridge.store.db import unit_of_work
from webhooks.console.auth import admin_required, current_operator, guard, render_page
from webhooks.console.views import file_catalogue
from webhooks.runtime import runtime

console_cohorts = Blueprint("console_cohorts", __name__, url_prefix="/console")
guard(console_cohorts)

REASON_MAX = 500


def _asked(code: str) -> tuple[str, str, str | None, str]:
    form = request.form
    action = form.get("action", "")
    if action not in ACTIONS:
        abort(400, description=f"action is one of {', '.join(ACTIONS)}")
    learner = form.get("learner", "").strip()
    if not learner or len(learner) > 320:
        abort(400, description="say which learner (their e-mail)")
    to = form.get("to", "").strip() or None
    reason = " ".join(form.get("reason", "").split())[:REASON_MAX]
    return action, learner, to, reason


def _reference() -> str:
    """The confirmation's reference, made by the review: one confirmation, one action."""
    reference = request.form.get("reference", "")
    if (
        not (16 <= len(reference) <= 64)
        or not reference.replace("-", "").replace("_", "").isalnum()
    ):
        abort(400, description="the confirmation is missing its reference: start again")
    return reference


def _run(code: str, *, commit: bool) -> Steered:
    action, learner, to, reason = _asked(code)
    reference = _reference() if commit else None
    operator = current_operator()
    rt = runtime()
    catalogue = load_catalogue(rt.engine, file_catalogue())
    with unit_of_work(rt.engine) as session:
        result = steer(
            session,
            action,
            code,
            learner,
            catalogue=catalogue,
            settings=rt.settings,
            operator=operator.email if operator else "console",
            via=Via.CONSOLE,
            to=to,
            reason=reason,
            reference=f"console:{reference}" if reference else None,
        )
        if commit:
            session.commit()
        else:
            session.rollback()
            result.dry_run = True
    return result


def _roster(code: str) -> dict[str, Any]:
    try:
        with unit_of_work(runtime().engine) as session:
            data = cohort_roster(session, code)
            others = [row["code"] for row in list_cohorts(session) if row["code"] != code]
    except UnknownCohortCode as exc:
        abort(404, description=str(exc))
    return {"data": data, "others": others}


@console_cohorts.post("/cohorts/<code>/steer")
@admin_required
def steer_review(code: str) -> Response:
    """Step one: what the action would do (run and rolled back); nothing is written."""
    page = _roster(code)
    try:
        result = _run(code, commit=False)
    except SteeringError as exc:
        return render_page("console/cohort.html", http_status=400, error=str(exc), **page)
    return render_page(
        "console/steer_confirm.html",
        result=result,
        code=code,
        form=request.form,
        reference=secrets.token_urlsafe(16),
        **page,
    )


@console_cohorts.post("/cohorts/<code>/steer/confirm")
@admin_required
def steer_confirm(code: str) -> ResponseReturnValue:
    """Step two: do it, once; a second confirmation finds it done and says so."""
    _roster(code)  # 404 for an unknown cohort
    try:
        result = _run(code, commit=True)
    except AlreadySteered:
        flash("this confirmation was already applied; nothing was done twice")
        return redirect(url_for("console.cohort", code=code))
    except SteeringError as exc:
        abort(400, description=f"{exc} (already done? the cohort page shows where things stand)")
    flash(result.describe())
    return redirect(url_for("console.cohort", code=code))
