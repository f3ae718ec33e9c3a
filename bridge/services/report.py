"""The outcome report: the signals a creator steers by, from what the bridge already stores.

``load_rows`` is the only SQL here: it reads orders, ledger, seats, redemptions, subscriptions
and outcome events as plain rows. ``compute_report`` and the functions it calls are pure: rows,
a period and the current time in, plain data out. A period is ``[since, until)`` in whole days
of the report's time zone; months are calendar months there.

How each figure is defined is ``DEFINITIONS`` (shown with the report).
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.entitlements import parse_gmt
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Cohort,
    LedgerEntry,
    OrderState,
    OutcomeEvent,
    Redemption,
    Seat,
    Subscription,
)
from bridge.store.models import Offer as OfferRow

MENTOR_CREDIT = "mentor_minutes"
PREVIEW = "preview"
SUBSCRIPTION = "subscription"
PAID_OFFER_KINDS = frozenset({"mentor_hours", "project", "cohort_seat", "assessment", "bundle"})
STEPS = ("preview", "paid", "first_call", "subscription")
# Subscriptions in these statuses never started: nobody paid for them.
UNSTARTED_SUBSCRIPTIONS = frozenset({"pending", "trash", "checkout-draft"})
GRANTED = frozenset({"grant", "complimentary"})
ORDER_LEVEL = "(order-level)"
ALL = "(all)"
NO_DATA = "no data"
ZERO = Decimal("0")
CENT = Decimal("0.01")

DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("Purchase", "An order that was paid: its status is a paid status (BRIDGE_PAID_STATUSES) "
     "or refunded. It is dated by its payment (its creation if the shop left that empty)."),
    ("Funnel", "A learner enters with their first preview (an offer of kind preview) or, "
     "without one, their first paid micro-offer (a line of another kind, not a subscription, "
     "with a total above zero); they are counted in the period in which they entered, by entry "
     "SKU. Each later step is the first one at or after the step before it and before the end "
     "of the period: paid micro-offer, first mentor call (first redemption not refunded), "
     "subscription (one started, or a subscription offer bought). Rates are from the step "
     "before; days are the median between the two steps."),
    ("Revenue", "Line totals (before tax) of purchases paid in the period. Refunds count in "
     "the period in which they were made (an order refunded in full without refund details: "
     "when it last changed). Net is revenue less refunds, so it can be negative."),
    ("Cohort fill", "Active seats over capacity and the waitlist as they are now, for cohorts "
     "not ended before the period."),
    ("Mentor time", "Mentor minutes by month: granted (order grants, complimentary calls, "
     "manual additions), reversed (refunds, cancellations, manual removals), redeemed "
     "(redemptions less refunded redemptions) and expired. Outstanding is the sum of positive "
     "balances at the end of the period: what the creator still owes."),
    ("Repeat purchase rate", "Of the learners with a paid order (total above zero, not a "
     "subscription renewal) in the period, the share with two or more such orders by its end."),
    ("Mentor retention", "Per month, of the mentors with a redemption (not refunded) in the "
     "month before, the share with one in this month too; whole calendar months."),
    ("Projects", "A learner's project (learner and SKU) starts at its first project_started "
     "or project_submitted event; of the projects started in the period, the share submitted "
     "by its end."),
    ("Graduate", "A learner whose first project_submitted event, or the end of a cohort in "
     "which they hold an active seat, falls in the period and is past. Interviews per 100 "
     "graduates counts their interview events up to the end of the period; placements are "
     "graduates with a placement event. Without any such event recorded: no data."),
)


class ReportError(PermanentError):
    """A report option is malformed (a date, a period, a time zone); the message names it."""


# --- the period -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """``[since, until)`` in whole days of ``timezone``."""

    since: date
    until: date
    timezone: str = "UTC"

    # Cached: every row of the report is tested against them.
    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def start(self) -> datetime:
        return local_midnight(self.since, self.zone)

    @cached_property
    def end(self) -> datetime:
        return local_midnight(self.until, self.zone)

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def month_of(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m")

    def months(self) -> list[str]:
        """Calendar months that overlap the period, oldest first ("2027-01")."""
        last = self.until - timedelta(days=1)
        months, year, month = [], self.since.year, self.since.month
        while (year, month) <= (last.year, last.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def previous_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def check_timezone(name: str, option: str = "timezone") -> str:
    try:
        ZoneInfo(name)
    except (ValueError, LookupError):
        raise ReportError(f"{option}: {name!r} is not a time zone; use an IANA name such as "
                          "Europe/Berlin or UTC") from None
    return name


def parse_day(text: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value; the error names the option."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{option}: {text!r} is not a date; use YYYY-MM-DD") from None


def report_period(since: date | None, until: date | None, timezone: str,
                  now: datetime) -> Period:
    """The period to report; by default the 12 calendar months up to and including today."""
    zone = ZoneInfo(check_timezone(timezone))
    if until is None:
        until = now.astimezone(zone).date() + timedelta(days=1)
    if since is None:
        last = until - timedelta(days=1)
        index = last.year * 12 + last.month - 1 - 11
        since = date(index // 12, index % 12 + 1, 1)
    if since >= until:
        raise ReportError(f"since ({since}) must be before until ({until}); until is the first "
                          "day not included")
    return Period(since, until, timezone)


# --- plain rows -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LineRow:
    line_id: int
    sku: str
    quantity: int
    total: Decimal


@dataclass(frozen=True)
class RefundRow:
    refund_id: int | None
    refunded_at: datetime | None
    total: Decimal  # positive
    lines: tuple[tuple[int, Decimal], ...] = ()  # (order line id, amount refunded, positive)


@dataclass(frozen=True)
class OrderRow:
    order_id: int
    learner_id: int | None
    status: str
    paid_at: datetime | None
    created_at: datetime | None
    modified_at: datetime | None
    currency: str = ""
    lines: tuple[LineRow, ...] = ()
    refunds: tuple[RefundRow, ...] = ()
    renewal: bool = False  # a subscription renewal or switch, not a purchase decision


@dataclass(frozen=True)
class LedgerRow:
    learner_id: int
    credit_type: str
    amount: int
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class RedemptionRow:
    learner_id: int
    mentor: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class SubscriptionRow:
    learner_id: int
    status: str
    start_at: datetime | None


@dataclass(frozen=True)
class CohortRow:
    code: str
    title: str
    capacity: int
    starts_at: datetime | None
    ends_at: datetime | None


@dataclass(frozen=True)
class SeatRow:
    learner_id: int
    cohort_code: str
    status: str


@dataclass(frozen=True)
class EventRow:
    learner_id: int
    kind: str
    sku: str
    occurred_at: datetime


@dataclass(frozen=True)
class ReportRows:
    """Everything the report reads, as plain rows."""

    orders: tuple[OrderRow, ...] = ()
    ledger: tuple[LedgerRow, ...] = ()
    redemptions: tuple[RedemptionRow, ...] = ()
    subscriptions: tuple[SubscriptionRow, ...] = ()
    cohorts: tuple[CohortRow, ...] = ()
    seats: tuple[SeatRow, ...] = ()
    events: tuple[EventRow, ...] = ()
    offer_kinds: Mapping[str, str] = field(default_factory=dict)


def _money(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else ZERO
    except InvalidOperation:
        return ZERO


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _gmt(value: object) -> datetime | None:
    try:
        return parse_gmt(value)
    except ValueError:
        return None


def order_row(order_id: int, learner_id: int | None, status: str, *,
              paid_at: datetime | None, created_at: datetime | None,
              modified_at: datetime | None, currency: str,
              summary: Mapping[str, Any] | None) -> OrderRow:
    """An ``order_state`` row and its stored summary (lines, refunds) as a plain row."""
    summary = summary or {}
    lines = tuple(
        LineRow(line_id=_int(line.get("id")), sku=str(line.get("sku") or "(no SKU)"),
                quantity=_int(line.get("quantity")), total=_money(line.get("total")))
        for line in summary.get("lines") or [] if isinstance(line, Mapping)
    )
    refunds = []
    for refund in summary.get("refunds") or []:
        if not isinstance(refund, Mapping):
            continue
        refund_lines = []
        for line in refund.get("line_items") or []:
            item_ids = [meta.get("value") for meta in line.get("meta_data") or []
                        if isinstance(meta, Mapping) and meta.get("key") == "_refunded_item_id"]
            if item_ids:
                refund_lines.append((_int(item_ids[0]), abs(_money(line.get("total")))))
        refunds.append(RefundRow(
            refund_id=_int(refund.get("id")) or None,
            refunded_at=_gmt(refund.get("date_created_gmt")),
            total=abs(_money(refund.get("total"))),
            lines=tuple(refund_lines),
        ))
    renewal = bool(summary.get("renewal_of") or summary.get("switch_of"))
    return OrderRow(order_id, learner_id, status, paid_at, created_at, modified_at, currency,
                    lines, tuple(refunds), renewal)


def load_rows(session: Session, end: datetime) -> ReportRows:
    """Read what the report needs, as plain rows; nothing after ``end`` but orders and seats."""
    orders = tuple(
        order_row(state.order_id, state.learner_id, state.status, paid_at=state.date_paid_gmt,
                  created_at=state.date_created_gmt, modified_at=state.date_modified_gmt,
                  currency=state.currency, summary=state.summary)
        for state in session.exec(select(OrderState).order_by(col(OrderState.order_id))).all()
    )
    ledger = tuple(
        LedgerRow(*row) for row in session.exec(
            select(LedgerEntry.learner_id, LedgerEntry.credit_type, LedgerEntry.amount,
                   LedgerEntry.reason, LedgerEntry.created_at)
            .where(LedgerEntry.created_at < end).order_by(col(LedgerEntry.id))
        ).all()
    )
    redemptions = tuple(
        RedemptionRow(*row) for row in session.exec(
            select(Redemption.learner_id, Redemption.mentor, Redemption.status,
                   Redemption.created_at)
            .where(Redemption.created_at < end).order_by(col(Redemption.id))
        ).all()
    )
    subscriptions = tuple(
        SubscriptionRow(*row) for row in session.exec(
            select(Subscription.learner_id, Subscription.status, Subscription.start_gmt)
            .where(col(Subscription.learner_id).is_not(None)).order_by(col(Subscription.id))
        ).all()
    )
    cohorts = tuple(
        CohortRow(*row) for row in session.exec(
            select(Cohort.code, Cohort.title, Cohort.capacity, Cohort.starts_at, Cohort.ends_at)
            .order_by(col(Cohort.code))
        ).all()
    )
    seats = tuple(
        SeatRow(*row) for row in session.exec(
            select(Seat.learner_id, Seat.cohort_code, Seat.status).order_by(col(Seat.id))
        ).all()
    )
    events = tuple(
        EventRow(*row) for row in session.exec(
            select(OutcomeEvent.learner_id, OutcomeEvent.kind, OutcomeEvent.offer_sku,
                   OutcomeEvent.occurred_at)
            .where(OutcomeEvent.occurred_at < end).order_by(col(OutcomeEvent.id))
        ).all()
    )
    offer_kinds = dict(session.exec(select(OfferRow.sku, OfferRow.kind)).all())
    return ReportRows(orders, ledger, redemptions, subscriptions, cohorts, seats, events,
                      offer_kinds)


# --- figures ----------------------------------------------------------------------------------

def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to four places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def median_days(gaps: Iterable[timedelta]) -> float | None:
    days = [gap.total_seconds() / 86400 for gap in gaps]
    return round(statistics.median(days), 1) if days else None


def purchase_time(order: OrderRow, paid_statuses: Iterable[str]) -> datetime | None:
    """When an order was paid, if it was; refunded orders were paid too."""
    if order.status not in {*paid_statuses, "refunded"}:
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


def _journeys(rows: ReportRows, period: Period,
              paid_statuses: Sequence[str]) -> list[_Journey]:
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
        if redemption.status != "refunded":
            calls[redemption.learner_id].append(redemption.created_at)

    def first_from(times: list[datetime], after: datetime | None) -> datetime | None:
        if after is None:
            return None
        return min((t for t in times if after <= t < period.end), default=None)

    journeys = []
    for learner_id in sorted(set(previews) | set(paid)):
        entry = min(previews[learner_id] + paid[learner_id],
                    key=lambda s: (s.at, s.order_id, s.rank, s.line))
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
                j.times[step] - j.times[before]  # type: ignore[operator]
                for j in journeys if j.times[step] is not None
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
    if order.status == "refunded":
        # Refunded in full; the part without stored refund details was refunded by its last change.
        for line in order.lines:
            left = line.total - refunded[line.line_id]
            if left > 0:
                yield order.modified_at, line.sku, left


def revenue(rows: ReportRows, period: Period,
            paid_statuses: Sequence[str]) -> tuple[list[MoneyRow], list[MoneyRow]]:
    """Per SKU and currency, sorted, then one ``(all)`` row per currency.

    Refunds count in the period in which they happened, whenever the order was paid.
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
                orders[(ALL, order.currency)].add(order.order_id)
        for at, sku, amount in _dated_refunds(order):
            if period.contains(at):
                row(sku, order.currency).refunds += amount
    for key, ids in orders.items():
        if key in table:
            table[key].orders = len(ids)
    totals: dict[str, MoneyRow] = {}
    for entry in table.values():
        total = totals.setdefault(entry.currency, MoneyRow(ALL, entry.currency,
                                                           len(orders[(ALL, entry.currency)])))
        total.units += entry.units
        total.revenue += entry.revenue
        total.refunds += entry.refunds
    return ([table[key] for key in sorted(table)],
            [totals[currency] for currency in sorted(totals)])


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
    return [CohortFill(c.code, c.title, c.starts_at, c.ends_at, c.capacity,
                       counts[(c.code, "active")], counts[(c.code, "waitlisted")])
            for c in shown]


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
        if row.credit_type != MENTOR_CREDIT or not period.contains(row.created_at):
            continue
        bucket = months[period.month_of(row.created_at)]
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
        if row.created_at < period.end:
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


