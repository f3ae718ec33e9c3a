"""/console: the operator console's home, login, learners (with manual credits) and cohorts.

Server-rendered Jinja templates (autoescaped) and one stylesheet. Every view reads through
bridge services; the inbox, outbox, catalogue and report pages are in webhooks.console.ops.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.listing import Page, page_number, per_page
from bridge.services.audit import Via
from bridge.services.catalogue import current_catalogue
from bridge.services.credentials import learner_progress
from bridge.services.learners import (
    FORCE,
    LEARNER_COLUMNS,
    LEARNER_SORTS,
    MAX_QUERY,
    NEW_LEARNER,
    NEW_TYPE,
    AdjustmentRefused,
    LearnerQuery,
    apply_adjustment,
    check_adjustment,
    conferred_credit_types,
    learner_page,
    list_learners,
    preview,
)
from bridge.services.operations import ADDRESS, Count, check_login, pending_settings
from bridge.services.reporting import (
    UnknownCohortCode,
    business_home,
    cohort_roster,
    console_home,
    list_cohorts,
)
from bridge.store.db import unit_of_work
from webhooks.console.auth import (
    admin_required,
    current_operator,
    guard,
    log_in,
    log_out,
    login_required,
    render_page,
    safe_next,
)
from webhooks.console.listing import CSV_MAX_ROWS, csv_download
from webhooks.runtime import client_address, runtime

console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
guard(console)


def file_catalogue() -> Catalogue:
    """The catalogue in force, as applied (`bridge catalog apply`; errors shown, not raised)."""
    rt = runtime()
    return current_catalogue(rt.engine, rt.settings.catalogue.file)


def _client_address() -> str:
    """The client's address, through BRIDGE_PROXY_HOPS proxies, as the claim pages count it."""
    return client_address(runtime().settings.web.proxy_hops)[:64]


@console.get("/")
@login_required
def home() -> Response:
    """Health at a glance, with the action that fixes each problem."""
    rt = runtime()
    return render_page(
        "console/home.html",
        data=console_home(rt.engine, rt.settings, file_catalogue),
        money=business_home(rt.engine, rt.settings, rt.clock()),
        pending=pending_settings(rt.settings, rt.env_file),
    )


def _locked(count: Count) -> TooManyRequests:
    """429 with Retry-After: the address's or the account's budget of attempts is spent (the
    same words whether the account exists or not)."""
    wait = count.retry_after(runtime().clock())
    whom = "from your address" if count.scope == ADDRESS else "for this account"
    minutes = max(1, round(wait.total_seconds() / 60))
    return TooManyRequests(
        description=f"too many wrong passwords {whom}: try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}",
        retry_after=max(1, round(wait.total_seconds())),
    )


@console.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Log in with e-mail and password; too many wrong passwords from one address or for one
    account get 429 (each attempt is counted before its password is evaluated)."""
    rt = runtime()
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_operator() is not None:
            return redirect(target)
        return render_page("console/login.html", next=target, email="")
    email = request.form.get("email", "")[:254]
    result = check_login(
        rt.engine, _client_address(), email, request.form.get("password", ""), rt.clock()
    )
    if result.operator is None:
        if result.locked is not None:
            raise _locked(result.locked)
        return render_page(
            "console/login.html",
            http_status=401,
            next=target,
            email=email,
            error="wrong e-mail or password",
        )
    log_in(result.operator)
    return redirect(target)


@console.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session in the database (a saved copy of the cookie opens nothing after)."""
    log_out()
    flash("logged out")
    return redirect(url_for("console.login"))


@console.get("/learners")
@login_required
def learners() -> Response:
    """Learners filtered (text, cohort, offer, a balance above zero, on a waitlist), sorted and
    paged; ``?format=csv`` exports every matching row with the JSON's columns."""
    args = request.args
    text = args.get("q", "")
    if len(text) > MAX_QUERY:
        abort(400, description=f"search for at most {MAX_QUERY} characters")
    sort = args.get("sort", "newest")
    if sort not in LEARNER_SORTS:
        abort(400, description=f"sort is one of {', '.join(LEARNER_SORTS)}")
    query = LearnerQuery(
        text=text,
        cohort=args.get("cohort", "").strip()[:64],
        offer=args.get("offer", "").strip()[:100],
        balance=args.get("balance") == "on",
        waitlisted=args.get("waitlisted") == "on",
        sort=sort,
    )
    with unit_of_work(runtime().engine) as session:
        if args.get("format") == "csv":
            rows, _ = list_learners(session, query, limit=CSV_MAX_ROWS)
            return csv_download(rows, LEARNER_COLUMNS, "learners")
        count = per_page(args.get("per_page"))
        _, total = list_learners(session, query, limit=0)
        page = Page(page_number(args.get("page")), count, total)
        rows, _ = list_learners(session, query, limit=count, offset=page.offset)
        cohorts = [row["code"] for row in list_cohorts(session)]
    return render_page(
        "console/learners.html",
        q=text,
        rows=rows,
        page=page,
        flt=args,
        sorts=LEARNER_SORTS,
        cohorts=cohorts,
        query={key: value for key, value in args.items() if key not in ("page", "format")},
    )


