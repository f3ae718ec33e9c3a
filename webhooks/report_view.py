"""The outcome report as HTML, for both pages that show it: the console's (a logged-in
operator) and the public /report (a read token). Drawn by ``templates/report/body.html``.

Pure: a report in, markup out; it needs no request or app (tests render it bare), so it has
its own autoescaping Jinja environment. The charts are inline SVG: their geometry is worked
out here, the template only draws it. No script, no external asset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from bridge.rules.report.bookings import shown_booking_months
from bridge.rules.report.figures import (
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
from bridge.rules.report.rows import (
    ALL,
    DEFINITIONS,
    NO_DATA,
    STEPS,
    Period,
    check_timezone,
    parse_day,
    report_period,
)

TEMPLATES = Path(__file__).parent / "templates"
STEP_TITLES = {
    "preview": "Free preview",
    "paid": "Paid micro-offer",
    "first_call": "First mentor call",
    "subscription": "Subscription",
}
GRANTED_COLOUR = "#2f6fde"
REDEEMED_COLOUR = "#e07b24"


def period_from_query(
    args: Mapping[str, str], timezone: str, now: datetime, max_days: int
) -> Period:
    """The period asked for by ``since``, ``until`` and ``tz``; ReportError names a bad one
    (PeriodTooLong one longer than ``max_days``)."""
    return report_period(
        parse_day(args.get("since"), "since"),
        parse_day(args.get("until"), "until"),
        check_timezone(args.get("tz") or timezone, "tz"),
        now,
        max_days=max_days,
    )


@cache
def _templates() -> Environment:
    # Built on first use, not at import: importing a module does nothing.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(report: Report, token: str | None = None) -> Markup:
    """The page body: every section of the report, its charts, and the definitions.

    ``token`` (the read token the page was opened with) goes back as a hidden field of the
    period form, so choosing another period keeps the page open.
    """
    period = report.period
    funnel_row = next(
        (r for r in report.funnel if r.entry_sku == ALL and r.entry == "preview"),
        next((r for r in report.funnel if r.entry_sku == ALL), None),
    )
    html = (
        _templates()
        .get_template("report/body.html")
        .render(
            period=period,
            made=report.generated_at.astimezone(period.zone).strftime("%Y-%m-%d %H:%M"),
            token=token,
            funnel=funnel_chart(funnel_row) if funnel_row is not None else None,
            mentor=(
                mentor_chart(report.mentor_months)
                if shown_mentor_months(report.mentor_months)
                else None
            ),
            repeat=report.repeat,
            repeat_rate=percent(report.repeat.rate),
            retention_rate=(
                None if report.retention_rate is None else percent(report.retention_rate)
            ),
            rows=report_rows(report),
            definitions=DEFINITIONS,
            no_data_text=NO_DATA,
        )
    )
    # The environment escapes every value (autoescape): the output is markup already.
    return Markup(html)  # noqa: S704


def report_rows(report: Report) -> dict[str, list[list[Any]] | None]:
    """Each table's rows (and its total rows) as the cells the page shows; None for a table
    the page leaves out."""
    period, outcomes = report.period, report.outcomes
    mentor, booked = report.mentor_totals, report.booking_totals
    per_100 = outcomes.interviews_per_100_graduates
    return {
        "funnel": [_funnel_cells(row) for row in report.funnel],
        "revenue": [_money_cells(row) for row in shown_revenue(report.revenue)],
        "revenue_totals": [_money_cells(row) for row in report.revenue_totals],
        "cohorts": [
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
        "mentor": [
            [month_label(m.month), m.granted, m.reversed, m.redeemed, m.expired]
            for m in shown_mentor_months(report.mentor_months)
        ],
        "mentor_totals": [[ALL, mentor.granted, mentor.reversed, mentor.redeemed, mentor.expired]],
        "outstanding": [
            [credit_type, amount["outstanding"], amount["learners"]]
            for credit_type, amount in report.outstanding.items()
        ],
        "retention": [
            [month_label(m.month), m.mentors, m.previous, m.retained, percent(m.rate, "-")]
            for m in shown_retention(report.retention)
        ],
        "bookings": [
            [
                month_label(m.month),
                m.bookings,
                m.booked,
                m.held,
                m.no_show,
                m.unfunded,
                m.unknown_learner,
            ]
            for m in shown_booking_months(report.booking_months)
        ],
        "booking_totals": [
            [
                ALL,
                booked.bookings,
                booked.booked,
                booked.held,
                booked.no_show,
                booked.unfunded,
                booked.unknown_learner,
            ]
        ],
        "returning": (
            [
                [r.mentor, r.learners, r.returning, percent(r.rate, "-")]
                for r in report.returning
                if r.mentor != ALL
            ]
            if report.returning
            else None
        ),
        "returning_totals": [
            [r.mentor, r.learners, r.returning, percent(r.rate, "-")]
            for r in report.returning
            if r.mentor == ALL
        ],
        "projects": (
            [
                [p.sku, p.started, p.submitted, percent(p.rate, "-")]
                for p in outcomes.projects
                if p.sku != ALL
            ]
            if outcomes.project_data
            else None
        ),
        "project_totals": [
            [p.sku, p.started, p.submitted, percent(p.rate, "-")]
            for p in outcomes.projects
            if p.sku == ALL
        ],
        "figures": [
            ["projects submitted vs started", percent(outcomes.submission_rate)],
            ["graduates", outcomes.graduates],
            ["interviews per 100 graduates", NO_DATA if per_100 is None else f"{per_100:g}"],
            ["interviews", outcomes.interviews if outcomes.interview_data else NO_DATA],
            ["placed graduates", percent(outcomes.placement_rate)],
        ],
        "team_packs": [
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
    }


def _funnel_cells(row: FunnelRow) -> list[Any]:
    cells: list[Any] = [entry_label(row)]
    for step in STEPS:
        cells.append(_count(row.learners[step]))
        if step != "preview":
            cells.append(percent(row.rates[step], "-"))
            cells.append(_days(row.median_days[step]))
    return cells


def _money_cells(row: MoneyRow) -> list[Any]:
    return [
        row.sku,
        row.currency,
        row.orders,
        row.units,
        money(row.revenue),
        money(row.refunds),
        money(row.net),
    ]


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@dataclass(frozen=True)
class FunnelBar:
    name: str
    label: str
    x: float
    y: float
    width: float
    text_y: float
    label_x: float


@dataclass(frozen=True)
class FunnelChart:
    title: str
    width: int
    height: int
    colour: str
    bars: list[FunnelBar]


def funnel_chart(row: FunnelRow) -> FunnelChart:
    """Horizontal bars, one per step, each labelled with its learners and its rate.

    The drawing is 640 units wide, the width the page's sections have, so its 13-unit labels
    show at about the size of the text around them (not doubled, as a narrow drawing would).
    """
    steps = [step for step in STEPS if row.learners[step] is not None]
    top = max((row.learners[step] or 0) for step in steps) or 1
    width, label_width, track = 640, 200, 340
    bars = []
    for index, step in enumerate(steps):
        count = row.learners[step] or 0
        bar = max(round(track * count / top, 1), 1)
        y = 6 + 34 * index
        label = f"{count}" + (
            f" ({percent(row.rates[step])})" if row.rates[step] is not None else ""
        )
        bars.append(
            FunnelBar(
                name=STEP_TITLES[step],
                label=label,
                x=label_width,
                y=y,
                width=bar,
                text_y=y + 14,
                label_x=label_width + bar + 6,
            )
        )
    return FunnelChart(
        title=f"Funnel of learners entering by {row.entry}",
        width=width,
        height=34 * len(steps) + 6,
        colour=GRANTED_COLOUR,
        bars=bars,
    )


@dataclass(frozen=True)
class Tick:
    y: float
    label: str | int
    colour: str


@dataclass(frozen=True)
class MonthBar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    value: int
    name: str


@dataclass(frozen=True)
class MonthColumn:
    """A month's two bars (granted, redeemed) and its label under the axis."""

    month: str
    bars: tuple[MonthBar, MonthBar]
    label_x: float
    label: str


