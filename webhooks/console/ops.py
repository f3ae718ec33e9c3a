"""/console: the inbox, the outbox, the catalogue and the report, for operators.

Lists filter by status; one row shows its error; admins retry one dead row or all of them.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from bridge.errors import PermanentError
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.rules.report.figures import records
from bridge.rules.report.rows import (
    ReportError,
)
from bridge.services.inbox import (
    DeliveryNotFound,
    inbox_listing,
    retry_now,
    revive_dead,
    show_delivery,
)
from bridge.services.queue import INBOX, OUTBOX
from bridge.services.reporting import build_report, catalogue_report, catalogue_rows
from bridge.services.writeback import (
    OutboxItemNotFound,
    outbox_listing,
    retry_outbox,
    show_outbox_item,
)
from bridge.store.models import OutboxStatus, utcnow
from webhooks.console.auth import (
    admin_required,
    audit_console,
    guard,
    login_required,
    render_page,
)
from webhooks.console.listing import csv_download, queue_list
from webhooks.console.views import file_catalogue
from webhooks.report_view import period_from_query, render_report
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
REPORT_COLUMNS = ["section", "item", "metric", "value"]
# In the order the filters list them.
INBOX_STATUSES = INBOX.statuses
OUTBOX_STATUSES = OUTBOX.statuses
console_ops = Blueprint("console_ops", __name__, url_prefix="/console")
guard(console_ops)


def _status(allowed: tuple[str, ...]) -> str | None:
    status = request.args.get("status", "").strip()
    if status in ("", "all"):
        return None
    if status not in allowed:
        abort(400, description=f"status is one of {', '.join(allowed)} or all")
    return status


@console_ops.get("/inbox")
@login_required
def inbox() -> Response:
    """Webhook deliveries, newest first, filtered by status, paged, sorted, exported as CSV;
    failed and dead ones grouped by the cause of their error."""
    status = _status(INBOX_STATUSES)
    listed = queue_list(
        inbox_listing,
        runtime().engine,
        [status] if status else None,
        INBOX.listed,
        (DeliveryStatus.FAILED, DeliveryStatus.DEAD),
        "inbox",
    )
    if isinstance(listed, Response):
        return listed
    return render_page(
        "console/inbox.html",
        rows=listed.rows,
        counts=listed.counts,
        status=status or "all",
        statuses=INBOX_STATUSES,
        listed=listed,
        page=listed.page,
        query=listed.query,
    )


@console_ops.get("/inbox/<int:inbox_id>")
@login_required
def delivery(inbox_id: int) -> Response:
    """One delivery with its error and body."""
    try:
        data = show_delivery(runtime().engine, inbox_id)
    except DeliveryNotFound as exc:
        abort(404, description=str(exc))
    return render_page("console/delivery.html", row=data)


def _process_after(response: WerkzeugResponse) -> WerkzeugResponse:
    """Once the answer is out, wake the processing: the retried deliveries are due now, and the
    same drain as for any delivery claims and processes them (a worker's, beside a store-only
    web process); failures stay on their rows."""
    rt = runtime()

    def work() -> None:
        try:
            rt.processor.wake()
        except Exception:  # noqa: BLE001  (the answer is sent; the next drain takes them)
            log.exception("processing retried deliveries failed")

    response.call_on_close(work)
    return response


@console_ops.post("/inbox/<int:inbox_id>/retry")
@admin_required
def retry_delivery(inbox_id: int) -> ResponseReturnValue:
    """Process a failed or dead delivery again, with fresh attempts."""
    engine = runtime().engine
    if not retry_now(engine, inbox_id):
        abort(409, description=f"delivery #{inbox_id} is not failed or dead")
    audit_console("inbox.retry", f"inbox:{inbox_id}")
    flash(f"delivery #{inbox_id} is being processed again")
    return _process_after(redirect(url_for("console_ops.delivery", inbox_id=inbox_id)))


@console_ops.post("/inbox/retry-dead")
@admin_required
def retry_dead_deliveries() -> ResponseReturnValue:
    """Every dead delivery, processed again with fresh attempts."""
    ids = revive_dead(runtime().engine)
    audit_console("inbox.retry", "inbox:dead", details={"retried": len(ids)})
    flash(f"{len(ids)} dead deliveries are being processed again" if ids else "no dead deliveries")
    return _process_after(redirect(url_for("console_ops.inbox", status=DeliveryStatus.DEAD)))


@console_ops.get("/outbox")
@login_required
def outbox() -> Response:
    """Write-backs to WooCommerce, filtered by status, paged, sorted, exported as CSV; dead
    ones grouped by the cause of their error."""
    status = _status(OUTBOX_STATUSES)
    listed = queue_list(
        outbox_listing,
        runtime().engine,
        [status] if status else OUTBOX_STATUSES,
        OUTBOX.listed,
        (OutboxStatus.DEAD,),
        "outbox",
    )
    if isinstance(listed, Response):
        return listed
    return render_page(
        "console/outbox.html",
        rows=listed.rows,
        counts=listed.counts,
        status=status or "all",
        statuses=OUTBOX_STATUSES,
        listed=listed,
        page=listed.page,
        query=listed.query,
    )


@console_ops.get("/outbox/<int:item_id>")
@login_required
def outbox_item(item_id: int) -> Response:
    """One write-back with its payload, its error and what was last written to its target."""
    try:
        data = show_outbox_item(runtime().engine, item_id)
    except OutboxItemNotFound as exc:
        abort(404, description=str(exc))
    return render_page("console/outbox_item.html", row=data)


@console_ops.post("/outbox/<int:item_id>/retry")
@admin_required
def retry_outbox_item(item_id: int) -> ResponseReturnValue:
    """Send a dead write-back again with fresh attempts (the outbox job sends it)."""
    try:
        retry_outbox(runtime().engine, item_id)
    except OutboxItemNotFound as exc:
        abort(404, description=str(exc))
    except PermanentError as exc:
        abort(409, description=str(exc))
    audit_console("outbox.retry", f"outbox:{item_id}")
    flash(f"write-back #{item_id} is queued again; the outbox job sends it")
    return redirect(url_for("console_ops.outbox_item", item_id=item_id))


@console_ops.post("/outbox/retry-dead")
@admin_required
def retry_dead_outbox() -> ResponseReturnValue:
    """Every dead write-back, queued again with fresh attempts."""
    count = retry_outbox(runtime().engine, all_dead=True)
    audit_console("outbox.retry", "outbox:dead", details={"retried": count})
    flash(f"{count} dead write-backs are queued again" if count else "no dead write-backs")
    return redirect(url_for("console_ops.outbox", status=OutboxStatus.PENDING))


@console_ops.get("/catalogue")
@login_required
def catalogue() -> Response:
    """Micro-SKUs with the products that sell them and their problems."""
    rt = runtime()
    report, error = catalogue_report(rt.engine, file_catalogue, rt.settings)
    return render_page(
        "console/catalogue.html",
        error=error,
        rows=catalogue_rows(report) if report else [],
        problems=report.problems if report else (),
        cohorts=report.catalogue.cohorts if report else {},
    )


@console_ops.get("/report")
@login_required
def report() -> Response:
    """The outcome report, in the console (no token needed once logged in)."""
    settings = runtime().settings
    now = utcnow()
    try:
        period = period_from_query(
            request.args, settings.report.timezone, now, settings.report.max_days
        )
    except ReportError as exc:
        abort(400, description=str(exc))
    figures = build_report(
        runtime().engine, period, now, paid_statuses=settings.orders.paid_statuses
    )
    if request.args.get("format") == "csv":  # the same rows as `bridge report --format csv`
        rows = [dict(zip(REPORT_COLUMNS, row, strict=True)) for row in records(figures)]
        return csv_download(rows, REPORT_COLUMNS, "report")
    query = {key: value for key, value in request.args.items() if key != "format"}
    return render_page("console/report.html", body=render_report(figures), query=query)
