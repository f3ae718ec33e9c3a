"""Public outcome figures and cohort wording (pure): the privacy floor, capacity and why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bridge.rules.cohorts import (
    Limits,
    SeatSpan,
    capacity_reason,
    fill_over_time,
    seats_left_reason,
)
from bridge.rules.report.outcome_figures import (
    NOT_ENOUGH,
    CohortFacts,
    EventFact,
    OfferFact,
    SeatFact,
    public_outcomes,
)

NOW = datetime(2027, 3, 1, tzinfo=UTC)
SEAT = OfferFact("SEAT", "cohort_seat", "Seat", "C1", True)
PROJECT = OfferFact("PROJ", "project", "Project", None, True)


def cohort(*, public: bool = True, ended: bool = True, capacity: int = 6) -> CohortFacts:
    ends = NOW - timedelta(days=1) if ended else NOW + timedelta(days=9)
    return CohortFacts(
        "C1",
        "Cohort one",
        NOW - timedelta(days=60),
        ends,
        Limits(capacity, 2, 3, None, True, ends),
        public,
    )


def test_a_figure_with_four_learners_behind_it_reads_not_enough_data() -> None:
    """Four active seats: the fill is withheld, with its count."""
    seats = [SeatFact(i, "C1", "active", "SEAT") for i in range(4)]
    data = public_outcomes([cohort()], seats, [], [SEAT], NOW).as_dict()
    assert data["cohorts"][0]["fill"] == {"value": None, "text": NOT_ENOUGH}


def test_figures_with_five_learners_behind_them_are_shown() -> None:
    """Five of six seats, four of five projects submitted, three interviews of five graduates."""
    seats = [SeatFact(i, "C1", "active", "SEAT") for i in range(5)]
    events = [EventFact(i, "project_started", "PROJ") for i in range(5)]
    events += [EventFact(i, "project_submitted", "PROJ") for i in range(4)]
    events += [EventFact(0, "interview", "PROJ")] * 3
    data = public_outcomes([cohort()], seats, events, [SEAT, PROJECT], NOW).as_dict()
    shown = data["cohorts"][0]
    assert shown["fill"] == {"value": 0.8333, "text": "83%", "learners": 5}
    assert shown["project_submission_rate"]["text"] == "80%"
    assert shown["interviews_per_100_graduates"]["text"] == "60"
    project = next(s for s in data["skus"] if s["sku"] == "PROJ")
    assert project["project_submission_rate"]["value"] == 0.8
    assert project["interviews_per_100_graduates"] == {"value": None, "text": NOT_ENOUGH}


def test_an_unpublished_cohort_and_the_skus_selling_it_are_left_out() -> None:
    """public_outcomes off: neither the cohort nor its seat SKU appears."""
    data = public_outcomes([cohort(public=False)], [], [], [SEAT, PROJECT], NOW).as_dict()
    assert data["cohorts"] == []
    assert [s["sku"] for s in data["skus"]] == ["PROJ"]


def test_capacity_says_which_limit_binds() -> None:
    """Mentors x learners per mentor, bounded by assessment slots when they are fewer."""
    assert (
        capacity_reason(Limits(4, 2, 3, 4))
        == "2 mentors x 3 learners per mentor = 6, bounded by 4 assessment slots: 4 seats"
    )
    assert (
        capacity_reason(Limits(3, 1, 3, 5))
        == "1 mentor x 3 learners per mentor = 3 seats (5 assessment slots do not bound it)"
    )
    assert capacity_reason(Limits(3, 1, 3)) == "1 mentor x 3 learners per mentor = 3 seats"


def test_seats_left_says_why() -> None:
    """Free seats, full with a waitlist, or ended."""
    running = Limits(3, 1, 3, None, True, NOW + timedelta(days=3))
    assert seats_left_reason(running, 1, NOW) == "2 of 3 seats free"  # capacity_reason says why 3
    assert seats_left_reason(running, 3, NOW).startswith("full: every seat is taken; buyers join")
    assert seats_left_reason(Limits(3, ends_at=NOW), 0, NOW) == "the cohort has ended"


def test_fill_over_time_counts_seats_held_at_each_day_end() -> None:
    """A seat released on day three no longer counts that day."""
    day = datetime(2026, 11, 1, 12, tzinfo=UTC)
    spans = [SeatSpan(day), SeatSpan(day + timedelta(days=1), day + timedelta(days=2))]
    assert fill_over_time(spans, date(2026, 11, 4)) == [
        (date(2026, 11, 1), 1),
        (date(2026, 11, 2), 2),
        (date(2026, 11, 3), 1),
        (date(2026, 11, 4), 1),
    ]
