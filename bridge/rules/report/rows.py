"""What the outcome report reads, as plain rows, and the period it covers.

A period is ``[since, until)`` in whole days of the report's time zone; months are calendar
months there. The definitions of every figure are here, shown with the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from bridge.errors import PermanentError
from bridge.rules.bookings.events import Attendance, BookingStatus
from bridge.rules.claims import PlaceRow
from bridge.rules.entitlements import parse_gmt
from bridge.rules.periods import SubscriptionStatus

MENTOR_CREDIT = "mentor_minutes"


PREVIEW = "preview"


SUBSCRIPTION = "subscription"


PAID_OFFER_KINDS = frozenset({"mentor_hours", "project", "cohort_seat", "assessment", "bundle"})


STEPS = ("preview", "paid", "first_call", "subscription")


# Subscriptions in these statuses never started: nobody paid for them.
UNSTARTED_SUBSCRIPTIONS = frozenset(
    {SubscriptionStatus.PENDING, SubscriptionStatus.TRASH, SubscriptionStatus.CHECKOUT_DRAFT}
)


GRANTED = frozenset({"grant", "complimentary"})


ORDER_LEVEL = "(order-level)"


ALL = "(all)"


NO_DATA = "no data"


ZERO = Decimal("0")


CENT = Decimal("0.01")


DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "Purchase",
        "An order that was paid: its status is a paid status (BRIDGE_PAID_STATUSES) "
        "or refunded. It is dated by its payment (its creation if the shop left that empty).",
    ),
    (
        "Funnel",
        "A learner enters with their first preview (an offer of kind preview) or, "
        "without one, their first paid micro-offer (a line of another kind, not a subscription, "
        "with a total above zero); they are counted in the period in which they entered, by entry "
        "SKU. Each later step is the first one at or after the step before it and before the end "
        "of the period: paid micro-offer, first mentor call (the start of the first Cal.com or "
        "Calendly booking that spent credits and was not a no-show, or else the first API "
        "redemption not refunded), "
        "subscription (one started, or a subscription offer bought). Rates are from the step "
        "before; days are the median between the two steps.",
    ),
    (
        "Revenue",
        "Line totals (before tax) of purchases paid in the period. Refunds count in "
        "the period in which they were made (an order refunded in full without refund details: "
        "when it last changed). Net is revenue less refunds, so it can be negative.",
    ),
    (
        "Cohort fill",
        "Active seats over capacity and the waitlist as they are now, for cohorts "
        "not ended before the period.",
    ),
    (
        "Mentor time",
        "Mentor minutes by month: granted (order grants, complimentary calls, "
        "manual additions), reversed (refunds, cancellations, manual removals), redeemed "
        "(redemptions less refunded redemptions) and expired. Outstanding is the sum of positive "
        "balances at the end of the period: what the creator still owes.",
    ),
    (
        "Repeat purchase rate",
        "Of the learners with a paid order (total above zero, not a "
        "subscription renewal) in the period, the share with two or more such orders by its end.",
    ),
    (
        "Mentor retention",
        "Per month, of the mentors with a redemption (not refunded) in the "
        "month before, the share with one in this month too; whole calendar months.",
    ),
    (
        "Bookings",
        "Cal.com and Calendly bookings by the month they start in: booked minutes "
        "(bookings that spent credits and were not cancelled; a rescheduled booking counts once, "
        "at its new time), of them held (the tool sent MEETING_ENDED) and no-show, and the "
        "bookings nothing was debited for: unfunded (the balance did not cover them) and "
        "unknown learner.",
    ),
    (
        "Returning learners",
        "Per mentor, of the learners with a booked call with them in the "
        "period, the share with two or more booked calls with the same mentor by its end.",
    ),
    (
        "Projects",
        "A learner's project (learner and SKU) starts at its first project_started "
        "or project_submitted event; of the projects started in the period, the share submitted "
        "by its end.",
    ),
    (
        "Graduate",
        "A learner whose first project_submitted event, or the end of a cohort in "
        "which they hold an active seat, falls in the period and is past. Interviews per 100 "
        "graduates counts their interview events up to the end of the period; placements are "
        "graduates with a placement event. Without any such event recorded: no data.",
    ),
)


class ReportError(PermanentError):
    """A report option is malformed (a date, a period, a time zone); the message names it."""


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
        raise ReportError(
            f"{option}: {name!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return name


def parse_day(text: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value; the error names the option."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{option}: {text!r} is not a date; use YYYY-MM-DD") from None


# The longest period by default (BRIDGE_REPORT_MAX_DAYS): any two calendar years, leap day
# included; the default report (12 calendar months to today) is never longer than 366 days.
DEFAULT_MAX_DAYS = 731


class PeriodTooLong(ReportError):
    """The period is longer than the report allows; refused before anything is read."""

    def __init__(self, days: int, max_days: int) -> None:
        self.days, self.max_days = days, max_days
        super().__init__(
            f"the period is {days:,} days long; a report covers at most "
            f"{max_days:,} days (BRIDGE_REPORT_MAX_DAYS): choose a shorter one"
        )


def report_period(
    since: date | None,
    until: date | None,
    timezone: str,
    now: datetime,
    *,
    max_days: int | None = DEFAULT_MAX_DAYS,
) -> Period:
    """The period to report; by default the 12 calendar months up to and including today.

    A period longer than ``max_days`` (None: no limit) raises PeriodTooLong.
    """
    zone = ZoneInfo(check_timezone(timezone))
    if until is None:
        until = now.astimezone(zone).date() + timedelta(days=1)
    if since is None:
        last = until - timedelta(days=1)
        index = max(last.year * 12 + last.month - 1 - 11, 12)  # not before year 1
        since = date(index // 12, index % 12 + 1, 1)
    if since >= until:
        raise ReportError(
            f"since ({since}) must be before until ({until}); until is the first day not included"
        )
    if max_days is not None and (until - since).days > max_days:
        raise PeriodTooLong((until - since).days, max_days)
    period = Period(since, until, timezone)
    try:
        period.start, period.end  # noqa: B018  (the first and last day exist in UTC too)
    except OverflowError:
        raise ReportError(
            f"the period {since} to {until} in {timezone} reaches outside the "
            "years 1 to 9999 in UTC; choose days inside them"
        ) from None
    return period


# Appended to the SKU of a line that sold no micro-SKU: its revenue is shown apart.
NOT_AN_OFFER = " (not a micro-SKU)"


@dataclass(frozen=True)
class LineRow:
    line_id: int
    sku: str
    quantity: int
    total: Decimal
    offer: bool = True  # False: the line sold no micro-SKU (kept apart in the revenue)


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
    status: str  # an OrderStatus, or a status a plugin added
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
    created_at: datetime  # when the row was written (the audit)
    sale_at: datetime | None = None  # when the sale that granted it happened

    @property
    def dated_at(self) -> datetime:
        """When the report counts it: the sale (order paid, or created), else the row itself."""
        return self.sale_at or self.created_at


@dataclass(frozen=True)
class RedemptionRow:
    learner_id: int
    mentor: str
    status: str  # a RedemptionStatus
    created_at: datetime
    from_booking: bool = False  # a booking's debit: the booking itself stands for the call


@dataclass(frozen=True)
class BookingRow:
    """A Cal.com or Calendly booking: when, with whom, what it spent and how it went."""

    learner_id: int | None
    mentor: str
    status: str  # a BookingStatus
    attendance: str  # an Attendance
    minutes: int
    starts_at: datetime | None
    created_at: datetime

    @property
    def at(self) -> datetime:
        return self.starts_at or self.created_at

    @property
    def booked(self) -> bool:
        """It spent credits and was not cancelled (a no-show given back still was booked)."""
        return self.status == BookingStatus.DEBITED or (
            self.status == BookingStatus.RETURNED and self.attendance == Attendance.NO_SHOW
        )


@dataclass(frozen=True)
class SubscriptionRow:
    learner_id: int
    status: str  # a SubscriptionStatus
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
    status: str  # a SeatStatus


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
    places: tuple[PlaceRow, ...] = ()  # team-pack places
    bookings: tuple[BookingRow, ...] = ()


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


def order_row(
    order_id: int,
    learner_id: int | None,
    status: str,
    *,
    paid_at: datetime | None,
    created_at: datetime | None,
    modified_at: datetime | None,
    currency: str,
    summary: Mapping[str, Any] | None,
) -> OrderRow:
    """An ``order_state`` row and its stored summary (lines, refunds) as a plain row."""
    summary = summary or {}
    lines = tuple(
        LineRow(
            line_id=_int(line.get("id")),
            sku=str(line.get("sku") or "(no SKU)")
            + (NOT_AN_OFFER if line.get("offer") is False else ""),
            quantity=_int(line.get("quantity")),
            total=_money(line.get("total")),
            offer=line.get("offer") is not False,
        )
        for line in summary.get("lines") or []
        if isinstance(line, Mapping)
    )
    refunds = []
    for refund in summary.get("refunds") or []:
        if not isinstance(refund, Mapping):
            continue
        refund_lines = []
        for line in refund.get("line_items") or []:
            item_ids = [
                meta.get("value")
                for meta in line.get("meta_data") or []
                if isinstance(meta, Mapping) and meta.get("key") == "_refunded_item_id"
            ]
            if item_ids:
                refund_lines.append((_int(item_ids[0]), abs(_money(line.get("total")))))
        refunds.append(
            RefundRow(
                refund_id=_int(refund.get("id")) or None,
                refunded_at=_gmt(refund.get("date_created_gmt")),
                total=abs(_money(refund.get("total"))),
                lines=tuple(refund_lines),
            )
        )
    renewal = bool(summary.get("renewal_of") or summary.get("switch_of"))
    return OrderRow(
        order_id,
        learner_id,
        status,
        paid_at,
        created_at,
        modified_at,
        currency,
        lines,
        tuple(refunds),
        renewal,
    )
