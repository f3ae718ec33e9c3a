"""Billing periods and credit expiry (pure): when a paid subscription period ends.

A subscription's parent order and each paid renewal order pay for one billing period starting
at the order's payment. Credits granted for that period expire at its end plus a rollover
allowance per credit type (in periods); a cancellation may cut them short when the creator's
policy revokes unspent credits on cancellation.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

PERIOD_UNITS = ("day", "week", "month", "year")


class SubscriptionStatus(StrEnum):
    """WooCommerce Subscriptions' statuses (Subscription.status holds the shop's word as it came).

    The shop's state machine, not the bridge's: a stored status may be none of these.
    """

    PENDING = "pending"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    PENDING_CANCEL = "pending-cancel"  # cancelled, paid up to its end
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SWITCHED = "switched"
    TRASH = "trash"
    CHECKOUT_DRAFT = "checkout-draft"


@dataclass(frozen=True)
class BillingPeriod:
    """``interval`` x ``unit``, as WooCommerce Subscriptions bills (e.g. every 2 weeks)."""

    unit: str = "month"
    interval: int = 1

    def __post_init__(self) -> None:
        if self.unit not in PERIOD_UNITS:
            raise ValueError(
                f"billing period {self.unit!r} is not one of " + ", ".join(PERIOD_UNITS)
            )
        interval = self.interval
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"billing interval {interval!r} is not a whole number above 0")

    def after(self, start: datetime, count: int = 1) -> datetime:
        """``start`` plus ``count`` periods; a month from Jan 31 is the last day of February."""
        steps = self.interval * count
        if self.unit == "day":
            return start + timedelta(days=steps)
        if self.unit == "week":
            return start + timedelta(weeks=steps)
        return add_months(start, steps * (12 if self.unit == "year" else 1))

    def __str__(self) -> str:
        return f"{self.interval} {self.unit}{'s' if self.interval != 1 else ''}"


MONTHLY = BillingPeriod()


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later, the day clamped to the target month's length (as WooCommerce does)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def parse_billing_period(unit: object, interval: object) -> BillingPeriod:
    """``billing_period`` and ``billing_interval`` as WooCommerce sends them ("1" and 1 alike)."""
    if isinstance(interval, str) and interval.strip().isascii() and interval.strip().isdigit():
        interval = int(interval)
    if interval in (None, ""):
        interval = 1
    if not isinstance(unit, str) or not isinstance(interval, int):
        raise ValueError(f"billing period {unit!r} every {interval!r} is not understood")
    return BillingPeriod(unit.strip().lower(), interval)


def offer_period(offer: Any) -> BillingPeriod | None:
    """The billing period an offer declares, if the catalogue gives offers one."""
    # The catalogue may or may not carry a period per offer; without one the subscription's
    # own period (or a month) applies.
    unit = getattr(offer, "billing_period", None)
    if not unit:
        return None
    try:
        return parse_billing_period(unit, getattr(offer, "billing_interval", 1) or 1)
    except ValueError:
        return None


@dataclass(frozen=True)
class SubscriptionPolicy:
    """The creator's settings for subscription credits."""

    # Extra periods unused credits of a type stay after their own period ends; absent types: 0.
    rollover: Mapping[str, int] = field(default_factory=dict)
    revoke_on_cancel: bool = False

    def rollover_periods(self, credit_type: str) -> int:
        return max(0, int(self.rollover.get(credit_type, 0)))


# Must match the defaults of BRIDGE_SUBSCRIPTION_ROLLOVER and ..._REVOKE_ON_CANCEL (a test checks).
DEFAULT_POLICY = SubscriptionPolicy(rollover={"mentor_minutes": 1, "portfolio_reviews": 0})


@dataclass(frozen=True)
class Schedule:
    """What an order's credits need to know about one subscription the order pays for."""

    subscription_id: int
    period: BillingPeriod
    offer_skus: tuple[str, ...] = ()
    # Set when the subscription was cancelled and the policy revokes unspent credits then.
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class SubscriptionTerms:
    """The subscriptions one order is the parent, a renewal or a switch of, and the policy."""

    policy: SubscriptionPolicy = DEFAULT_POLICY
    schedules: tuple[Schedule, ...] = ()

    def schedule_for(self, sku: str) -> Schedule | None:
        """The subscription selling ``sku``; a renewal pays for its one subscription whatever
        its lines map to today."""
        for schedule in self.schedules:
            if sku in schedule.offer_skus:
                return schedule
        return self.schedules[0] if len(self.schedules) == 1 else None

    def period_for(self, offer: Any) -> BillingPeriod:
        """The stored subscription's period, else the offer's own, else one month."""
        schedule = self.schedule_for(offer.sku)
        if schedule is not None:
            return schedule.period
        return offer_period(offer) or MONTHLY

    def credit_expiry(
        self, offer: Any, credit_type: str, starts_at: datetime | None
    ) -> datetime | None:
        """When credits of one period, paid at ``starts_at``, expire; None without a start."""
        if starts_at is None:
            return None
        expires_at = self.period_for(offer).after(
            starts_at, 1 + self.policy.rollover_periods(credit_type)
        )
        schedule = self.schedule_for(offer.sku)
        revoked_at = schedule.revoked_at if schedule is not None else None
        # A period paid after the cancellation was bought knowingly and keeps its credits.
        if revoked_at is not None and starts_at <= revoked_at < expires_at:
            return revoked_at
        return expires_at


def schedule_of(
    subscription_id: int,
    period: BillingPeriod,
    offer_skus: Sequence[str],
    status: str,
    cancelled_at: datetime | None,
    policy: SubscriptionPolicy,
) -> Schedule:
    """A stored subscription's schedule under the policy."""
    cancelled = status == SubscriptionStatus.CANCELLED
    revoked_at = cancelled_at if policy.revoke_on_cancel and cancelled else None
    return Schedule(subscription_id, period, tuple(offer_skus), revoked_at)
