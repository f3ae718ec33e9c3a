"""The outcome report's figures, computed from plain rows: funnel, revenue, fill, mentor time.

``compute_report`` and the functions it calls are pure: rows, a period and the current time in,
plain data out. How each figure is defined is ``DEFINITIONS`` (bridge.rules.report.rows).
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bridge.rules.bookings.events import RedemptionStatus
from bridge.rules.claims import TeamPackRow, team_pack_funnel
from bridge.rules.cohorts import SeatStatus
from bridge.rules.entitlements import OrderStatus
from bridge.rules.report.bookings import (
    BookingMonth,
    ReturningLearners,
    booked_calls,
    booking_months,
    booking_total,
    returning_learners,
)
from bridge.rules.report.rows import (
    ALL,
    CENT,
    GRANTED,
    MENTOR_CREDIT,
    NO_DATA,
    NOT_AN_OFFER,
    ORDER_LEVEL,
    PAID_OFFER_KINDS,
    PREVIEW,
    STEPS,
    SUBSCRIPTION,
    UNSTARTED_SUBSCRIPTIONS,
    ZERO,
    OrderRow,
    Period,
    ReportRows,
    previous_month,
)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to four places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def median_days(gaps: Iterable[timedelta]) -> float | None:
    days = [gap.total_seconds() / 86400 for gap in gaps]
    return round(statistics.median(days), 1) if days else None


def purchase_time(order: OrderRow, paid_statuses: Iterable[str]) -> datetime | None:
    """When an order was paid, if it was; refunded orders were paid too."""
    if order.status not in {*paid_statuses, OrderStatus.REFUNDED}:
        return None
    return order.paid_at or order.created_at


@dataclass(frozen=True)
class _Step:
    at: datetime
    order_id: int
    rank: int  # previews before paid offers bought in the same order
    line: int
    sku: str


@dataclass(frozen=True)
class FunnelRow:
    """One entry SKU (or ``(all)``): learners reaching each step, rates and median days."""

    entry_sku: str
    entry: str  # "preview" or "paid"
    learners: Mapping[str, int | None]
    rates: Mapping[str, float | None]
    median_days: Mapping[str, float | None]


@dataclass(frozen=True)
class _Journey:
    entry: str
    entry_sku: str
    times: Mapping[str, datetime | None]


def _journeys(rows: ReportRows, period: Period, paid_statuses: Sequence[str]) -> list[_Journey]:
    previews: dict[int, list[_Step]] = defaultdict(list)
    paid: dict[int, list[_Step]] = defaultdict(list)
    subscribed: dict[int, list[datetime]] = defaultdict(list)
    calls: dict[int, list[datetime]] = defaultdict(list)
    for order in rows.orders:
        at = purchase_time(order, paid_statuses)
        if at is None or order.learner_id is None or at >= period.end:
            continue
        for index, line in enumerate(order.lines):
            kind = rows.offer_kinds.get(line.sku)
            if kind == PREVIEW:
                previews[order.learner_id].append(_Step(at, order.order_id, 0, index, line.sku))
            elif kind in PAID_OFFER_KINDS and line.total > 0:
                paid[order.learner_id].append(_Step(at, order.order_id, 1, index, line.sku))
            elif kind == SUBSCRIPTION:
                subscribed[order.learner_id].append(at)
    for sub in rows.subscriptions:
        if sub.start_at is not None and sub.status not in UNSTARTED_SUBSCRIPTIONS:
            subscribed[sub.learner_id].append(sub.start_at)
    for redemption in rows.redemptions:
        if redemption.status != RedemptionStatus.REFUNDED and not redemption.from_booking:
            calls[redemption.learner_id].append(redemption.created_at)
    for learner_id, starts in booked_calls(rows).items():
        calls[learner_id].extend(starts)

    def first_from(times: list[datetime], after: datetime | None) -> datetime | None:
        if after is None:
            return None
        return min((t for t in times if after <= t < period.end), default=None)

    journeys = []
    for learner_id in sorted(set(previews) | set(paid)):
        entry = min(
            previews[learner_id] + paid[learner_id],
            key=lambda s: (s.at, s.order_id, s.rank, s.line),
        )
        if not period.contains(entry.at):
            continue
        times: dict[str, datetime | None] = dict.fromkeys(STEPS)
        if entry.rank == 0:
            times["preview"] = entry.at
            times["paid"] = first_from([s.at for s in paid[learner_id]], entry.at)
        else:
            times["paid"] = entry.at
        times["first_call"] = first_from(calls[learner_id], times["paid"])
        times["subscription"] = first_from(subscribed[learner_id], times["first_call"])
        journeys.append(_Journey("preview" if entry.rank == 0 else "paid", entry.sku, times))
    return journeys


def _between(journey: _Journey, before: str, step: str) -> timedelta | None:
    """From one step to the next; None when the journey did not reach the step (a journey
    that reached a step reached the one before it)."""
    start, end = journey.times[before], journey.times[step]
    if start is None or end is None:
        return None
    return end - start


def _funnel_row(entry_sku: str, entry: str, journeys: Sequence[_Journey]) -> FunnelRow:
    steps = STEPS if entry == "preview" else STEPS[1:]
    learners: dict[str, int | None] = dict.fromkeys(STEPS)
    rates: dict[str, float | None] = dict.fromkeys(STEPS)
    days: dict[str, float | None] = dict.fromkeys(STEPS)
    for index, step in enumerate(steps):
        learners[step] = sum(1 for j in journeys if j.times[step] is not None)
        if index:
            before = steps[index - 1]
            rates[step] = rate(learners[step] or 0, learners[before] or 0)
            days[step] = median_days(
                gap for j in journeys if (gap := _between(j, before, step)) is not None
            )
    return FunnelRow(entry_sku, entry, learners, rates, days)


def funnel(rows: ReportRows, period: Period, paid_statuses: Sequence[str]) -> list[FunnelRow]:
    """Per entry SKU, previews first, each entry kind closed by its ``(all)`` row."""
    journeys = _journeys(rows, period, paid_statuses)
    result = []
    for entry in ("preview", "paid"):
        mine = [j for j in journeys if j.entry == entry]
        for sku in sorted({j.entry_sku for j in mine}):
            result.append(_funnel_row(sku, entry, [j for j in mine if j.entry_sku == sku]))
        if mine:
            result.append(_funnel_row(ALL, entry, mine))
    return result


@dataclass
class MoneyRow:
    """Revenue, refunds and net of one SKU in one currency, in the period."""

    sku: str
    currency: str
    orders: int = 0
    units: int = 0
    revenue: Decimal = ZERO
    refunds: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.revenue - self.refunds


def _dated_refunds(order: OrderRow) -> Iterator[tuple[datetime | None, str, Decimal]]:
    """(when, SKU, amount) of every refund of a paid order."""
    sku_of = {line.line_id: line.sku for line in order.lines}
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    for refund in order.refunds:
        at = refund.refunded_at or order.modified_at
        by_line = [(line_id, amount) for line_id, amount in refund.lines if amount]
        if not by_line:
            yield at, ORDER_LEVEL, refund.total
        for line_id, amount in by_line:
            refunded[line_id] += amount
            yield at, sku_of.get(line_id, ORDER_LEVEL), amount
    if order.status == OrderStatus.REFUNDED:
        # Refunded in full; the part without stored refund details was refunded by its last change.
        for line in order.lines:
            left = line.total - refunded[line.line_id]
            if left > 0:
                yield order.modified_at, line.sku, left


def revenue(
    rows: ReportRows, period: Period, paid_statuses: Sequence[str]
) -> tuple[list[MoneyRow], list[MoneyRow]]:
    """Per SKU and currency, sorted, then one ``(all)`` row per currency.

    Refunds count in the period in which they happened, whenever the order was paid. Lines
    that sold no micro-SKU get rows of their own, after the micro-SKUs, marked as such, and
    stay out of the ``(all)`` micro-SKU totals.
    """
    table: dict[tuple[str, str], MoneyRow] = {}
    orders: dict[tuple[str, str], set[int]] = defaultdict(set)

    def row(sku: str, currency: str) -> MoneyRow:
        return table.setdefault((sku, currency), MoneyRow(sku, currency))

    for order in rows.orders:
        paid_at = purchase_time(order, paid_statuses)
        if paid_at is None:
            continue
        if period.contains(paid_at):
            for line in order.lines:
                entry = row(line.sku, order.currency)
                entry.units += line.quantity
                entry.revenue += line.total
                orders[(line.sku, order.currency)].add(order.order_id)
                if line.offer:
                    orders[(ALL, order.currency)].add(order.order_id)
        for at, sku, amount in _dated_refunds(order):
            if period.contains(at):
                row(sku, order.currency).refunds += amount
    for key, ids in orders.items():
        if key in table:
            table[key].orders = len(ids)
    totals: dict[str, MoneyRow] = {}
    for entry in table.values():
        if entry.sku.endswith(NOT_AN_OFFER):
            continue
        total = totals.setdefault(
            entry.currency, MoneyRow(ALL, entry.currency, len(orders[(ALL, entry.currency)]))
        )
        total.units += entry.units
        total.revenue += entry.revenue
        total.refunds += entry.refunds
    return (
        [table[key] for key in sorted(table, key=lambda k: (k[0].endswith(NOT_AN_OFFER), k))],
        [totals[currency] for currency in sorted(totals)],
    )


def money(value: Decimal) -> str:
    """An amount as the shop shows it, to the cent."""
    return str(value.quantize(CENT))


@dataclass(frozen=True)
class CohortFill:
    code: str
    title: str
    starts_at: datetime | None
    ends_at: datetime | None
    capacity: int
    active: int
    waitlisted: int

    @property
    def fill(self) -> float | None:
        return rate(self.active, self.capacity)


def cohort_fill(rows: ReportRows, period: Period) -> list[CohortFill]:
    """Seats as they are now, per cohort not ended before the period, by start."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for seat in rows.seats:
        counts[(seat.cohort_code, seat.status)] += 1
    shown = [c for c in rows.cohorts if c.ends_at is None or c.ends_at >= period.start]
    shown.sort(key=lambda c: (c.starts_at is None, c.starts_at or period.start, c.code))
    return [
        CohortFill(
            c.code,
            c.title,
            c.starts_at,
            c.ends_at,
            c.capacity,
            counts[(c.code, SeatStatus.ACTIVE)],
            counts[(c.code, SeatStatus.WAITLISTED)],
        )
        for c in shown
    ]


