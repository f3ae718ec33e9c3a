"""The outcome report's rules as pure functions over hand-made rows: no database, no clock."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bridge.rules.report.figures import (
    cohort_fill,
    compute_report,
    funnel,
    mentor_retention,
    mentor_time,
    outcomes,
    outstanding,
    percent,
    records,
    repeat_purchases,
    revenue,
)
from bridge.rules.report.rows import (
    ALL,
    NO_DATA,
    ORDER_LEVEL,
    CohortRow,
    EventRow,
    LedgerRow,
    LineRow,
    OrderRow,
    Period,
    RedemptionRow,
    RefundRow,
    ReportError,
    ReportRows,
    SeatRow,
    SubscriptionRow,
    order_row,
    parse_day,
    report_period,
)

PAID = ("processing", "completed")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KINDS = {
    "PREVIEW": "preview",
    "HOUR": "mentor_hours",
    "PROJ": "project",
    "SUB": "subscription",
    "SEAT": "cohort_seat",
}
OCTOBER = Period(date(2026, 10, 1), date(2026, 11, 1), "Europe/Berlin")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def purchase(
    order_id: int,
    learner: int,
    paid: str,
    *lines: tuple[str, int, str],
    status: str = "completed",
    modified: str | None = None,
    refunds: tuple[RefundRow, ...] = (),
    renewal: bool = False,
) -> OrderRow:
    return OrderRow(
        order_id=order_id,
        learner_id=learner,
        status=status,
        paid_at=t(paid),
        created_at=t(paid),
        modified_at=t(modified or paid),
        currency="EUR",
        lines=tuple(
            LineRow(order_id * 10 + i, sku, qty, Decimal(total))
            for i, (sku, qty, total) in enumerate(lines)
        ),
        refunds=refunds,
        renewal=renewal,
    )


def rows(**parts: object) -> ReportRows:
    return ReportRows(offer_kinds=KINDS, **parts)  # type: ignore[arg-type]


def test_a_berlin_period_starts_and_ends_at_local_midnight_across_the_dst_change():
    """October 2026 in Berlin runs from 22:00 UTC (summer time) to 23:00 UTC (winter time)."""
    assert OCTOBER.start == t("2026-09-30T22:00:00")
    assert OCTOBER.end == t("2026-10-31T23:00:00")
    assert OCTOBER.contains(t("2026-09-30T22:00:00"))
    assert not OCTOBER.contains(t("2026-10-31T23:00:00"))
    assert OCTOBER.month_of(t("2026-09-30T22:30:00")) == "2026-10"


def test_months_are_the_calendar_months_the_period_overlaps_across_a_year_end():
    """Mid-December to early February lists December, January and February."""
    period = Period(date(2026, 12, 15), date(2027, 2, 3), "UTC")
    assert period.months() == ["2026-12", "2027-01", "2027-02"]


def test_the_default_period_is_twelve_calendar_months_up_to_and_including_today():
    """With neither date given, since is the first of the month 11 months back, until tomorrow."""
    period = report_period(None, None, "Pacific/Auckland", NOW)
    # 12:00 UTC on Nov 28 is already Nov 29 in Auckland.
    assert (period.since, period.until) == (date(2025, 12, 1), date(2026, 11, 30))


def test_a_period_must_end_after_it_starts_and_dates_and_zones_name_their_option():
    """since >= until, a malformed date and an unknown zone each fail naming what to fix."""
    with pytest.raises(ReportError, match="must be before until"):
        report_period(date(2026, 10, 1), date(2026, 10, 1), "UTC", NOW)
    with pytest.raises(ReportError, match="--since: '2026-13-01' is not a date"):
        parse_day("2026-13-01", "--since")
    with pytest.raises(ReportError, match="timezone: 'Mars/Olympus' is not a time zone"):
        report_period(None, None, "Mars/Olympus", NOW)


def test_a_stored_summary_becomes_lines_and_dated_refunds_by_order_line():
    """order_row reads line totals, refund dates and _refunded_item_id; bad values become 0."""
    summary = {
        "lines": [
            {"id": 600, "sku": "HOUR", "quantity": 2, "total": "100.00"},
            {"id": 601, "sku": None, "quantity": "x", "total": "n/a"},
        ],
        "refunds": [
            {
                "id": 7,
                "date_created_gmt": "2026-10-06T09:00:00",
                "total": "50.00",
                "line_items": [
                    {
                        "quantity": -1,
                        "total": "-50.00",
                        "meta_data": [{"key": "_refunded_item_id", "value": "600"}],
                    }
                ],
            }
        ],
        "renewal_of": [12],
    }
    row = order_row(
        6,
        1,
        "processing",
        paid_at=t("2026-09-10T10:00:00"),
        created_at=None,
        modified_at=None,
        currency="EUR",
        summary=summary,
    )
    assert row.lines == (
        LineRow(600, "HOUR", 2, Decimal("100.00")),
        LineRow(601, "(no SKU)", 0, Decimal("0")),
    )
    assert row.refunds == (
        RefundRow(7, t("2026-10-06T09:00:00"), Decimal("50.00"), ((600, Decimal("50.00")),)),
    )
    assert row.renewal


def test_a_refund_counts_in_the_period_it_was_made_not_when_the_order_was_paid():
    """Paid in September, refunded in October: September keeps the revenue, October the refund."""
    refund = RefundRow(1, t("2026-10-06T09:00:00"), Decimal("50.00"), ((60, Decimal("50.00")),))
    data = rows(
        orders=(purchase(6, 1, "2026-09-10T10:00:00", ("HOUR", 2, "100.00"), refunds=(refund,)),)
    )
    september = Period(date(2026, 9, 1), date(2026, 10, 1), "Europe/Berlin")
    [sep], _ = revenue(data, september, PAID)
    [octo], [total] = revenue(data, OCTOBER, PAID)
    assert (sep.revenue, sep.refunds, sep.net, sep.orders, sep.units) == (
        Decimal("100.00"),
        0,
        Decimal("100.00"),
        1,
        2,
    )
    assert (octo.revenue, octo.refunds, octo.net, octo.orders, octo.units) == (
        0,
        Decimal("50.00"),
        Decimal("-50.00"),
        0,
        0,
    )
    assert (total.sku, total.net, total.orders) == (ALL, Decimal("-50.00"), 0)


def test_an_order_refunded_in_full_without_refund_details_is_refunded_when_it_last_changed():
    """Status refunded and no stored refund: every line's total counts at date_modified_gmt."""
    order = purchase(
        9,
        1,
        "2026-10-30T22:30:00",
        ("HOUR", 1, "50.00"),
        ("PROJ", 1, "120.00"),
        status="refunded",
        modified="2026-10-31T23:30:00",
    )
    by_sku, [total] = revenue(rows(orders=(order,)), OCTOBER, PAID)
    assert [(r.sku, r.revenue, r.refunds) for r in by_sku] == [
        ("HOUR", Decimal("50.00"), 0),
        ("PROJ", Decimal("120.00"), 0),
    ]
    november = Period(date(2026, 11, 1), date(2026, 12, 1), "Europe/Berlin")
    by_sku, [total] = revenue(rows(orders=(order,)), november, PAID)
    assert [(r.sku, r.refunds) for r in by_sku] == [
        ("HOUR", Decimal("50.00")),
        ("PROJ", Decimal("120.00")),
    ]
    assert total.net == Decimal("-170.00")


