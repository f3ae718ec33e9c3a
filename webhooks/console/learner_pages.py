"""/console/learners/<id>/page-link: a learner's personal page link on the console.

The learner's page shows when its link was last opened; an admin re-sends the link (a customer
note on the learner's latest order, through the outbox) or gives the learner a new one (the old
address stops working at once). Every change is a POST with the session's CSRF token
(webhooks.console.auth.guard checks it) and leaves an audit row.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from bridge.rules.bookings.links import BookingLinkSecretMissing
from bridge.services.audit import Via, record_action
from bridge.services.learner_links import rotate_page_link
from bridge.services.learner_page import LinkNotSent, link_status, resend_page_link
from bridge.store.db import unit_of_work
from bridge.store.ids import MAX_ROW_ID
from bridge.store.models import Learner
from webhooks.console.auth import admin_required, current_operator, guard
from webhooks.runtime import runtime

console_learner_pages = Blueprint("console_learner_pages", __name__, url_prefix="/console")
guard(console_learner_pages)
ACTIONS = ("resend", "rotate")


@console_learner_pages.app_context_processor
def _page_link_lookup() -> dict[str, Any]:
    return {"learner_page_link": page_link_shown}


def page_link_shown(learner_id: int) -> dict[str, Any]:
    """The learner's page link as the console shows it: made, last opened, sent; no address
    (an operator re-sends it or makes a new one; the CLI shows it)."""
    rt = runtime()
    try:
        with unit_of_work(rt.engine, read_only=True) as session:
            link = link_status(session, learner_id, rt.settings)
    except BookingLinkSecretMissing:
        return {"error": "BRIDGE_CLAIM_SECRET is not set: learners' page links need it"}
    return {"link": link.as_dict() if link else None, "error": None}


def _by() -> str:
    operator = current_operator()
    return operator.email if operator else "console"


@console_learner_pages.post("/learners/<int:learner_id>/page-link")
@admin_required
def page_link_action(learner_id: int) -> ResponseReturnValue:
    """Re-send the learner's page link as a customer note, or give them a new one."""
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, description="action is resend or rotate")
    rt = runtime()
    try:
        with unit_of_work(rt.engine) as session:
            if not 0 < learner_id <= MAX_ROW_ID or session.get(Learner, learner_id) is None:
                abort(404, description=f"no learner {learner_id}")
            if action == "rotate":
                rotate_page_link(
                    session,
                    learner_id,
                    rt.settings.claims.secret,
                    rt.settings.web.public_url,
                    _by(),
                )
                message = "new page link made; the old address shows nothing any more"
                details: dict[str, Any] = {}
            else:
                sent = resend_page_link(
                    session, learner_id, rt.settings, requested_at=rt.clock(), by=_by()
                )
                message = (
                    f"the page link goes to the learner as a customer note on order "
                    f"{sent.order_id} with the next outbox drain"
                    if sent.outbox_key
                    else "this link was just queued for the learner; nothing was sent twice"
                )
                details = {"order_id": sent.order_id}
            record_action(
                session,
                operator=_by(),
                via=Via.CONSOLE,
                action=f"learner_page.{action}",
                subject=f"learner:{learner_id}",
                details=details,
            )
            session.commit()
    except BookingLinkSecretMissing:
        abort(409, description="BRIDGE_CLAIM_SECRET is not set: learners' page links need it")
    except LinkNotSent as exc:
        abort(409, description=str(exc))
    flash(message)
    return redirect(url_for("console.learner", learner_id=learner_id) + "#page-link")