@dataclass
class MentorMonth:
    month: str
    granted: int = 0
    reversed: int = 0
    redeemed: int = 0
    expired: int = 0


def mentor_time(rows: ReportRows, period: Period) -> list[MentorMonth]:
    """Mentor minutes by month of the period; unknown reasons count by their sign."""
    months = {month: MentorMonth(month) for month in period.months()}
    for row in rows.ledger:
        if row.credit_type != MENTOR_CREDIT or not period.contains(row.dated_at):
            continue
        bucket = months[period.month_of(row.dated_at)]
        if row.reason in ("redemption", "redemption_refund"):
            bucket.redeemed -= row.amount
        elif row.reason == "expiry":
            bucket.expired -= row.amount
        elif row.reason in GRANTED or row.amount > 0:
            bucket.granted += row.amount
        else:
            bucket.reversed -= row.amount
    return list(months.values())


def outstanding(rows: ReportRows, period: Period) -> dict[str, dict[str, int]]:
    """Per credit type, at the end of the period: positive balances summed, and their holders."""
    balances: dict[tuple[int, str], int] = defaultdict(int)
    for row in rows.ledger:
        if row.dated_at < period.end:
            balances[(row.learner_id, row.credit_type)] += row.amount
    result: dict[str, dict[str, int]] = {}
    for (_, credit_type), amount in sorted(balances.items(), key=lambda item: item[0][1]):
        entry = result.setdefault(credit_type, {"outstanding": 0, "learners": 0})
        if amount > 0:
            entry["outstanding"] += amount
            entry["learners"] += 1
    return dict(sorted(result.items()))