def test_a_refunded_order_with_a_stored_partial_refund_adds_only_the_rest_at_its_last_change():
    """One line refunded with a date, the order then refunded in full: the rest is dated later."""
    partial = RefundRow(1, t("2026-10-05T10:00:00"), Decimal("20.00"), ((90, Decimal("20.00")),))
    order = purchase(
        9,
        1,
        "2026-10-01T10:00:00",
        ("HOUR", 1, "50.00"),
        status="refunded",
        modified="2026-10-20T10:00:00",
        refunds=(partial,),
    )
    first_half = Period(date(2026, 10, 1), date(2026, 10, 10), "UTC")
    second_half = Period(date(2026, 10, 10), date(2026, 11, 1), "UTC")
    assert revenue(rows(orders=(order,)), first_half, PAID)[0][0].refunds == Decimal("20.00")
    assert revenue(rows(orders=(order,)), second_half, PAID)[0][0].refunds == Decimal("30.00")


def test_a_refund_without_refunded_lines_is_counted_at_order_level():
    """An amount-only refund (a goodwill gesture) cannot be put on a SKU; it has its own row."""
    goodwill = RefundRow(2, t("2026-10-08T10:00:00"), Decimal("15.00"))
    order = purchase(5, 1, "2026-10-01T10:00:00", ("HOUR", 1, "50.00"), refunds=(goodwill,))
    by_sku, [total] = revenue(rows(orders=(order,)), OCTOBER, PAID)
    assert [(r.sku, r.refunds) for r in by_sku] == [
        (ORDER_LEVEL, Decimal("15.00")),
        ("HOUR", Decimal("0")),
    ]
    assert total.net == Decimal("35.00")


