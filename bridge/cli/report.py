"""`bridge report`: the outcome report as a table, JSON or CSV.

Registered on the ``bridge`` group by bridge.cli.main; shared helpers come from bridge.cli.context.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import click

from bridge.cli.context import AppContext
from bridge.cli.credentials import pathway_report_csv, pathway_report_table, report_pathways
from bridge.cli.output import DAY, credit_text, plural, to_json, usage_error
from bridge.cli.output import table as output_table
from bridge.rules.report.bookings import shown_booking_months
from bridge.rules.report.figures import (
    Report,
    entry_label,
    money,
    month_label,
    percent,
    records,
    shown_mentor_months,
    shown_retention,
    shown_revenue,
)
from bridge.rules.report.rows import (
    ALL,
    DEFINITIONS,
    NO_DATA,
    STEPS,
    ReportError,
    check_timezone,
    report_period,
)
from bridge.rules.words import duration
from bridge.services.reporting import build_report
from bridge.store.models import utcnow

STEP_TITLES = {
    "preview": "preview",
    "paid": "paid",
    "first_call": "1st call",
    "subscription": "subscribed",
}


def _app(ctx: click.Context) -> AppContext:
    return ctx.find_root().obj


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Columns padded to their widest cell; the first left-aligned, the rest right-aligned."""
    return output_table(headers, rows, right=range(1, len(headers)), shrink=[0])


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g} d"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def render_table(report: Report) -> str:
    """The report for a terminal: one titled section per figure."""
    period = report.period
    last = period.until - timedelta(days=1)  # --until is the first day left out
    out = [f"Outcome report {period.since} to {last}, whole days, time zone {period.timezone}", ""]

    out.append("Funnel by entry SKU (learners; rate and median days from the step before)")
    if report.funnel:
        rows = []
        for row in report.funnel:
            cells: list[str] = [entry_label(row)]
            for step in STEPS:
                count = row.learners[step]
                extra = ""
                if row.rates[step] is not None:
                    extra = f" {percent(row.rates[step])}, {_days(row.median_days[step])}"
                cells.append(_count(count) + extra)
            rows.append(cells)
        out += table(["entry", *(STEP_TITLES[s] for s in STEPS)], rows)
    else:
        out.append(f"  {NO_DATA}: nobody entered in this period")
    out.append("")

    out.append("Revenue by micro-SKU (before tax; refunds when they happened)")
    revenue = shown_revenue(report.revenue)
    if revenue:
        amounts = [
            [
                row.sku,
                row.currency,
                row.orders,
                row.units,
                money(row.revenue),
                money(row.refunds),
                money(row.net),
            ]
            for row in [*revenue, *report.revenue_totals]
        ]
        out += table(["sku", "cur", "orders", "units", "revenue", "refunds", "net"], amounts)
    else:
        out.append(f"  {NO_DATA}: no purchases or refunds in this period")
    out.append("")

    out.append("Cohort fill (seats now)")
    if report.cohorts:
        out += table(
            ["cohort", "starts", "active", "capacity", "fill", "waitlist"],
            [
                [
                    c.code,
                    c.starts_at.astimezone(period.zone).date() if c.starts_at else "-",
                    c.active,
                    c.capacity,
                    percent(c.fill, "-"),
                    c.waitlisted,
                ]
                for c in report.cohorts
            ],
        )
    else:
        out.append(f"  {NO_DATA}: no cohort runs in or after this period")
    out.append("")

    out.append("Mentor time by month")
    total = report.mentor_totals
    months = shown_mentor_months(report.mentor_months)
    if months:
        out += table(
            ["month", "granted", "reversed", "redeemed", "expired"],
            [
                [
                    month_label(m.month),
                    *map(duration, (m.granted, m.reversed, m.redeemed, m.expired)),
                ]
                for m in months
            ]
            + [
                [
                    ALL,
                    *map(duration, (total.granted, total.reversed, total.redeemed, total.expired)),
                ]
            ],
        )
    else:
        out.append("  no mentor time granted, redeemed or expired in this period")
    if report.outstanding:
        owed = ", ".join(
            f"{credit_text(amount['outstanding'], credit_type)} "
            f"({plural(amount['learners'], 'learner')})"
            for credit_type, amount in report.outstanding.items()
        )
        out.append(f"Outstanding at the end of {last}: {owed}")
    else:
        out.append(f"Outstanding at the end of {last}: nothing")
    out.append("")

    repeat = report.repeat
    out.append(
        f"Repeat purchase rate: {percent(repeat.rate)} "
        f"({repeat.repeat_buyers} of {plural(repeat.buyers, 'buyer')})"
    )
    retention = shown_retention(report.retention)
    if report.retention_rate is None:
        out.append(
            "Mentor retention: no data (no mentor had redemptions in a month and the month before)"
        )
    else:
        out.append(
            f"Mentor retention: {percent(report.retention_rate)} of mentors with "
            "redemptions in a month had some the next month too"
        )
    if retention:
        out += table(
            ["month", "mentors", "previous", "retained", "rate"],
            [
                [month_label(m.month), m.mentors, m.previous, m.retained, percent(m.rate, "-")]
                for m in retention
            ],
        )
    out.append("")

    out.append("Bookings (Cal.com, Calendly) by the month they start: time booked, held, no-show")
    booked = report.booking_totals
    booking_months = shown_booking_months(report.booking_months)
    if booking_months:
        out += table(
            ["month", "bookings", "booked", "held", "no-show", "unfunded", "unknown"],
            [
                [
                    month_label(m.month),
                    m.bookings,
                    *map(duration, (m.booked, m.held, m.no_show)),
                    m.unfunded,
                    m.unknown_learner,
                ]
                for m in booking_months
            ]
            + [
                [
                    ALL,
                    booked.bookings,
                    *map(duration, (booked.booked, booked.held, booked.no_show)),
                    booked.unfunded,
                    booked.unknown_learner,
                ]
            ],
        )
    else:
        out.append("  no bookings start in this period")
    if booked.unfunded or booked.unknown_learner:
        out.append(
            "Nothing was debited for unfunded and unknown bookings: `bridge bookings "
            "--status unfunded` lists them"
        )
    if report.returning:
        out.append("Learners who book the same mentor again")
        out += table(
            ["mentor", "learners", "returning", "rate"],
            [[r.mentor, r.learners, r.returning, percent(r.rate, "-")] for r in report.returning],
        )
    else:
        out.append(f"Learners who book the same mentor again: {NO_DATA}")
    out.append("")

    outcomes = report.outcomes
    out.append("Outcomes (events from outside the shop)")
    if outcomes.project_data:
        out += table(
            ["project sku", "started", "submitted", "rate"],
            [[p.sku, p.started, p.submitted, percent(p.rate, "-")] for p in outcomes.projects],
        )
    out.append(f"Projects submitted vs started: {percent(outcomes.submission_rate)}")
    per_100 = outcomes.interviews_per_100_graduates
    out.append(f"Graduates: {outcomes.graduates}")
    out.append(
        "Interviews per 100 graduates: "
        + (
            NO_DATA
            if per_100 is None
            else f"{per_100:g} ({plural(outcomes.interviews, 'interview')})"
        )
    )
    out.append(
        f"Placements: {percent(outcomes.placement_rate)}"
        + (f" ({outcomes.placed} placed)" if outcomes.placement_rate is not None else "")
    )
    if report.team_packs:
        out += ["", "Team packs (places sold in this period: claim page viewed, claimed, held now)"]
        out += table(
            [
                "team pack",
                "orders",
                "sold",
                "viewed",
                "claimed",
                "held",
                "open",
                "void",
                "claimed %",
            ],
            [
                [
                    p.sku,
                    p.orders,
                    p.sold,
                    p.viewed,
                    p.claimed,
                    p.held,
                    p.open,
                    p.void,
                    percent(p.claim_rate, "-"),
                ]
                for p in report.team_packs
            ],
        )
    return "\n".join(out)


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "item", "metric", "value"])
    writer.writerows(records(report))
    return buffer.getvalue()


