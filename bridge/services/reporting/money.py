"""The console home's business figures: money this month and last, recurring revenue, mentor
time owed, credits expiring soon, upcoming cohorts, the funnel, revenue by month.

The month figures are the outcome report's own (``compute_report`` over the same rows and the
same period as ``bridge report --since <first day of the month>``), so the home page and the
report never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bridge.rules.periods import SubscriptionStatus
from bridge.rules.report.bar_chart import bar_chart
from bridge.rules.report.figures import Report, compute_report
from bridge.rules.report.rows import ALL, Period, report_period
from bridge.services.ledger import expired_remainders
from bridge.services.reporting.report import load_rows
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, Offer, OrderState, ProductBinding, Subscription

MENTOR = "mentor_minutes"
EXPIRING_DAYS = 30
CHART_MONTHS = 6
# How many billing periods make a month, for recurring revenue per month.
PER_MONTH = {"day": Decimal("30.4375"), "week": Decimal("4.348125"), "month": Decimal(1)}
PER_MONTH["year"] = Decimal(1) / Decimal(12)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _totals(report: Report) -> dict[str, str]:
    """currency -> net revenue (refunds taken off), as the report's revenue_totals say."""
    return {row.currency: _money(row.net) for row in report.revenue_totals}


def month_period(day: date, timezone: str, now: datetime) -> Period:
    """The calendar month of ``day`` up to today (the current month) or to its end."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    today = now.astimezone(ZoneInfo(timezone)).date()
    until = min(following, today + timedelta(days=1))
    return report_period(first, until, timezone, now, max_days=None)


def _recurring(session: Session) -> dict[str, str]:
    """currency -> recurring revenue per month of active subscriptions (their last order's
    total, spread over their billing period)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    active = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING_CANCEL)
    for sub in session.exec(select(Subscription).where(col(Subscription.status).in_(active))):
        order_ids = [
            *(sub.order_ids or []),
            *([sub.parent_order_id] if sub.parent_order_id else []),
        ]
        if not order_ids:
            continue
        order = session.get(OrderState, max(order_ids))
        if order is None:
            continue
        try:
            amount = Decimal(order.total or "0")
        except InvalidOperation:
            continue
        factor = PER_MONTH.get(sub.billing_period, Decimal(1))
        totals[order.currency or "?"] += amount * factor / max(1, sub.billing_interval)
    return {currency: _money(value) for currency, value in sorted(totals.items())}


def _minute_price(session: Session) -> Decimal | None:
    """The list price of a mentor minute: the smallest mentor pack's price over its minutes."""
    best: tuple[int, Decimal] | None = None
    for offer in session.exec(select(Offer).where(Offer.active == True)):  # noqa: E712
        credits = (offer.definition or {}).get("credits") or {}
        if set(credits) != {MENTOR} or not credits[MENTOR]:
            continue
        binding = session.exec(
            select(ProductBinding)
            .where(ProductBinding.offer_sku == offer.sku, ProductBinding.active == True)  # noqa: E712
            .order_by(col(ProductBinding.woo_id))
        ).first()
        if binding is None or not binding.price:
            continue
        minutes = int(credits[MENTOR])
        if best is None or minutes < best[0]:
            best = (minutes, Decimal(binding.price) / minutes)
    return best[1] if best else None


def _expiring(session: Session, now: datetime) -> dict[str, int]:
    """credit type -> credits whose expiry falls within the next EXPIRING_DAYS days."""
    horizon = now + timedelta(days=EXPIRING_DAYS)
    pairs = session.exec(
        select(LedgerEntry.learner_id, LedgerEntry.credit_type)
        .where(col(LedgerEntry.expires_at) > now, col(LedgerEntry.expires_at) <= horizon)
        .distinct()
    ).all()
    result: dict[str, int] = defaultdict(int)
    for learner_id, credit_type in pairs:
        rows = session.exec(
            select(LedgerEntry)
            .where(LedgerEntry.learner_id == learner_id, LedgerEntry.credit_type == credit_type)
            .order_by(col(LedgerEntry.id))
        ).all()
        for due in expired_remainders(rows, horizon):
            if due.expires_at > now:
                result[credit_type] += due.remainder
    return dict(sorted(result.items()))


def business_home(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """Everything the console's home shows about the business, as plain data."""
    zone = settings.report.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    this_month = month_period(today, zone, now)
    last_month = month_period(this_month.since - timedelta(days=1), zone, now)
    months = [this_month]
    for _ in range(CHART_MONTHS - 1):
        months.insert(0, month_period(months[0].since - timedelta(days=1), zone, now))
    paid = settings.orders.paid_statuses
    with unit_of_work(engine, read_only=True) as session:
        rows = load_rows(session, this_month.end)
        recurring = _recurring(session)
        minute_price = _minute_price(session)
        expiring = _expiring(session, now)
    reports = {
        period.since: compute_report(rows, period, now, paid_statuses=paid) for period in months
    }
    current, previous = reports[this_month.since], reports.get(last_month.since)
    if previous is None:
        previous = compute_report(rows, last_month, now, paid_statuses=paid)
    owed = current.outstanding.get(MENTOR, {}).get("outstanding", 0)
    currencies = sorted({c for r in reports.values() for c in _totals(r)}) or [""]
    currency = currencies[0]
    chart = bar_chart(
        f"Net revenue by month ({currency or 'no sales yet'}), {months[0].since:%B %Y} to "
        f"{this_month.since:%B %Y}",
        [
            (f"{period.since:%b %Y}", Decimal(_totals(reports[period.since]).get(currency, "0")))
            for period in months
        ],
        unit=f" {currency}" if currency else "",
    )
    funnel = next((r for r in current.funnel if r.entry_sku == ALL and r.entry == "preview"), None)
    upcoming = [c for c in current.cohorts if c.starts_at is None or c.starts_at > now]
    return {
        "period": {"since": this_month.since.isoformat(), "until": this_month.until.isoformat()},
        "timezone": zone,
        "revenue_this_month": _totals(current),
        "revenue_last_month": _totals(previous),
        "revenue_by_sku": [
            {
                "sku": row.sku,
                "currency": row.currency,
                "units": row.units,
                "revenue": _money(row.revenue),
                "refunds": _money(row.refunds),
                "net": _money(row.net),
            }
            for row in current.revenue
        ],
        "recurring_per_month": recurring,
        "mentor_minutes_owed": owed,
        "mentor_owed_value": _money(minute_price * owed) if minute_price is not None else None,
        "mentor_minute_price": str(minute_price) if minute_price is not None else None,
        "expiring_30_days": expiring,
        "cohorts": [
            {
                "code": c.code,
                "title": c.title,
                "starts_at": c.starts_at.isoformat() if c.starts_at else None,
                "capacity": c.capacity,
                "active": c.active,
                "waitlisted": c.waitlisted,
                "fill": c.fill,
            }
            for c in upcoming
        ],
        "funnel": {
            "steps": [
                {"step": step, "learners": (funnel.learners.get(step) if funnel else None) or 0}
                for step in ("preview", "paid", "first_call")
            ]
            + [{"step": "placement", "learners": current.outcomes.placed or 0}],
        },
        "chart": chart,
    }