def test_unpaid_cancelled_and_failed_orders_bring_no_revenue():
    """Only paid statuses and refunded orders are purchases."""
    data = rows(
        orders=tuple(
            purchase(n, 1, "2026-10-02T10:00:00", ("HOUR", 1, "50.00"), status=status)
            for n, status in enumerate(("pending", "cancelled", "failed", "on-hold", "trash"))
        )
    )
    assert revenue(data, OCTOBER, PAID) == ([], [])


def test_the_funnel_follows_each_learner_step_by_step_in_order():
    """Preview, paid, call, subscription: a step before the previous one does not count."""
    data = rows(
        orders=(
            purchase(1, 1, "2026-10-01T10:00:00", ("PREVIEW", 1, "0.00")),
            purchase(2, 1, "2026-10-03T10:00:00", ("HOUR", 1, "50.00")),
            purchase(3, 2, "2026-10-02T10:00:00", ("PREVIEW", 1, "0.00")),
            purchase(4, 2, "2026-10-06T10:00:00", ("HOUR", 1, "50.00")),
            # Preview and paid offer in one order: the preview is the entry, 0 days apart.
            purchase(5, 3, "2026-10-04T10:00:00", ("HOUR", 1, "50.00"), ("PREVIEW", 1, "0.00")),
        ),
        redemptions=(
            RedemptionRow(1, "mia", "active", t("2026-10-04T10:00:00")),
            # Learner 2 called before paying (a complimentary call): not the step after paid.
            RedemptionRow(2, "mia", "active", t("2026-10-05T10:00:00")),
            RedemptionRow(3, "mia", "refunded", t("2026-10-05T10:00:00")),
        ),
        subscriptions=(
            SubscriptionRow(1, "active", t("2026-10-10T10:00:00")),
            SubscriptionRow(2, "active", t("2026-10-07T10:00:00")),
        ),
    )
    [row, total] = funnel(data, OCTOBER, PAID)
    assert (row.entry_sku, row.entry) == ("PREVIEW", "preview")
    assert dict(row.learners) == {"preview": 3, "paid": 3, "first_call": 1, "subscription": 1}
    assert dict(row.rates) == {
        "preview": None,
        "paid": 1.0,
        "first_call": 0.3333,
        "subscription": 1.0,
    }
    assert dict(row.median_days) == {
        "preview": None,
        "paid": 2.0,
        "first_call": 1.0,
        "subscription": 6.0,
    }
    assert total.entry_sku == ALL and total.learners == row.learners


