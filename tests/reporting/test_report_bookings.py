"""The outcome report learns from bookings: first calls, time booked vs held vs no-show, and
learners who book the same mentor again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bridge.rules.report.bookings import booking_months, returning_learners
from bridge.rules.report.figures import records
from bridge.rules.report.rows import BookingRow, Period, ReportRows
from bridge.services.reporting import build_report
from tests.support.bookings import (
    LENA,
    booking_app,
    calcom_variant,
    post_calcom,
    post_calendly,
    raw,
)
from tests.support.redemptions import fund
from tests.support.report import store_offers

DECEMBER = Period(date(2026, 12, 1), date(2027, 1, 1), "UTC")
WINTER = Period(date(2026, 11, 1), date(2027, 1, 1), "UTC")
NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def _row(learner, mentor, status, attendance="booked", minutes=60, day=8):
    at = datetime(2026, 12, day, 14, 0, tzinfo=UTC)
    return BookingRow(learner, mentor, status, attendance, minutes, at, at)


def test_booking_months_count_booked_held_and_no_show_minutes_and_the_unfunded():
    """Cancelled and moved bookings are not booked time; a returned no-show still is."""
    rows = ReportRows(
        bookings=(
            _row(1, "mia@x", "debited", "held"),
            _row(1, "mia@x", "debited", "no_show", 30),
            _row(2, "mia@x", "returned", "no_show", 45),
            _row(2, "mia@x", "returned"),
            _row(3, "max@x", "rescheduled"),
            _row(3, "max@x", "debited", minutes=20),
            _row(None, "max@x", "unknown_learner"),
            _row(4, "max@x", "unfunded"),
            _row(4, "max@x", "cancelled"),
        )
    )
    [december] = booking_months(rows, DECEMBER)
    assert vars(december) == {
        "month": "2026-12",
        "bookings": 4,
        "booked": 155,
        "held": 60,
        "no_show": 75,
        "unfunded": 1,
        "unknown_learner": 1,
    }


def test_returning_learners_are_those_who_book_the_same_mentor_twice():
    """Two calls with mia: returning; one call each with mia and max: not returning."""
    rows = ReportRows(
        bookings=(
            _row(1, "Mia@X", "debited", day=3),
            _row(1, "mia@x", "debited", "held", day=20),
            _row(2, "mia@x", "debited"),
            _row(2, "max@x", "debited"),
            _row(3, "max@x", "returned"),
        )
    )
    found = {(r.mentor, r.learners, r.returning) for r in returning_learners(rows, DECEMBER)}
    assert found == {("mia@x", 2, 1), ("max@x", 1, 0), ("(all)", 3, 1)}


def meeting_ended(booking_id):
    from tests.support.bookings import compact, payload

    data = payload("calcom_meeting_ended")
    data["payload"]["id"] = booking_id
    return compact(data)


@pytest.fixture
def booked_story(engine, settings):
    """Lena buys a 5-hour pack (Nov 28), then books Marco through both tools in December."""
    store_offers(engine)
    fund(engine, LENA, customer_id=3187)
    # The story is about what bookings count, not their proof: the creator trusts e-mails.
    client = booking_app(engine, settings.replace(bookings={"trust_email": True})).test_client()
    post_calcom(client, raw("calcom_booking_created"))  # Dec 8 14:00
    post_calcom(client, meeting_ended(5811))  # held
    post_calcom(client, raw("calcom_no_show_booking_created"))  # Dec 15
    post_calcom(client, raw("calcom_booking_no_show_updated"))
    post_calendly(client, raw("calendly_no_show_booking_created"))  # Dec 15, not marked
    post_calcom(client, calcom_variant("calcom_booking_created", uid="long", length=600))
    post_calcom(
        client,
        calcom_variant(
            "calcom_booking_created", uid="x", email="stranger@example.com", metadata={}
        ),
    )
    return engine


def test_the_report_counts_bookings_from_the_booking_tools(booked_story):
    """December: 3 calls booked (180 min), 60 held, 60 no-show, 1 unfunded, 1 unknown."""
    report = build_report(booked_story, DECEMBER, NOW)
    data = report.as_dict()["bookings"]
    assert data["total"] == {
        "month": "(all)",
        "bookings": 3,
        "booked": 180,
        "held": 60,
        "no_show": 60,
        "unfunded": 1,
        "unknown_learner": 1,
    }
    assert data["returning_learners"][-1] == {
        "mentor": "(all)",
        "learners": 1,
        "returning": 1,
        "rate": 1.0,
    }
    flat = {(section, item, metric): value for section, item, metric, value in records(report)}
    assert flat[("bookings", "2026-12", "no_show")] == "60"
    assert flat[("returning_learners", "marco.rossi@example.com", "rate")] == "1.0"


def test_the_funnel_first_call_is_the_first_booking_held_not_its_debit(booked_story):
    """Paid Nov 28 16:00, first call Dec 8 14:00 (its start), not when it was booked."""
    report = build_report(booked_story, WINTER, NOW)
    [entry, _] = [row for row in report.funnel if row.entry == "paid"]
    assert entry.entry_sku == "MENTOR-PACK-5H"
    assert entry.learners["first_call"] == 1
    assert entry.median_days["first_call"] == 9.9