@dataclass(frozen=True)
class MentorChart:
    title: str
    width: int
    height: int
    left: int
    base: int
    granted_colour: str
    redeemed_colour: str
    ticks: list[Tick]
    months: list[MonthColumn]


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


def mentor_chart(months: Sequence[MentorMonth]) -> MentorChart:
    """Granted and redeemed mentor minutes per month, side by side, on a labelled y axis."""
    values = _ticks(max([0, *(max(m.granted, m.redeemed) for m in months)]))
    top = values[-1]
    left, width = 64, 640
    plot_top, plot = 24, 150
    base = plot_top + plot
    slot = (width - left) / max(len(months), 1)
    bar = min(22.0, slot * 0.36)
    ticks = [
        Tick(
            y=round(base - plot * tick / top, 1),
            label=f"{tick / 1000:g}k" if tick >= 1000 else tick,
            colour="#9aa3b2" if tick == 0 else "#e3e6eb",
        )
        for tick in values
    ]
    columns = []
    for index, month in enumerate(months):
        x = left + slot * index + (slot - 2 * bar - 2) / 2
        bars = []
        for offset, value, colour, name in (
            (0, month.granted, GRANTED_COLOUR, "granted"),
            (bar + 2, month.redeemed, REDEEMED_COLOUR, "redeemed"),
        ):
            height = round(plot * max(value, 0) / top, 1)
            bars.append(
                MonthBar(
                    x=round(x + offset, 1),
                    y=round(base - height, 1),
                    width=round(bar, 1),
                    height=height,
                    colour=colour,
                    value=value,
                    name=name,
                )
            )
        name, year = month_label(month.month).split(" ")
        short = f"{name} '{year[2:]}" if index == 0 or name == "Jan" else name
        columns.append(
            MonthColumn(
                month=month_label(month.month),
                bars=(bars[0], bars[1]),
                label_x=round(left + slot * index + slot / 2, 1),
                label=short,
            )
        )
    return MentorChart(
        title="Mentor minutes granted and redeemed by month",
        width=width,
        height=base + 24,
        left=left,
        base=base,
        granted_colour=GRANTED_COLOUR,
        redeemed_colour=REDEEMED_COLOUR,
        ticks=ticks,
        months=columns,
    )