def test_a_learner_who_bought_before_any_preview_enters_as_a_direct_buyer_by_that_sku():
    """The first paid micro-offer is the entry when it came before a preview (or without one)."""
    data = rows(
        orders=(
            purchase(1, 1, "2026-10-01T10:00:00", ("PROJ", 1, "120.00")),
            purchase(2, 1, "2026-10-02T10:00:00", ("PREVIEW", 1, "0.00")),
            purchase(3, 2, "2026-10-03T10:00:00", ("SEAT", 1, "300.00")),
            purchase(4, 3, "2026-10-03T10:00:00", ("SUB", 1, "20.00")),  # a subscription enters not
        )
    )
    result = funnel(data, OCTOBER, PAID)
    assert [(r.entry_sku, r.entry, r.learners["preview"], r.learners["paid"]) for r in result] == [
        ("PROJ", "paid", None, 1),
        ("SEAT", "paid", None, 1),
        (ALL, "paid", None, 2),
    ]


def test_learners_count_in_the_period_they_entered_and_steps_stop_at_its_end():
    """A September entry is not October's; an October entry's November step is not counted."""
    data = rows(
        orders=(
            purchase(1, 1, "2026-09-20T10:00:00", ("PREVIEW", 1, "0.00")),
            purchase(2, 1, "2026-10-03T10:00:00", ("HOUR", 1, "50.00")),
            purchase(3, 2, "2026-10-20T10:00:00", ("PREVIEW", 1, "0.00")),
            purchase(4, 2, "2026-11-03T10:00:00", ("HOUR", 1, "50.00")),
        )
    )
    [row, _] = funnel(data, OCTOBER, PAID)
    assert (row.learners["preview"], row.learners["paid"], row.rates["paid"]) == (1, 0, 0.0)
    assert row.median_days["paid"] is None


def test_cohort_fill_counts_seats_now_for_cohorts_not_ended_before_the_period():
    """Active over capacity and the waitlist; an ended cohort drops out, a full one shows 100%."""
    data = rows(
        cohorts=(
            CohortRow("OLD", "", 2, t("2026-08-01T00:00:00"), t("2026-09-15T00:00:00")),
            CohortRow("NEXT", "", 3, t("2027-01-10T00:00:00"), None),
            CohortRow("NOW", "", 2, t("2026-09-20T00:00:00"), t("2026-10-20T00:00:00")),
            CohortRow("EMPTY", "", 0, None, None),
        ),
        seats=(
            SeatRow(1, "NOW", "active"),
            SeatRow(2, "NOW", "active"),
            SeatRow(3, "NOW", "waitlisted"),
            SeatRow(4, "NOW", "released"),
            SeatRow(5, "NEXT", "active"),
            SeatRow(6, "OLD", "active"),
        ),
    )
    fill = cohort_fill(data, OCTOBER)
    assert [(c.code, c.active, c.capacity, c.waitlisted, c.fill) for c in fill] == [
        ("NOW", 2, 2, 1, 1.0),
        ("NEXT", 1, 3, 0, 0.3333),
        ("EMPTY", 0, 0, 0, None),
    ]


def test_mentor_time_sorts_ledger_reasons_into_granted_reversed_redeemed_and_expired():
    """Grants and manual additions count as granted; refunded redemptions net out of redeemed."""
    ledger = tuple(
        LedgerRow(1, credit_type, amount, reason, t(when))
        for credit_type, amount, reason, when in (
            ("mentor_minutes", 60, "grant", "2026-10-02T10:00:00"),
            ("mentor_minutes", 30, "complimentary", "2026-09-30T22:30:00"),  # Oct 1 in Berlin
            ("mentor_minutes", 15, "manual", "2026-10-03T10:00:00"),
            ("mentor_minutes", -10, "manual", "2026-10-04T10:00:00"),
            ("mentor_minutes", -60, "reversal", "2026-10-05T10:00:00"),
            ("mentor_minutes", -30, "redemption", "2026-10-06T10:00:00"),
            ("mentor_minutes", -30, "redemption", "2026-10-07T10:00:00"),
            ("mentor_minutes", 30, "redemption_refund", "2026-10-08T10:00:00"),
            ("mentor_minutes", -5, "expiry", "2026-10-09T10:00:00"),
            ("mentor_minutes", 45, "renewal_bonus", "2026-10-10T10:00:00"),
            ("portfolio_reviews", 1, "grant", "2026-10-10T10:00:00"),
            ("mentor_minutes", 60, "grant", "2026-10-31T23:30:00"),  # Nov 1 in Berlin
        )
    )
    [month] = mentor_time(rows(ledger=ledger), OCTOBER)
    assert (month.month, month.granted, month.reversed, month.redeemed, month.expired) == (
        "2026-10",
        60 + 30 + 15 + 45,
        10 + 60,
        30,
        5,
    )
    assert outstanding(rows(ledger=ledger), OCTOBER) == {
        "mentor_minutes": {
            "outstanding": 60 + 30 + 15 - 10 - 60 - 30 - 30 + 30 - 5 + 45,
            "learners": 1,
        },
        "portfolio_reviews": {"outstanding": 1, "learners": 1},
    }


