"""GET /report: the outcome report as one HTML page, charts drawn on the server as inline SVG.

No script, no external asset: the page reads on a phone and leaks nothing to other hosts.
A token is required (scope read). It is taken from ``Authorization: Bearer`` (scripts) or from
``?token=`` (a phone's bookmark cannot send a header). A token in a URL lands in browser
history, so the query accepts only read tokens; the page sends no Referer and is not cached.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from markupsafe import Markup
from sqlalchemy.exc import OperationalError

from bridge.rules.report_bookings import shown_booking_months
from bridge.rules.report_figures import (
    FunnelRow,
    MentorMonth,
    MoneyRow,
    Report,
    entry_label,
    money,
    month_label,
    percent,
    shown_mentor_months,
    shown_retention,
    shown_revenue,
)
from bridge.rules.report_rows import (
    ALL,
    DEFINITIONS,
    NO_DATA,
    STEPS,
    Period,
    PeriodTooLong,
    ReportError,
    check_timezone,
    parse_day,
    report_period,
)
from bridge.services.api_tokens import TokenIdentity, authenticate, touch
from bridge.services.report import build_report
from bridge.store.db import DatabaseUnavailable, QueryTimeout, describe_db_error, unit_of_work
from bridge.store.models import utcnow
from webhooks.page_limits import PagesBusy, query_timeout_message
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
report_page = Blueprint("report_page", __name__)

STEP_TITLES = {"preview": "Free preview", "paid": "Paid micro-offer",
               "first_call": "First mentor call", "subscription": "Subscription"}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
GRANTED_COLOUR = "#2f6fde"
REDEEMED_COLOUR = "#e07b24"


def _identify() -> tuple[TokenIdentity | None, str | None, bool]:
    """The token's identity, why it was refused, and whether it came in the query string."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None, "send Authorization: Bearer <token>", False
        presented, in_query = presented.strip(), False
    else:
        presented, in_query = request.args.get("token", "").strip(), True
        if not presented:
            return None, "a token is required: add ?token=<read token> to the address", True
    with unit_of_work(runtime().engine) as session:
        identity = authenticate(session, presented)
        if identity is not None:
            touch(session, identity.id)
            session.commit()
    if identity is None:
        return None, "the token is unknown or revoked", in_query
    return identity, None, in_query


