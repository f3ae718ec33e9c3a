"""/console: the audit trail, every learner's ledger, and the alerts page (send a test alert).

Lists page with ``?page=&per_page=`` and export with ``?format=csv`` (bridge.rules.listing: the
CSV has the JSON's columns); the audit trail filters by operator, action, subject, channel and
date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from bridge.rules.listing import Page, page_number, per_page
from bridge.services.alerts import incident_data, list_incidents, send_test_alert
from bridge.services.audit import (
    AuditFilter,
    Via,
    event_data,
    known_actions,
    list_events,
    record_action,
)
from bridge.services.learners import LEDGER_COLUMNS, LEDGER_SORTS, LedgerQuery, list_ledger
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

console_business = Blueprint("console_business", __name__, url_prefix="/console")
guard(console_business)

AUDIT_COLUMNS = ["id", "at", "operator", "via", "action", "subject", "reason", "details"]


def _day(name: str) -> datetime | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        abort(400, description=f"{name} is a date, YYYY-MM-DD")


def _audit_filter() -> AuditFilter:
    args = request.args
    via = args.get("via", "").strip()
    if via and via not in {v.value for v in Via}:
        abort(400, description=f"via is one of {', '.join(v.value for v in Via)}")
    until = _day("until")
    return AuditFilter(
        operator=args.get("operator", "").strip()[:200],
        action=args.get("action", "").strip()[:64],
        subject=args.get("subject", "").strip()[:200],
        via=via,
        since=_day("since"),
        until=until + timedelta(days=1) if until else None,  # the whole last day
    )


@console_business.get("/audit")
@login_required
def audit() -> Response:
    """Every operator action (who, when, through what, on what, why), newest first."""
    flt = _audit_filter()
    as_csv = request.args.get("format") == "csv"
    with unit_of_work(runtime().engine) as session:
        if as_csv:
            rows, total = list_events(session, flt, limit=CSV_MAX_ROWS)
            return csv_download([event_data(row) for row in rows], AUDIT_COLUMNS, "audit")
        count = per_page(request.args.get("per_page"))
        _, total = list_events(session, flt, limit=0)
        page = Page(page_number(request.args.get("page")), count, total)
        rows, _ = list_events(session, flt, limit=count, offset=page.offset)
        actions = known_actions(session)
    query = {key: value for key, value in request.args.items() if key not in ("page", "format")}
    return render_page(
        "console/audit.html",
        rows=[event_data(row) for row in rows],
        page=page,
        flt=request.args,
        actions=actions,
        vias=[v.value for v in Via],
        query=query,
    )


@console_business.get("/alerts")
@login_required
def alerts() -> Response:
    """Incidents (open first), where alerts go, and the test-alert button."""
    rt = runtime()
    with unit_of_work(rt.engine) as session:
        rows = [incident_data(row) for row in list_incidents(session)]
    return render_page(
        "console/alerts.html", rows=rows, channels=rt.settings.alerts.channels, sent=None
    )


@console_business.post("/alerts/test")
@admin_required
def alerts_test() -> ResponseReturnValue:
    """Send a test alert to every configured channel (an audit row says who did)."""
    rt = runtime()
    if not rt.settings.alerts.channels:
        abort(400, description="no alert channel is set (see README, Alerts)")
    outcome = send_test_alert(rt.settings, rt.clock())
    operator = current_operator()
    with unit_of_work(rt.engine) as session:
        record_action(
            session,
            operator=operator.email if operator else "console",
            via=Via.CONSOLE,
            action="alerts.test",
            details=outcome,
        )
        session.commit()
    for channel, result in outcome.items():
        flash(
            f"{channel}: {'test alert sent' if result == 'sent' else result}",
            "message" if result == "sent" else "error",
        )
    return redirect(url_for("console_business.alerts"))


@console_business.get("/ledger")
@login_required
def ledger() -> Response:
    """Every learner's ledger rows, newest first: narrowed by credit type, reason, who made a
    manual row, or learner; sorted, paged, and every matching row as CSV."""
    args = request.args
    sort = args.get("sort", "newest")
    if sort not in LEDGER_SORTS:
        abort(400, description=f"sort is one of {', '.join(LEDGER_SORTS)}")
    learner = args.get("learner", "").strip()
    if learner and not learner.isdigit():
        abort(400, description="learner is a learner's id, e.g. 12")
    query = LedgerQuery(
        credit_type=args.get("credit_type", "").strip()[:64],
        reason=args.get("reason", "").strip()[:32],
        actor=args.get("actor", "").strip()[:100],
        learner_id=int(learner) if learner else None,
        sort=sort,
    )
    with unit_of_work(runtime().engine) as session:
        if args.get("format") == "csv":
            rows, _ = list_ledger(session, query, limit=CSV_MAX_ROWS)
            return csv_download(rows, LEDGER_COLUMNS, "ledger")
        count = per_page(args.get("per_page"))
        _, total = list_ledger(session, query, limit=0)
        page = Page(page_number(args.get("page")), count, total)
        rows, _ = list_ledger(session, query, limit=count, offset=page.offset)
    return render_page(
        "console/ledger.html",
        rows=rows,
        page=page,
        flt=args,
        sorts=LEDGER_SORTS,
        query={key: value for key, value in args.items() if key not in ("page", "format")},
    )
