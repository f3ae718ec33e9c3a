"""/console/apps: the apps registered for the Open Badges 3.0 API (wallets, employers' systems),
how many learners each can read, and Block (an admin, with the session's CSRF token): the app's
tokens are revoked and it gets no new ones. Each block leaves an audit row."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from bridge.services.audit import Via, record_action
from bridge.services.wallets import block_client, list_clients
from bridge.store.db import unit_of_work
from webhooks.console.auth import (
    admin_required,
    current_operator,
    guard,
    login_required,
    render_page,
)
from webhooks.runtime import runtime

console_wallets = Blueprint("console_wallets", __name__, url_prefix="/console")
guard(console_wallets)


@console_wallets.get("/apps")
@login_required
def apps() -> ResponseReturnValue:
    with unit_of_work(runtime().engine, read_only=True) as session:
        rows = list_clients(session)
    return render_page("console/apps.html", rows=rows)


@console_wallets.post("/apps/<client_id>/block")
@admin_required
def block(client_id: str) -> ResponseReturnValue:
    operator = current_operator()
    by = operator.email if operator else "console"
    reason = request.form.get("reason", "").strip()[:500]
    with unit_of_work(runtime().engine) as session:
        if not block_client(session, client_id, by, runtime().clock()):
            abort(404, description="no such app, or it is blocked already")
        record_action(
            session,
            operator=by,
            via=Via.CONSOLE,
            action="wallet_client.block",
            subject=f"wallet_client:{client_id}",
            reason=reason or None,
        )
        session.commit()
    flash("app blocked: its tokens are revoked and it gets no new ones")
    return redirect(url_for("console_wallets.apps"))