def test_outstanding_adds_positive_balances_only_and_ignores_what_learners_owe():
    """A learner whose refund went negative does not reduce what the creator owes others."""
    ledger = (
        LedgerRow(1, "mentor_minutes", 90, "grant", t("2026-10-01T10:00:00")),
        LedgerRow(2, "mentor_minutes", 60, "grant", t("2026-10-01T10:00:00")),
        LedgerRow(2, "mentor_minutes", -60, "redemption", t("2026-10-02T10:00:00")),
        LedgerRow(2, "mentor_minutes", -60, "reversal", t("2026-10-03T10:00:00")),
    )
    assert outstanding(rows(ledger=ledger), OCTOBER) == {
        "mentor_minutes": {"outstanding": 90, "learners": 1}
    }


def test_repeat_buyers_are_period_buyers_with_two_paid_orders_by_its_end():
    """Free orders and renewals are not purchases; an order before the period counts as a first."""
    data = rows(
        orders=(
            purchase(1, 1, "2026-09-01T10:00:00", ("HOUR", 1, "50.00")),
            purchase(2, 1, "2026-10-02T10:00:00", ("HOUR", 1, "50.00")),
            purchase(3, 2, "2026-10-02T10:00:00", ("PREVIEW", 1, "0.00")),
            purchase(4, 2, "2026-10-03T10:00:00", ("HOUR", 1, "50.00")),
            purchase(5, 3, "2026-10-03T10:00:00", ("SUB", 1, "20.00")),
            purchase(6, 3, "2026-10-20T10:00:00", ("SUB", 1, "20.00"), renewal=True),
            purchase(7, 4, "2026-09-03T10:00:00", ("HOUR", 1, "50.00")),
            purchase(8, 4, "2026-09-04T10:00:00", ("HOUR", 1, "50.00")),
            purchase(9, 5, "2026-10-05T10:00:00", ("HOUR", 1, "50.00")),
            purchase(10, 5, "2026-11-05T10:00:00", ("HOUR", 1, "50.00")),
        )
    )
    result = repeat_purchases(data, OCTOBER, PAID)
    assert (result.buyers, result.repeat_buyers, result.rate) == (4, 1, 0.25)


def test_mentor_retention_compares_each_month_with_the_one_before_including_across_years():
    """January looks back at December; names are compared ignoring case and spacing."""
    data = rows(
        redemptions=(
            RedemptionRow(1, "Mia", "active", t("2026-12-05T10:00:00")),
            RedemptionRow(1, "Noor", "active", t("2026-12-06T10:00:00")),
            RedemptionRow(1, " mia ", "active", t("2027-01-05T10:00:00")),
            RedemptionRow(1, "Noor", "refunded", t("2027-01-06T10:00:00")),
            RedemptionRow(1, "", "active", t("2027-01-07T10:00:00")),
            RedemptionRow(1, "Max", "active", t("2027-01-08T10:00:00")),
            RedemptionRow(1, "MAX", "active", t("2027-02-08T10:00:00")),
        )
    )
    period = Period(date(2027, 1, 1), date(2027, 3, 1), "UTC")
    result = mentor_retention(data, period)
    assert [(m.month, m.mentors, m.previous, m.retained, m.rate) for m in result] == [
        ("2027-01", 2, 2, 1, 0.5),
        ("2027-02", 1, 2, 1, 0.5),
    ]