def _page(title: str, body: Markup | str, status: int = 200) -> Response:
    html = Markup(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        "<title>{title}</title><link rel=\"stylesheet\" href=\"{css}\"></head><body>"
        "<header class=\"top\"><a class=\"brand\" href=\"{console}\">creator-bridge</a>"
        "</header><main class=\"report\">{body}</main></body></html>"
    ).format(title=title, css=url_for("assets.static", filename="console.css"),
             console=url_for("console.home"), body=body)
    response = Response(str(html), status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def _refusal(status: int, message: str, **details: Any) -> Response:
    """An HTML page saying why; JSON ({"error": ...}) to a client that prefers JSON."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) \
            == "application/json":
        response = jsonify({"error": message, **details})
        response.status_code = status
        response.headers.update(SECURITY_HEADERS)
    else:
        response = _page("Outcome report",
                         Markup("<h1>Outcome report</h1><p>{}</p>").format(message), status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="creator-bridge"'
    return response


def period_from_query(args: Mapping[str, str], timezone: str, now: datetime,
                      max_days: int) -> Period:
    """The period asked for by ``since``, ``until`` and ``tz``; ReportError names a bad one
    (PeriodTooLong one longer than ``max_days``)."""
    return report_period(
        parse_day(args.get("since"), "since"),
        parse_day(args.get("until"), "until"),
        check_timezone(args.get("tz") or timezone, "tz"),
        now,
        max_days=max_days,
    )


@report_page.errorhandler(DatabaseUnavailable)
@report_page.errorhandler(OperationalError)
def _database_error(exc: Exception) -> Response:
    detail = describe_db_error(exc) if isinstance(exc, OperationalError) else str(exc)
    log.error("report page failed on the database: %s", detail)
    return _refusal(503, "the database is unavailable; try again in a minute")


@report_page.errorhandler(QueryTimeout)
@report_page.errorhandler(PagesBusy)
def _too_busy(exc: QueryTimeout | PagesBusy) -> Response:
    """A query past its budget, or every page slot taken: 503, try again later."""
    if isinstance(exc, QueryTimeout):
        log.warning("report query stopped after %g s", exc.seconds)
        message, code = query_timeout_message(exc), "query_timeout"
        seconds = max(1, math.ceil(exc.seconds))
    else:
        message, code, seconds = str(exc), "pages_busy", exc.retry_after
    response = _refusal(503, message, code=code)
    response.headers["Retry-After"] = str(seconds)
    return response


@report_page.get("/report")
def show_report() -> Response:
    """The outcome report for ?since=&until= (YYYY-MM-DD, until excluded) and ?tz=."""
    identity, problem, in_query = _identify()
    if identity is None:
        return _refusal(401, problem or "a token is required")
    if not identity.allows("read"):
        return _refusal(403, f"token {identity.name} may not read the report")
    if in_query and not identity.read_only:
        return _refusal(403, f"token {identity.name} can do more than read (scope "
                        f"{identity.scope}), so it must not travel in an address; make a read "
                        "token (bridge tokens create phone --scope read) and use that one")
    settings = runtime().settings
    now = utcnow()
    try:
        period = period_from_query(request.args, settings.report_timezone, now,
                                   settings.report_max_days)
    except PeriodTooLong as exc:
        return _refusal(400, str(exc), code="period_too_long", days=exc.days,
                        max_days=exc.max_days)
    except ReportError as exc:
        return _refusal(400, str(exc), code="bad_period")
    report = build_report(runtime().engine, period, now, paid_statuses=settings.paid_statuses)
    token = request.args.get("token") if in_query else None
    return _page(f"Outcome report {period.since} to {period.until}", render_report(report, token))


# --- rendering (pure: a report in, markup out) ------------------------------------------------

def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
           totals: Sequence[Sequence[Any]] = ()) -> Markup:
    head = Markup("").join(Markup("<th scope=\"col\">{}</th>").format(h) for h in headers)
    plain, total = Markup("<tr>{}</tr>"), Markup("<tr class=\"total\">{}</tr>")
    # Joined once: adding row after row to one string would copy it for every row.
    body = Markup("").join(
        template.format(Markup("").join(Markup("<td>{}</td>").format(c) for c in row))
        for row, template in [*((r, plain) for r in rows), *((r, total) for r in totals)])
    return Markup("<div class=\"scroll\"><table><thead><tr>{}</tr></thead><tbody>{}</tbody>"
                  "</table></div>").format(head, body)


def _section(key: str, title: str, content: Markup) -> Markup:
    return Markup("<section id=\"{}\"><h2>{}</h2>{}</section>").format(key, title, content)


def _no_data(why: str) -> Markup:
    return Markup("<p class=\"muted\">{}: {}</p>").format(NO_DATA, why)


def funnel_chart(row: FunnelRow) -> Markup:
    """Horizontal bars, one per step, each labelled with its learners and its rate.

    The drawing is 640 units wide, the width the page's sections have, so its 13-unit labels
    show at about the size of the text around them (not doubled, as a narrow drawing would).
    """
    steps = [step for step in STEPS if row.learners[step] is not None]
    top = max((row.learners[step] or 0) for step in steps) or 1
    width, label_width, track = 640, 200, 340
    height = 34 * len(steps) + 6
    bars = Markup("")
    for index, step in enumerate(steps):
        count = row.learners[step] or 0
        bar = max(round(track * count / top, 1), 1)
        y = 6 + 34 * index
        label = f"{count}" + (f" ({percent(row.rates[step])})" if row.rates[step] is not None
                              else "")
        bars += Markup(
            "<text x=\"0\" y=\"{ty}\">{name}</text>"
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"18\" rx=\"2\" fill=\"{c}\">"
            "<title>{name}: {label}</title></rect>"
            "<text x=\"{lx}\" y=\"{ty}\">{label}</text>"
        ).format(ty=y + 14, x=label_width, y=y, w=bar, c=GRANTED_COLOUR, name=STEP_TITLES[step],
                 label=label, lx=label_width + bar + 6)
    title = f"Funnel of learners entering by {row.entry}"
    return Markup(
        "<svg class=\"funnel\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\" "
        "xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>{bars}</svg>"
    ).format(w=width, h=height, t=title, bars=bars)


def _ticks(top: int) -> list[int]:
    """Round y-axis values from 0 to at least ``top``: 0, 30, 60, 90 or 0, 500, 1000."""
    if top <= 0:
        return [0, 1]
    raw = top / 4
    magnitude = 10 ** (len(str(int(raw))) - 1)
    step = next(m * magnitude for m in (1, 2, 2.5, 3, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    ticks = [0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def mentor_chart(months: Sequence[MentorMonth]) -> Markup:
    """Granted and redeemed mentor minutes per month, side by side, on a labelled y axis."""
    ticks = _ticks(max([0, *(max(m.granted, m.redeemed) for m in months)]))
    top = ticks[-1]
    left, width = 64, 640
    plot_top, plot = 24, 150
    base = plot_top + plot
    slot = (width - left) / max(len(months), 1)
    bar = min(22.0, slot * 0.36)
    parts = [Markup(
        "<rect x=\"{left}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{g}\"/>"
        "<text x=\"{lg}\" y=\"13\" class=\"axis\">granted</text>"
        "<rect x=\"{lr}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{r}\"/>"
        "<text x=\"{lrt}\" y=\"13\" class=\"axis\">redeemed</text>"
    ).format(g=GRANTED_COLOUR, r=REDEEMED_COLOUR, left=left, lg=left + 14, lr=left + 90,
             lrt=left + 104)]
    for tick in ticks:
        y = round(base - plot * tick / top, 1)
        parts.append(Markup(
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{c}\"/>"
            "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" class=\"axis\">{v}</text>"
        ).format(x1=left - 4, x2=width, y=y, c="#9aa3b2" if tick == 0 else "#e3e6eb",
                 tx=left - 8, ty=y + 4, v=f"{tick / 1000:g}k" if tick >= 1000 else tick))
    for index, month in enumerate(months):
        x = left + slot * index + (slot - 2 * bar - 2) / 2
        for offset, value, colour, name in ((0, month.granted, GRANTED_COLOUR, "granted"),
                                            (bar + 2, month.redeemed, REDEEMED_COLOUR,
                                             "redeemed")):
            height = round(plot * max(value, 0) / top, 1)
            parts.append(Markup(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{c}\">"
                "<title>{label}: {v} minutes {name}</title></rect>"
            ).format(x=round(x + offset, 1), y=round(base - height, 1), w=round(bar, 1),
                     h=height, c=colour, label=month_label(month.month), v=value, name=name))
        name, year = month_label(month.month).split(" ")
        short = f"{name} '{year[2:]}" if index == 0 or name == "Jan" else name
        parts.append(Markup(
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" class=\"axis\">{label}</text>"
        ).format(x=round(left + slot * index + slot / 2, 1), y=base + 16, label=short))
    return Markup(
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\" "
        "xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>{parts}</svg>"
    ).format(w=width, h=base + 24, t="Mentor minutes granted and redeemed by month",
             parts=Markup("").join(parts))


def _money_cells(row: MoneyRow) -> list[Any]:
    return [row.sku, row.currency, row.orders, row.units, money(row.revenue), money(row.refunds),
            money(row.net)]


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _period_form(report: Report, token: str | None) -> Markup:
    hidden = Markup("<input type=\"hidden\" name=\"token\" value=\"{}\">").format(token) \
        if token else Markup("")
    return Markup(
        "<form method=\"get\" action=\"\"><label>Since<input type=\"date\" name=\"since\" "
        "value=\"{since}\"></label><label>Until (excluded)<input type=\"date\" name=\"until\" "
        "value=\"{until}\"></label><input type=\"hidden\" name=\"tz\" value=\"{tz}\">{hidden}"
        "<button type=\"submit\">Show</button></form>"
    ).format(since=report.period.since.isoformat(), until=report.period.until.isoformat(),
             tz=report.period.timezone, hidden=hidden)


def render_report(report: Report, token: str | None = None) -> Markup:
    """The page body: every section of the report, its charts, and the definitions."""
    period = report.period
    html = Markup("<h1>Outcome report</h1><p class=\"muted\">{since} to {until} (until "
                  "excluded), time zone {tz}; made {made}</p>").format(
        since=period.since, until=period.until, tz=period.timezone,
        made=report.generated_at.astimezone(period.zone).strftime("%Y-%m-%d %H:%M"))
    html += _period_form(report, token)

    funnel = Markup("")
    chart_row = next((r for r in report.funnel if r.entry_sku == ALL and r.entry == "preview"),
                     next((r for r in report.funnel if r.entry_sku == ALL), None))
    if chart_row is None:
        funnel += _no_data("nobody entered the funnel in this period")
    else:
        funnel += funnel_chart(chart_row)
        rows = []
        for row in report.funnel:
            cells: list[Any] = [entry_label(row)]
            for step in STEPS:
                cells.append(_count(row.learners[step]))
                if step != "preview":
                    cells.append(percent(row.rates[step], "-"))
                    cells.append(_days(row.median_days[step]))
            rows.append(cells)
        funnel += _table(["entry SKU", "previews", "paid", "rate", "days", "1st call", "rate",
                          "days", "subscribed", "rate", "days"], rows)
        funnel += Markup("<p class=\"muted\">Rates and median days are from the step before."
                         "</p>")
    html += _section("funnel", "Funnel by entry micro-SKU", funnel)

    revenue = shown_revenue(report.revenue)
    if revenue:
        amounts = _table(["SKU", "currency", "orders", "units", "revenue", "refunds", "net"],
                         [_money_cells(r) for r in revenue],
                         [_money_cells(r) for r in report.revenue_totals])
    else:
        amounts = _no_data("no purchases or refunds in this period")
    html += _section("revenue", "Revenue, refunds and net by micro-SKU", amounts)

    if report.cohorts:
        cohorts = _table(["cohort", "starts", "active", "capacity", "fill", "waitlist"],
                         [[c.code, c.starts_at.astimezone(period.zone).date()
                           if c.starts_at else "-", c.active, c.capacity, percent(c.fill, "-"),
                           c.waitlisted] for c in report.cohorts])
    else:
        cohorts = _no_data("no cohort runs in or after this period")
    html += _section("cohorts", "Cohort fill (seats now)", cohorts)

    total = report.mentor_totals
    months = shown_mentor_months(report.mentor_months)
    if months:
        mentor = mentor_chart(report.mentor_months)
        mentor += _table(["month", "granted", "reversed", "redeemed", "expired"],
                         [[month_label(m.month), m.granted, m.reversed, m.redeemed, m.expired]
                          for m in months],
                         [[ALL, total.granted, total.reversed, total.redeemed, total.expired]])
    else:
        mentor = _no_data("no mentor time was granted, redeemed or expired in this period")
    if report.outstanding:
        mentor += _table(["outstanding at " + period.until.isoformat(), "credits", "learners"],
                         [[credit_type, amount["outstanding"], amount["learners"]]
                          for credit_type, amount in report.outstanding.items()])
    else:
        mentor += Markup("<p>Outstanding: nothing owed.</p>")
    html += _section("mentor-time", "Mentor time (minutes) by month", mentor)

    repeat = report.repeat
    html += _section("repeat", "Repeat purchase rate", Markup(
        "<p><span class=\"figure\">{rate}</span> {repeat} of {buyers} buyers bought again</p>"
    ).format(rate=percent(repeat.rate), repeat=repeat.repeat_buyers, buyers=repeat.buyers))

    if report.retention_rate is None:
        retention = _no_data("no mentor had redemptions in a month and in the month before")
    else:
        retention = Markup("<p><span class=\"figure\">{}</span> of mentors came back the next "
                           "month</p>").format(percent(report.retention_rate))
    months_with_mentors = shown_retention(report.retention)
    if months_with_mentors:
        retention += _table(["month", "mentors", "previous", "retained", "rate"],
                            [[month_label(m.month), m.mentors, m.previous, m.retained,
                              percent(m.rate, "-")] for m in months_with_mentors])
    html += _section("retention", "Mentor retention", retention)

    booked = report.booking_totals
    booking_months = shown_booking_months(report.booking_months)
    if booking_months:
        bookings = _table(["month", "bookings", "booked", "held", "no-show", "unfunded",
                           "unknown learner"],
                          [[month_label(m.month), m.bookings, m.booked, m.held, m.no_show,
                            m.unfunded, m.unknown_learner] for m in booking_months],
                          [[ALL, booked.bookings, booked.booked, booked.held, booked.no_show,
                            booked.unfunded, booked.unknown_learner]])
    else:
        bookings = _no_data("no bookings start in this period")
    if report.returning:
        bookings += _table(["mentor", "learners", "book again", "rate"],
                           [[r.mentor, r.learners, r.returning, percent(r.rate, "-")]
                            for r in report.returning if r.mentor != ALL],
                           [[r.mentor, r.learners, r.returning, percent(r.rate, "-")]
                            for r in report.returning if r.mentor == ALL])
    html += _section("bookings", "Mentor time booked, held and no-show (minutes, by start)",
                     bookings)

    outcomes = report.outcomes
    outside = Markup("")
    if outcomes.project_data:
        outside += _table(["project SKU", "started", "submitted", "rate"],
                          [[p.sku, p.started, p.submitted, percent(p.rate, "-")]
                           for p in outcomes.projects if p.sku != ALL],
                          [[p.sku, p.started, p.submitted, percent(p.rate, "-")]
                           for p in outcomes.projects if p.sku == ALL])
    per_100 = outcomes.interviews_per_100_graduates
    outside += _table(["figure", "value"], [
        ["projects submitted vs started", percent(outcomes.submission_rate)],
        ["graduates", outcomes.graduates],
        ["interviews per 100 graduates", NO_DATA if per_100 is None else f"{per_100:g}"],
        ["interviews", outcomes.interviews if outcomes.interview_data else NO_DATA],
        ["placed graduates", percent(outcomes.placement_rate)],
    ])
    html += _section("outcomes", "Outcomes (events from outside the shop)", outside)
    if report.team_packs:
        html += _section("team-packs", "Team packs: places claimed vs sold", _table(
            ["team pack", "orders", "sold", "page viewed", "claimed", "held now", "open", "void",
             "claimed"],
            [[p.sku, p.orders, p.sold, p.viewed, p.claimed, p.held, p.open, p.void,
              percent(p.claim_rate, "-")] for p in report.team_packs]))

    definitions = Markup("").join(Markup("<dt>{}</dt><dd>{}</dd>").format(name, text)
                                  for name, text in DEFINITIONS)
    html += Markup("<details><summary>How each figure is defined</summary><dl>{}</dl>"
                   "</details>").format(definitions)
    return html