def repeat_purchases(rows: ReportRows, period: Period,
                     paid_statuses: Sequence[str]) -> RepeatPurchases:
    """Buyers in the period, and those of them with two or more paid orders by its end."""
    paid_orders: dict[int, list[datetime]] = defaultdict(list)
    for order in rows.orders:
        at = purchase_time(order, paid_statuses)
        if (at is None or order.learner_id is None or order.renewal or at >= period.end
                or sum((line.total for line in order.lines), ZERO) <= 0):
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
        if mentor and redemption.status != "refunded" and redemption.created_at < period.end:
            active[period.month_of(redemption.created_at)].add(mentor)
    return [RetentionMonth(month, len(active[month]), len(active[previous_month(month)]),
                           len(active[month] & active[previous_month(month)]))
            for month in period.months()]


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
    projects = [ProjectRow(sku, len(pairs), sum(1 for p in pairs if p in submitted))
                for sku, pairs in sorted(by_sku.items())]
    projects.append(ProjectRow(ALL, len(in_period), sum(1 for p in in_period if p in submitted)))

    graduated: dict[int, datetime] = {}

    def graduate(learner_id: int, at: datetime) -> None:
        graduated[learner_id] = min(graduated.get(learner_id, at), at)

    for (learner_id, _), at in submitted.items():
        graduate(learner_id, at)
    ends = {cohort.code: cohort.ends_at for cohort in rows.cohorts}
    for seat in rows.seats:
        ended = ends.get(seat.cohort_code)
        if seat.status == "active" and ended is not None and ended <= now:
            graduate(seat.learner_id, ended)
    graduates = {learner for learner, at in graduated.items()
                 if period.contains(at) and at <= now}
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