@dataclass(frozen=True)
class RepeatPurchases:
    buyers: int
    repeat_buyers: int

    @property
    def rate(self) -> float | None:
        return rate(self.repeat_buyers, self.buyers)


def repeat_purchases(
    rows: ReportRows, period: Period, paid_statuses: Sequence[str]
) -> RepeatPurchases:
    """Buyers in the period, and those of them with two or more paid orders by its end."""
    paid_orders: dict[int, list[datetime]] = defaultdict(list)
    for order in rows.orders:
        at = purchase_time(order, paid_statuses)
        if (
            at is None
            or order.learner_id is None
            or order.renewal
            or at >= period.end
            or sum((line.total for line in order.lines), ZERO) <= 0
        ):
            continue
        paid_orders[order.learner_id].append(at)
    buyers = [times for times in paid_orders.values() if any(map(period.contains, times))]
    return RepeatPurchases(len(buyers), sum(1 for times in buyers if len(times) >= 2))


@dataclass(frozen=True)
class RetentionMonth:
    month: str
    mentors: int  # with a redemption this month
    previous: int  # with a redemption the month before
    retained: int  # both

    @property
    def rate(self) -> float | None:
        return rate(self.retained, self.previous)


def mentor_retention(rows: ReportRows, period: Period) -> list[RetentionMonth]:
    """Per month of the period: mentors active the month before who were active again."""
    active: dict[str, set[str]] = defaultdict(set)
    for redemption in rows.redemptions:
        mentor = " ".join(redemption.mentor.split()).casefold()
        spent = redemption.status != RedemptionStatus.REFUNDED
        if mentor and spent and redemption.created_at < period.end:
            active[period.month_of(redemption.created_at)].add(mentor)
    return [
        RetentionMonth(
            month,
            len(active[month]),
            len(active[previous_month(month)]),
            len(active[month] & active[previous_month(month)]),
        )
        for month in period.months()
    ]