def test_without_outside_events_the_outcome_rates_say_no_data():
    """No project or interview event at all: the rates are None, shown as "no data"."""
    data = rows(
        cohorts=(CohortRow("C", "", 2, None, t("2026-10-10T00:00:00")),),
        seats=(SeatRow(1, "C", "active"),),
    )
    result = outcomes(data, OCTOBER, NOW)
    assert result.graduates == 1
    assert (result.submission_rate, result.interviews_per_100_graduates, result.placement_rate) == (
        None,
        None,
        None,
    )
    assert percent(result.interviews_per_100_graduates) == NO_DATA


def test_graduates_are_first_submissions_or_ended_cohorts_and_interviews_are_theirs():
    """Submitters and active seats of ended cohorts graduate; a cohort ending after now does not."""
    events = tuple(
        EventRow(learner, kind, "PROJ", t(when))
        for learner, kind, when in (
            (1, "project_started", "2026-10-02T10:00:00"),
            (1, "project_submitted", "2026-10-12T10:00:00"),
            (2, "project_started", "2026-10-05T10:00:00"),
            (3, "project_submitted", "2026-09-25T10:00:00"),  # graduated in September
            (3, "project_submitted", "2026-10-25T10:00:00"),
            (1, "interview", "2026-10-20T10:00:00"),
            (1, "interview", "2026-10-21T10:00:00"),
            (2, "interview", "2026-10-22T10:00:00"),  # not a graduate
            (4, "interview", "2026-10-23T10:00:00"),
            (4, "placement", "2026-10-24T10:00:00"),
        )
    )
    data = rows(
        events=events,
        cohorts=(
            CohortRow("ENDED", "", 5, None, t("2026-10-15T00:00:00")),
            CohortRow("LATER", "", 5, None, t("2026-10-30T00:00:00")),
        ),
        seats=(
            SeatRow(4, "ENDED", "active"),
            SeatRow(5, "ENDED", "waitlisted"),
            SeatRow(6, "LATER", "active"),
        ),
    )
    result = outcomes(data, OCTOBER, now=t("2026-10-29T00:00:00"))
    assert [(p.sku, p.started, p.submitted, p.rate) for p in result.projects] == [
        ("PROJ", 2, 1, 0.5),
        (ALL, 2, 1, 0.5),
    ]
    assert (result.graduates, result.interviews, result.placed) == (2, 3, 1)
    assert result.interviews_per_100_graduates == 150.0
    assert result.placement_rate == 0.5


def test_an_empty_period_has_zero_counts_empty_tables_and_no_data_rates():
    """Nothing stored: every figure is zero, empty or "no data", and the JSON still serialises."""
    report = compute_report(ReportRows(), OCTOBER, NOW)
    data = report.as_dict()
    assert data["funnel"] == [] and data["revenue"] == [] and data["cohorts"] == []
    assert data["mentor_time"]["months"] == [
        {"month": "2026-10", "granted": 0, "reversed": 0, "redeemed": 0, "expired": 0}
    ]
    assert data["mentor_time"]["outstanding"] == {}
    assert data["repeat_purchases"] == {"buyers": 0, "repeat_buyers": 0, "rate": None}
    assert data["mentor_retention"]["rate"] is None
    assert data["outcomes"]["projects"]["submission_rate"] is None
    assert data["outcomes"]["interviews"]["per_100_graduates"] is None
    json.dumps(data)
    flat = {(section, item, metric): value for section, item, metric, value in records(report)}
    assert flat[("projects", ALL, "rate")] == NO_DATA
    assert flat[("interviews", "", "per_100_graduates")] == NO_DATA
    assert flat[("repeat_purchases", "", "rate")] == NO_DATA
