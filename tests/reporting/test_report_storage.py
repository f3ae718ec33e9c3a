"""Every report figure on the seeded shop (tests/support/report.py), on SQLite and PostgreSQL.

Hand-checked expectations for October 2026 in Europe/Berlin (UTC+2 until Oct 25, then UTC+1),
so the period is [Sep 30 22:00 UTC, Oct 31 23:00 UTC):

- Funnel. Previews entered: ann (Oct 3), ben (Sep 30 22:30 UTC = Oct 1 in Berlin), cara
  (Oct 20) = 3. Paid after the preview: ann after 2 days, ben after 11 = 2 (66.7%, median 6.5
  days). First call after paying: ann after 3 days = 1 (50%); cara's call was refunded.
  Subscribed after the call: ann after 7 days = 1 (100%); cara's subscription is pending. Direct
  buyers entered: eve (cohort DV seat) = 1; her call 2 days later; no subscription.
- Revenue (EUR). MENTOR-1H: orders 2, 7, 9, 11 = 4 orders, 5 units, 250.00; refunds: dan's
  September order refunded 50.00 on Oct 6 (eve's full refund is Nov 1 in Berlin) = 50.00; net
  200.00. PREVIEW-DV 3 orders at 0.00. PROJ-DATAVIZ 120.00. COHORT-DV-2027-01 300.00. All: 9
  orders, 10 units, 670.00 - 50.00 = 620.00.
- Cohorts. WEB-2026-09 (ends Oct 20): fay active, dan waitlisted, capacity 1 = 100%.
  DV-2027-01: eve active of 3 = 33.3%.
- Mentor minutes in October: granted 30+60 (ann) + 30+60 (ben) + 30 (cara) + 120 (dan) + 30+60
  (eve) + 60 (fay) = 480; reversed 60 (dan's refund); redeemed 30 (ann) + 30 - 30 (cara, refunded)
  + 30 (eve) = 60. Outstanding at the end: ann 60, ben 90, cara 30, dan 180, eve 60, fay 60 = 480.
- Repeat buyers: ann, ben, dan, eve, fay bought in October; dan (3 orders), eve (2), fay (2)
  have two or more = 3 of 5.
- Mentor retention: September {Noor, Mia}, October {mia, Max} (Noor's call refunded) = 1 of 2.
- Projects started in October: ben (submitted Oct 28), dan (not submitted) = 1 of 2; cara's
  started in September, ann's (a submission) in November. Graduates: cara (submitted Oct 3), fay
  (cohort WEB ended Oct 20), ben (submitted Oct 28) = 3; ann graduates in November, dan is
  waitlisted. Their interviews up to the end: fay Oct 25, ben Oct 30 = 2 (66.7 per 100); fay's
  Nov 2 interview is later, dan's is not a graduate's. Placed: fay = 1 of 3.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bridge.rules.report.rows import Period
from bridge.services.reporting import build_report
from bridge.store.db import unit_of_work
from bridge.store.models import OrderState
from tests.support.report import NOW, seeded_database

pytestmark = pytest.mark.both_databases

BERLIN_OCTOBER = Period(date(2026, 10, 1), date(2026, 11, 1), "Europe/Berlin")


def _money(sku: str, orders: int, units: int, revenue: str, refunds: str, net: str) -> dict:
    return {
        "sku": sku,
        "currency": "EUR",
        "orders": orders,
        "units": units,
        "revenue": revenue,
        "refunds": refunds,
        "net": net,
    }


def _steps(preview, paid, call, sub):  # type: ignore[no-untyped-def]
    return {"preview": preview, "paid": paid, "first_call": call, "subscription": sub}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The seeded shop, once per database for the whole module (the tests only read)."""
    with seeded_database(request, tmp_path_factory) as (_, engine):
        yield engine