@click.command("report", short_help="The outcome report creators steer by.")
@click.option(
    "--since",
    metavar="DATE",
    type=DAY,
    help="First day included, YYYY-MM-DD [default: the first day of the month 11 months ago].",
)
@click.option(
    "--until",
    metavar="DATE",
    type=DAY,
    help="First day NOT included, YYYY-MM-DD [default: tomorrow].",
)
@click.option(
    "--timezone",
    "timezone",
    metavar="TZ",
    help="IANA time zone of the days and months [default: BRIDGE_REPORT_TIMEZONE].",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="How to print the report.",
)
@click.option("--definitions", is_flag=True, help="Print how each figure is defined and stop.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print machine-readable JSON (the same as --format json).",
)
@click.pass_context
def report_command(
    ctx: click.Context,
    since: date | None,
    until: date | None,
    timezone: str | None,
    output: str,
    definitions: bool,
    as_json: bool,
) -> None:
    """The outcome report: funnel, revenue, cohort fill, mentor time, retention, outcomes.

    Days and months are those of the report time zone; the period is [since, until).
    """
    if as_json:
        output = "json"
    if definitions:
        if output == "json":
            click.echo(to_json(dict(DEFINITIONS)))
            return
        for name, text in DEFINITIONS:
            click.echo(f"{name}: {text}")
        return
    app = _app(ctx)
    settings = app.settings
    now = utcnow()
    try:
        period = report_period(
            since,
            until,
            check_timezone(timezone or settings.report.timezone, "--timezone"),
            now,
            max_days=settings.report.max_days,
        )
    except ReportError as exc:  # a bad option value (a period too long too): usage
        raise usage_error(str(exc)) from None
    report = build_report(
        app.ready_engine(), period, now, paid_statuses=settings.orders.paid_statuses
    )
    pathways = report_pathways(app)
    if output == "json":
        data = report.as_dict()
        if pathways:  # the catalogue's pathways (skill stacks), when it has any
            data["pathways"] = pathways
        click.echo(to_json(data))
    elif output == "csv":
        click.echo(render_csv(report) + pathway_report_csv(pathways), nl=False)
    else:
        click.echo(render_table(report) + pathway_report_table(pathways))
