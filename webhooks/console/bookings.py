"""/console/bookings: bookings by status, the review of held ones, and learners' booking links.

An admin approves a booking held for review (it debits its learner, once) or rejects it
(nothing is debited), and makes, rotates or revokes a learner's booking link. Every change is
a POST with the session's CSRF token (webhooks.console.auth.guard checks it).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from bridge.rules.bookings.events import BookingStatus
from bridge.rules.bookings.links import BookingLinkSecretMissing
from bridge.rules.listing import Page, page_number, per_page
from bridge.services.audit import Via, record_action
from bridge.services.bookings import (
    ACTIONS,
    LISTED_STATUSES,
    BookingNotFound,
    BookingPolicy,
    LearnerNotFound,
    ReviewRefused,
    booking_counts,
    change_booking_link,
    list_bookings,
    review_booking,
)
from bridge.store.db import unit_of_work
from webhooks.console.auth import (
    admin_required,
    current_operator,
    guard,
    login_required,
    render_page,
)
from webhooks.console.listing import CSV_MAX_ROWS, csv_download
from webhooks.runtime import runtime

console_bookings = Blueprint("console_bookings", __name__, url_prefix="/console")
guard(console_bookings)
MAX_REASON = 300


@console_bookings.get("/bookings")
@login_required
def bookings() -> Response:
    """Bookings newest first, filtered by status; held ones with their two actions."""
    status = request.args.get("status", "").strip() or "all"
    if status != "all" and status not in LISTED_STATUSES:
        abort(400, description=f"status is one of {', '.join(LISTED_STATUSES)} or all")
    engine = runtime().engine
    wanted = None if status == "all" else status
    counts = booking_counts(engine)
    if request.args.get("format") == "csv":  # every matching booking, the JSON's columns
        with unit_of_work(engine) as session:
            rows = list_bookings(session, status=wanted, limit=CSV_MAX_ROWS)
        flat = [{**row, "learner": (row["learner"] or {}).get("email")} for row in rows]
        return csv_download(flat, list(rows[0]) if rows else ["id"], "bookings")
    total = counts.get(wanted, 0) if wanted else sum(counts.values())
    count = per_page(request.args.get("per_page"))
    page = Page(page_number(request.args.get("page")), count, total)
    with unit_of_work(engine) as session:
        rows = list_bookings(session, status=wanted, limit=count, offset=page.offset)
    return render_page(
        "console/bookings.html",
        rows=rows,
        counts=counts,
        status=status,
        statuses=LISTED_STATUSES,
        page=page,
        query={key: value for key, value in request.args.items() if key not in ("page", "format")},
    )


def _by() -> str:
    operator = current_operator()
    return operator.email if operator else "console"


def _review(booking_id: int, approve: bool) -> ResponseReturnValue:
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        abort(400, description=f"the reason is at most {MAX_REASON} characters")
    policy = BookingPolicy(no_show=runtime().settings.bookings.no_show)
    try:
        with unit_of_work(runtime().engine) as session:
            done = review_booking(
                session, booking_id, approve=approve, by=_by(), policy=policy, reason=reason
            )
            if not done.action.startswith("already"):
                record_action(
                    session,
                    operator=_by(),
                    via=Via.CONSOLE,
                    action="booking.approve" if approve else "booking.reject",
                    subject=f"booking:{booking_id}",
                    reason=reason,
                )
            session.commit()
    except BookingNotFound as exc:
        abort(404, description=str(exc))
    except ReviewRefused as exc:
        abort(409, description=str(exc))
    row = done.booking
    if done.action.startswith("already"):
        flash(f"booking #{booking_id} was {done.action[8:]} before; nothing changed")
    elif done.action == "rejected":
        flash(f"booking #{booking_id} rejected; nothing was debited")
    elif row["status"] == BookingStatus.DEBITED:
        flash(
            f"booking #{booking_id} approved: {row['amount']} {row['credit_type']} debited; "
            f"balance now {done.balance}"
        )
    else:
        flash(f"booking #{booking_id} approved, but {row['status']}: {row['note']}", "error")
    return redirect(url_for("console_bookings.bookings", status=BookingStatus.HELD_FOR_REVIEW))


@console_bookings.post("/bookings/<int:booking_id>/approve")
@admin_required
def approve(booking_id: int) -> ResponseReturnValue:
    """Approve a held booking: it debits its learner as a proven booking would have, once."""
    return _review(booking_id, True)


@console_bookings.post("/bookings/<int:booking_id>/reject")
@admin_required
def reject(booking_id: int) -> ResponseReturnValue:
    """Reject a held booking: nothing is debited; it stays listed as rejected."""
    return _review(booking_id, False)


@console_bookings.post("/learners/<int:learner_id>/booking-link")
@admin_required
def learner_link(learner_id: int) -> ResponseReturnValue:
    """Make the learner's booking link, give them a new one, or end it."""
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, description="action is create, rotate or revoke")
    try:
        with unit_of_work(runtime().engine) as session:
            changed = change_booking_link(
                session, learner_id, action, runtime().settings.claims.secret, by=_by()
            )
            session.commit()
    except LearnerNotFound as exc:
        abort(404, description=str(exc))
    except BookingLinkSecretMissing as exc:
        abort(409, description=str(exc))
    flash(
        {
            "create": "booking link made",
            "rotate": "new booking link made; the old one no longer debits anyone",
            "revoke": "booking link revoked: bookings that name only this learner's e-mail "
            "are held for review"
            if changed
            else "there was no booking link",
        }[action]
    )
    return redirect(url_for("console.learner", learner_id=learner_id) + "#booking-link")