@dataclass(frozen=True)
class ProjectRow:
    sku: str
    started: int
    submitted: int

    @property
    def rate(self) -> float | None:
        return rate(self.submitted, self.started)


@dataclass(frozen=True)
class Outcomes:
    """Figures from outside events; ``None`` (shown as "no data") when nothing backs them."""

    projects: list[ProjectRow]
    project_data: bool
    graduates: int
    interviews: int
    placed: int
    interview_data: bool
    placement_data: bool

    @property
    def submission_rate(self) -> float | None:
        total = next((row for row in self.projects if row.sku == ALL), None)
        return total.rate if total is not None and self.project_data else None

    @property
    def interviews_per_100_graduates(self) -> float | None:
        if not self.interview_data or not self.graduates:
            return None
        return round(100 * self.interviews / self.graduates, 1)

    @property
    def placement_rate(self) -> float | None:
        return rate(self.placed, self.graduates) if self.placement_data else None


def outcomes(rows: ReportRows, period: Period, now: datetime) -> Outcomes:
    """Project submission, graduates, interviews and placements (definitions in the module)."""
    events = [e for e in rows.events if e.occurred_at < period.end]
    started: dict[tuple[int, str], datetime] = {}
    submitted: dict[tuple[int, str], datetime] = {}
    for event in events:
        pair = (event.learner_id, event.sku)
        if event.kind in ("project_started", "project_submitted"):
            started[pair] = min(started.get(pair, event.occurred_at), event.occurred_at)
        if event.kind == "project_submitted":
            submitted[pair] = min(submitted.get(pair, event.occurred_at), event.occurred_at)
    in_period = [pair for pair, at in started.items() if period.contains(at)]
    by_sku: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for pair in in_period:
        by_sku[pair[1]].append(pair)
    projects = [
        ProjectRow(sku, len(pairs), sum(1 for p in pairs if p in submitted))
        for sku, pairs in sorted(by_sku.items())
    ]
    projects.append(ProjectRow(ALL, len(in_period), sum(1 for p in in_period if p in submitted)))

    graduated: dict[int, datetime] = {}

    def graduate(learner_id: int, at: datetime) -> None:
        graduated[learner_id] = min(graduated.get(learner_id, at), at)

    for (learner_id, _), at in submitted.items():
        graduate(learner_id, at)
    ends = {cohort.code: cohort.ends_at for cohort in rows.cohorts}
    for seat in rows.seats:
        ended = ends.get(seat.cohort_code)
        if seat.status == SeatStatus.ACTIVE and ended is not None and ended <= now:
            graduate(seat.learner_id, ended)
    graduates = {learner for learner, at in graduated.items() if period.contains(at) and at <= now}
    interviews = sum(1 for e in events if e.kind == "interview" and e.learner_id in graduates)
    placed = {e.learner_id for e in events if e.kind == "placement" and e.learner_id in graduates}
    kinds = {event.kind for event in events}
    return Outcomes(
        projects=projects,
        project_data=bool(kinds & {"project_started", "project_submitted"}),
        graduates=len(graduates),
        interviews=interviews,
        placed=len(placed),
        interview_data="interview" in kinds,
        placement_data="placement" in kinds,
    )