def _learner_data(learner_id: int) -> dict[str, Any]:
    rt = runtime()
    catalogue = file_catalogue()  # before the session: it reads the database too
    with unit_of_work(rt.engine) as session:
        data = learner_page(
            session,
            learner_id,
            paid_statuses=rt.settings.orders.paid_statuses,
            link_secret=rt.settings.claims.secret,
        )
        if data is not None:
            progress = learner_progress(session, catalogue, learner_id)
            data["pathways"] = [state.as_dict() for state in progress]
    if data is None:
        abort(404, description=f"no learner {learner_id}")
    return data


@console.get("/learners/<int:learner_id>")
@login_required
def learner(learner_id: int) -> Response:
    """Balances, ledger, seats, access, subscriptions, coupons and bookings of one learner."""
    return render_page(
        "console/learner.html", data=_learner_data(learner_id), learner_id=learner_id, form={}
    )


def _adjustment(learner_id: int) -> Any:
    form = request.form
    return check_adjustment(
        learner_id,
        form.get("credit_type", ""),
        form.get("amount", ""),
        form.get("reason", ""),
        revoke=form.get("direction") == "revoke",
        force=form.get("force") == "on",
        new_type=form.get("new_type") == "on",
    )


# How the console says which box lifts a guard rail of a manual adjustment (the CLI's flags).
OVERRIDES = {
    FORCE: "tick “Allow a negative balance” to revoke anyway (the CLI's --force)",
    NEW_TYPE: "tick “New credit type” to add it on purpose (the CLI's --new-type)",
    NEW_LEARNER: "",
}


def _refused(exc: AdjustmentRefused) -> str:
    hint = OVERRIDES.get(exc.override, "")
    return f"{exc}; {hint}" if hint else str(exc)


def _known_types() -> set[str]:
    return conferred_credit_types(runtime().engine, file_catalogue())


@console.post("/learners/<int:learner_id>/adjust")
@admin_required
def adjust(learner_id: int) -> Response:
    """Step one of a manual grant or revoke: show what it will do, write nothing. The guard
    rails are the CLI's (bridge.services.learners): a revoke below zero needs “Allow a negative
    balance”, a credit type the catalogue does not confer needs “New credit type”."""
    data = _learner_data(learner_id)
    try:
        adjustment = _adjustment(learner_id)
        with unit_of_work(runtime().engine) as session:
            shown = preview(session, adjustment, _known_types())
    except AdjustmentRefused as exc:
        return render_page(
            "console/learner.html",
            http_status=400,
            data=data,
            learner_id=learner_id,
            form=request.form,
            error=_refused(exc),
        )
    return render_page(
        "console/adjust_confirm.html",
        data=data,
        learner_id=learner_id,
        change=shown,
        direction=request.form.get("direction", "grant"),
        reference=secrets.token_urlsafe(16),
    )


@console.post("/learners/<int:learner_id>/adjust/confirm")
@admin_required
def adjust_confirm(learner_id: int) -> ResponseReturnValue:
    """Step two: write the ledger row and its audit row, once per confirmation."""
    _learner_data(learner_id)  # 404 for an unknown learner
    reference = request.form.get("reference", "")
    if (
        not (16 <= len(reference) <= 64)
        or not reference.replace("-", "").replace("_", "").isalnum()
    ):
        abort(400, description="the confirmation is missing its reference: start again")
    try:
        adjustment = _adjustment(learner_id)
        operator = current_operator()
        result = apply_adjustment(
            runtime().engine,
            adjustment,
            f"console:{reference}",
            operator=operator.email if operator else "console",
            via=Via.CONSOLE,
            known_types=_known_types(),
        )
    except AdjustmentRefused as exc:
        abort(400, description=_refused(exc))
    verb = "granted" if result["amount"] > 0 else "revoked"
    if result["applied"]:
        flash(
            f"{verb} {abs(result['amount'])} {result['credit_type']}; balance now "
            f"{result['balance']}"
        )
    else:
        flash("this confirmation was already applied; nothing was written twice")
    return redirect(url_for("console.learner", learner_id=learner_id))


@console.get("/cohorts")
@login_required
def cohorts() -> Response:
    """Every cohort: capacity and where it comes from, seats by status."""
    with unit_of_work(runtime().engine) as session:
        rows = list_cohorts(session)
    return render_page("console/cohorts.html", rows=rows)


@console.get("/cohorts/<code>")
@login_required
def cohort(code: str) -> Response:
    """One cohort's roster, waitlist in order and fill over time."""
    try:
        with unit_of_work(runtime().engine) as session:
            data = cohort_roster(session, code)
            others = [row["code"] for row in list_cohorts(session) if row["code"] != code]
    except UnknownCohortCode as exc:
        abort(404, description=str(exc))
    return render_page("console/cohort.html", data=data, others=others)