# --- the report -------------------------------------------------------------------------------

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
        return rate(sum(m.retained for m in self.retention),
                    sum(m.previous for m in self.retention))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: money as decimal strings, times as ISO 8601, rates as fractions or null."""
        outcomes = self.outcomes
        return {
            "period": {"since": self.period.since.isoformat(),
                       "until": self.period.until.isoformat(),
                       "timezone": self.period.timezone,
                       "start": self.period.start.isoformat(),
                       "end": self.period.end.isoformat()},
            "generated_at": self.generated_at.isoformat(),
            "funnel": [{"entry_sku": row.entry_sku, "entry": row.entry,
                        "learners": dict(row.learners), "rates": dict(row.rates),
                        "median_days": dict(row.median_days)} for row in self.funnel],
            "revenue": [_money_dict(row) for row in self.revenue],
            "revenue_totals": [_money_dict(row) for row in self.revenue_totals],
            "cohorts": [{"code": c.code, "title": c.title, "starts_at": _iso(c.starts_at),
                         "ends_at": _iso(c.ends_at), "capacity": c.capacity,
                         "active": c.active, "waitlisted": c.waitlisted, "fill": c.fill}
                        for c in self.cohorts],
            "mentor_time": {
                "credit_type": MENTOR_CREDIT,
                "months": [vars(month).copy() for month in self.mentor_months],
                "total": vars(self.mentor_totals).copy(),
                "outstanding": self.outstanding,
            },
            "repeat_purchases": {"buyers": self.repeat.buyers,
                                 "repeat_buyers": self.repeat.repeat_buyers,
                                 "rate": self.repeat.rate},
            "mentor_retention": {
                "months": [{"month": m.month, "mentors": m.mentors, "previous": m.previous,
                            "retained": m.retained, "rate": m.rate} for m in self.retention],
                "rate": self.retention_rate,
            },
            "outcomes": {
                "projects": {
                    "data": outcomes.project_data,
                    "by_sku": [{"sku": p.sku, "started": p.started, "submitted": p.submitted,
                                "rate": p.rate} for p in outcomes.projects],
                    "submission_rate": outcomes.submission_rate,
                },
                "graduates": outcomes.graduates,
                "interviews": {"data": outcomes.interview_data, "count": outcomes.interviews,
                               "per_100_graduates": outcomes.interviews_per_100_graduates},
                "placements": {"data": outcomes.placement_data, "placed": outcomes.placed,
                               "rate": outcomes.placement_rate},
            },
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _money_dict(row: MoneyRow) -> dict[str, Any]:
    return {"sku": row.sku, "currency": row.currency, "orders": row.orders, "units": row.units,
            "revenue": money(row.revenue), "refunds": money(row.refunds), "net": money(row.net)}


def compute_report(rows: ReportRows, period: Period, now: datetime, *,
                   paid_statuses: Sequence[str] = ("processing", "completed")) -> Report:
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
    )


def build_report(engine: Engine, period: Period, now: datetime, *,
                 paid_statuses: Sequence[str] = ("processing", "completed")) -> Report:
    """Read the rows in one read-only unit of work and compute the report."""
    with unit_of_work(engine) as session:
        rows = load_rows(session, period.end)
    return compute_report(rows, period, now, paid_statuses=paid_statuses)


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
    projects = data["outcomes"]["projects"]
    if projects["data"]:
        for row in projects["by_sku"]:
            for metric in ("started", "submitted", "rate"):
                yield "projects", row["sku"], metric, _text(row[metric])
    else:
        yield "projects", ALL, "rate", NO_DATA
    outcomes = data["outcomes"]
    yield "graduates", "", "count", str(outcomes["graduates"])
    yield ("interviews", "", "per_100_graduates",
           _text(outcomes["interviews"]["per_100_graduates"]))
    yield "interviews", "", "count", (str(outcomes["interviews"]["count"])
                                      if outcomes["interviews"]["data"] else NO_DATA)
    yield "placements", "", "rate", _text(outcomes["placements"]["rate"])


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