@dataclass(frozen=True)
class Report:
    period: Period
    generated_at: datetime
    funnel: list[FunnelRow]
    revenue: list[MoneyRow]
    revenue_totals: list[MoneyRow]
    cohorts: list[CohortFill]
    mentor_months: list[MentorMonth]
    outstanding: dict[str, dict[str, int]]
    repeat: RepeatPurchases
    retention: list[RetentionMonth]
    outcomes: Outcomes
    team_packs: list[TeamPackRow] = field(default_factory=list)
    booking_months: list[BookingMonth] = field(default_factory=list)
    returning: list[ReturningLearners] = field(default_factory=list)

    @property
    def booking_totals(self) -> BookingMonth:
        return booking_total(self.booking_months)

    @property
    def mentor_totals(self) -> MentorMonth:
        total = MentorMonth(ALL)
        for month in self.mentor_months:
            total.granted += month.granted
            total.reversed += month.reversed
            total.redeemed += month.redeemed
            total.expired += month.expired
        return total

    @property
    def retention_rate(self) -> float | None:
        return rate(
            sum(m.retained for m in self.retention), sum(m.previous for m in self.retention)
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: money as decimal strings, times as ISO 8601, rates as fractions or null."""
        outcomes = self.outcomes
        return {
            "period": {
                "since": self.period.since.isoformat(),
                "until": self.period.until.isoformat(),
                "timezone": self.period.timezone,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
            },
            "generated_at": self.generated_at.isoformat(),
            "funnel": [
                {
                    "entry_sku": row.entry_sku,
                    "entry": row.entry,
                    "learners": dict(row.learners),
                    "rates": dict(row.rates),
                    "median_days": dict(row.median_days),
                }
                for row in self.funnel
            ],
            "revenue": [_money_dict(row) for row in self.revenue],
            "revenue_totals": [_money_dict(row) for row in self.revenue_totals],
            "cohorts": [
                {
                    "code": c.code,
                    "title": c.title,
                    "starts_at": _iso(c.starts_at),
                    "ends_at": _iso(c.ends_at),
                    "capacity": c.capacity,
                    "active": c.active,
                    "waitlisted": c.waitlisted,
                    "fill": c.fill,
                }
                for c in self.cohorts
            ],
            "mentor_time": {
                "credit_type": MENTOR_CREDIT,
                "months": [vars(month).copy() for month in self.mentor_months],
                "total": vars(self.mentor_totals).copy(),
                "outstanding": self.outstanding,
            },
            "repeat_purchases": {
                "buyers": self.repeat.buyers,
                "repeat_buyers": self.repeat.repeat_buyers,
                "rate": self.repeat.rate,
            },
            "mentor_retention": {
                "months": [
                    {
                        "month": m.month,
                        "mentors": m.mentors,
                        "previous": m.previous,
                        "retained": m.retained,
                        "rate": m.rate,
                    }
                    for m in self.retention
                ],
                "rate": self.retention_rate,
            },
            "bookings": {
                "months": [vars(month).copy() for month in self.booking_months],
                "total": vars(self.booking_totals).copy(),
                "returning_learners": [
                    {
                        "mentor": r.mentor,
                        "learners": r.learners,
                        "returning": r.returning,
                        "rate": r.rate,
                    }
                    for r in self.returning
                ],
            },
            "outcomes": {
                "projects": {
                    "data": outcomes.project_data,
                    "by_sku": [
                        {
                            "sku": p.sku,
                            "started": p.started,
                            "submitted": p.submitted,
                            "rate": p.rate,
                        }
                        for p in outcomes.projects
                    ],
                    "submission_rate": outcomes.submission_rate,
                },
                "graduates": outcomes.graduates,
                "interviews": {
                    "data": outcomes.interview_data,
                    "count": outcomes.interviews,
                    "per_100_graduates": outcomes.interviews_per_100_graduates,
                },
                "placements": {
                    "data": outcomes.placement_data,
                    "placed": outcomes.placed,
                    "rate": outcomes.placement_rate,
                },
            },
            "team_packs": [row.as_dict() for row in self.team_packs],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _money_dict(row: MoneyRow) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "currency": row.currency,
        "orders": row.orders,
        "units": row.units,
        "revenue": money(row.revenue),
        "refunds": money(row.refunds),
        "net": money(row.net),
    }


def compute_report(
    rows: ReportRows,
    period: Period,
    now: datetime,
    *,
    paid_statuses: Sequence[str] = (OrderStatus.PROCESSING, OrderStatus.COMPLETED),
) -> Report:
    """Every figure of the report, from plain rows (pure)."""
    by_sku, totals = revenue(rows, period, paid_statuses)
    return Report(
        period=period,
        generated_at=now,
        funnel=funnel(rows, period, paid_statuses),
        revenue=by_sku,
        revenue_totals=totals,
        cohorts=cohort_fill(rows, period),
        mentor_months=mentor_time(rows, period),
        outstanding=outstanding(rows, period),
        repeat=repeat_purchases(rows, period, paid_statuses),
        retention=mentor_retention(rows, period),
        outcomes=outcomes(rows, period, now),
        team_packs=team_pack_funnel(rows.places, period.start, period.end),
        booking_months=booking_months(rows, period),
        returning=returning_learners(rows, period),
    )


def percent(value: float | None, empty: str = NO_DATA) -> str:
    """A rate for people: ``66.7%``, or ``empty`` when there is none."""
    return empty if value is None else f"{value * 100:.1f}%"


def records(report: Report) -> Iterator[tuple[str, str, str, str]]:
    """The report as (section, item, metric, value) rows: the CSV format, one figure a row."""
    data = report.as_dict()
    for name, value in data["period"].items():
        yield "period", "", name, str(value)
    for row in data["funnel"]:
        item = f"{row['entry']}:{row['entry_sku']}"
        for step in STEPS:
            if row["learners"][step] is not None:
                yield "funnel", item, f"{step}_learners", str(row["learners"][step])
            if row["rates"][step] is not None:
                yield "funnel", item, f"{step}_rate", str(row["rates"][step])
            if row["median_days"][step] is not None:
                yield "funnel", item, f"{step}_median_days", str(row["median_days"][step])
    for section in ("revenue", "revenue_totals"):
        for row in data[section]:
            item = f"{row['sku']} {row['currency']}".strip()
            for metric in ("orders", "units", "revenue", "refunds", "net"):
                yield section, item, metric, str(row[metric])
    for cohort in data["cohorts"]:
        for metric in ("capacity", "active", "waitlisted", "fill"):
            yield "cohorts", cohort["code"], metric, _text(cohort[metric])
    mentor = data["mentor_time"]
    for month in [*mentor["months"], mentor["total"]]:
        for metric in ("granted", "reversed", "redeemed", "expired"):
            yield "mentor_time", month["month"], metric, str(month[metric])
    for credit_type, entry in mentor["outstanding"].items():
        for metric, value in entry.items():
            yield "outstanding", credit_type, metric, str(value)
    for metric, value in data["repeat_purchases"].items():
        yield "repeat_purchases", "", metric, _text(value)
    for month in data["mentor_retention"]["months"]:
        for metric in ("mentors", "previous", "retained", "rate"):
            yield "mentor_retention", month["month"], metric, _text(month[metric])
    yield "mentor_retention", ALL, "rate", _text(data["mentor_retention"]["rate"])
    bookings = data["bookings"]
    for month in [*bookings["months"], bookings["total"]]:
        for metric in ("bookings", "booked", "held", "no_show", "unfunded", "unknown_learner"):
            yield "bookings", month["month"], metric, str(month[metric])
    for row in bookings["returning_learners"]:
        for metric in ("learners", "returning", "rate"):
            yield "returning_learners", row["mentor"], metric, _text(row[metric])
    projects = data["outcomes"]["projects"]
    if projects["data"]:
        for row in projects["by_sku"]:
            for metric in ("started", "submitted", "rate"):
                yield "projects", row["sku"], metric, _text(row[metric])
    else:
        yield "projects", ALL, "rate", NO_DATA
    outcomes = data["outcomes"]
    yield "graduates", "", "count", str(outcomes["graduates"])
    yield (
        "interviews",
        "",
        "per_100_graduates",
        _text(outcomes["interviews"]["per_100_graduates"]),
    )
    yield (
        "interviews",
        "",
        "count",
        (str(outcomes["interviews"]["count"]) if outcomes["interviews"]["data"] else NO_DATA),
    )
    yield "placements", "", "rate", _text(outcomes["placements"]["rate"])
    for row in data["team_packs"]:
        for metric in ("orders", "sold", "viewed", "claimed", "held", "open", "void", "claim_rate"):
            yield "team_packs", row["sku"], metric, _text(row[metric])


def _text(value: object) -> str:
    return NO_DATA if value is None else str(value)


def entry_label(row: FunnelRow) -> str:
    """How a funnel row is named for people."""
    if row.entry_sku == ALL:
        return "all previews" if row.entry == "preview" else "all direct buyers"
    return f"{row.entry_sku} ({'preview' if row.entry == 'preview' else 'direct'})"


def month_label(month: str) -> str:
    """``2027-01`` as ``Jan 2027``."""
    year, number = month.split("-")
    return f"{calendar.month_abbr[int(number)]} {year}"


def shown_mentor_months(months: Sequence[MentorMonth]) -> list[MentorMonth]:
    """The months a table shows: those with any mentor time (all-zero rows say nothing)."""
    return [m for m in months if m.granted or m.reversed or m.redeemed or m.expired]


def shown_retention(months: Sequence[RetentionMonth]) -> list[RetentionMonth]:
    """The months a table shows: those with a mentor this month or the month before."""
    return [m for m in months if m.mentors or m.previous]


def shown_revenue(rows: Sequence[MoneyRow]) -> list[MoneyRow]:
    """The revenue rows a table shows: an order-level row only when it holds an amount."""
    return [
        r for r in rows if r.sku != ORDER_LEVEL or r.orders or r.units or r.revenue or r.refunds
    ]