def test_october_in_berlin_gives_the_hand_checked_figures(seeded):
    """The seeded shop's October report in Berlin matches the module docstring, figure by figure."""
    data = build_report(seeded, BERLIN_OCTOBER, NOW).as_dict()
    assert data["period"] == {
        "since": "2026-10-01",
        "until": "2026-11-01",
        "timezone": "Europe/Berlin",
        "start": "2026-09-30T22:00:00+00:00",
        "end": "2026-10-31T23:00:00+00:00",
    }
    preview_row = {
        "entry": "preview",
        "learners": _steps(3, 2, 1, 1),
        "rates": _steps(None, 0.6667, 0.5, 1.0),
        "median_days": _steps(None, 6.5, 3.0, 7.0),
    }
    direct_row = {
        "entry": "paid",
        "learners": _steps(None, 1, 1, 0),
        "rates": _steps(None, None, 1.0, 0.0),
        "median_days": _steps(None, None, 2.0, None),
    }
    assert data["funnel"] == [
        {"entry_sku": "PREVIEW-DV", **preview_row},
        {"entry_sku": "(all)", **preview_row},
        {"entry_sku": "COHORT-DV-2027-01", **direct_row},
        {"entry_sku": "(all)", **direct_row},
    ]
    assert data["revenue"] == [
        _money("COHORT-DV-2027-01", 1, 1, "300.00", "0.00", "300.00"),
        _money("MENTOR-1H", 4, 5, "250.00", "50.00", "200.00"),
        _money("PREVIEW-DV", 3, 3, "0.00", "0.00", "0.00"),
        _money("PROJ-DATAVIZ", 1, 1, "120.00", "0.00", "120.00"),
    ]
    assert data["revenue_totals"] == [_money("(all)", 9, 10, "670.00", "50.00", "620.00")]
    assert [
        (c["code"], c["active"], c["capacity"], c["waitlisted"], c["fill"]) for c in data["cohorts"]
    ] == [("WEB-2026-09", 1, 1, 1, 1.0), ("DV-2027-01", 1, 3, 0, 0.3333)]
    assert data["mentor_time"] == {
        "credit_type": "mentor_minutes",
        "months": [
            {"month": "2026-10", "granted": 480, "reversed": 60, "redeemed": 60, "expired": 0}
        ],
        "total": {"month": "(all)", "granted": 480, "reversed": 60, "redeemed": 60, "expired": 0},
        "outstanding": {"mentor_minutes": {"outstanding": 480, "learners": 6}},
    }
    assert data["repeat_purchases"] == {"buyers": 5, "repeat_buyers": 3, "rate": 0.6}
    assert data["mentor_retention"] == {
        "months": [{"month": "2026-10", "mentors": 2, "previous": 2, "retained": 1, "rate": 0.5}],
        "rate": 0.5,
    }
    assert data["outcomes"] == {
        "projects": {
            "data": True,
            "by_sku": [
                {"sku": "PROJ-DATAVIZ", "started": 2, "submitted": 1, "rate": 0.5},
                {"sku": "(all)", "started": 2, "submitted": 1, "rate": 0.5},
            ],
            "submission_rate": 0.5,
        },
        "graduates": 3,
        "interviews": {"data": True, "count": 2, "per_100_graduates": 66.7},
        "placements": {"data": True, "placed": 1, "rate": 0.3333},
    }


def test_boundaries_follow_the_time_zone_and_refunds_land_in_the_period_they_were_made(seeded):
    """In UTC ben's preview is September's and eve's refund October's; in Berlin, November's."""
    utc = build_report(seeded, Period(date(2026, 10, 1), date(2026, 11, 1), "UTC"), NOW)
    data = utc.as_dict()
    assert data["funnel"][0]["learners"] == _steps(2, 1, 1, 1)
    assert data["funnel"][0]["rates"] == _steps(None, 0.5, 1.0, 1.0)
    by_sku = {row["sku"]: row for row in data["revenue"]}
    assert (
        by_sku["PREVIEW-DV"]["orders"],
        by_sku["MENTOR-1H"]["refunds"],
        by_sku["MENTOR-1H"]["net"],
    ) == (2, "100.00", "150.00")
    assert data["revenue_totals"] == [_money("(all)", 8, 9, "670.00", "100.00", "570.00")]
    # Ben's complimentary call is September's in UTC; eve's reversal October's.
    assert data["mentor_time"]["months"] == [
        {"month": "2026-10", "granted": 450, "reversed": 120, "redeemed": 60, "expired": 0}
    ]
    assert data["mentor_time"]["outstanding"] == {
        "mentor_minutes": {"outstanding": 420, "learners": 5}
    }

    november = build_report(
        seeded, Period(date(2026, 11, 1), date(2026, 12, 1), "Europe/Berlin"), NOW
    ).as_dict()
    assert november["revenue"] == [_money("MENTOR-1H", 0, 0, "0.00", "50.00", "-50.00")]
    assert [c["code"] for c in november["cohorts"]] == ["DV-2027-01"]
    assert november["funnel"] == []
    assert november["outcomes"]["graduates"] == 1  # ann, who submitted on Nov 5
    assert november["outcomes"]["interviews"]["per_100_graduates"] == 0.0
    assert november["outcomes"]["projects"]["submission_rate"] == 1.0  # ann's, by submission


def test_a_period_before_any_activity_is_empty_and_says_no_data(seeded):
    """January 2025: no purchases, no mentor time, no events; cohort seats are still shown."""
    data = build_report(
        seeded, Period(date(2025, 1, 1), date(2025, 2, 1), "Europe/Berlin"), NOW
    ).as_dict()
    assert data["funnel"] == [] and data["revenue"] == [] and data["revenue_totals"] == []
    assert data["mentor_time"]["months"] == [
        {"month": "2025-01", "granted": 0, "reversed": 0, "redeemed": 0, "expired": 0}
    ]
    assert data["mentor_time"]["outstanding"] == {}
    assert data["repeat_purchases"]["rate"] is None
    assert data["mentor_retention"]["rate"] is None
    assert data["outcomes"]["projects"] == {
        "data": False,
        "by_sku": [{"sku": "(all)", "started": 0, "submitted": 0, "rate": None}],
        "submission_rate": None,
    }
    assert data["outcomes"]["interviews"] == {"data": False, "count": 0, "per_100_graduates": None}
    assert len(data["cohorts"]) == 2


def test_the_order_summary_keeps_each_refunds_date_for_the_report(seeded):
    """apply_order stores the refund's date_created_gmt; a full refund without details has none."""
    with unit_of_work(seeded) as session:
        states = {s.order_id: s for s in session.exec(select(OrderState)).all()}
    [partial] = states[6].summary["refunds"]
    assert (partial["id"], partial["date_created_gmt"], partial["total"]) == (
        601,
        "2026-10-06T09:00:00",
        "50.00",
    )
    assert states[9].status == "refunded" and states[9].summary["refunds"] == []
