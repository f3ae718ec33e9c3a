"""The catalogue file: the shipped example, cohort arithmetic and time zones, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import KINDS, CatalogueError, CohortSpec, describe_offer
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.services.catalogue import read_catalogue_file
from tests.support.paths import ROOT

EXAMPLE = ROOT / "catalog.example.toml"

COHORT = """
[cohorts.C1]
title = "Cohort one"
starts = 2027-01-11T09:00:00
ends = 2027-02-19T18:00:00
timezone = "Europe/Berlin"
mentors = 1
learners_per_mentor = 3
"""


def example():
    return read_catalogue_file(EXAMPLE)


def test_example_file_describes_the_sample_shop_with_every_kind() -> None:
    """catalog.example.toml parses and covers each kind with the sample shop's SKUs."""
    catalogue = example()
    assert {offer.kind for offer in catalogue.offers.values()} == set(KINDS)
    assert list(catalogue.offers) == [
        "MENTOR-1H",
        "MENTOR-PACK-3H",
        "MENTOR-PACK-5H",
        "PROJ-DATAVIZ",
        "COHORT-DV-2027-01",
        "ASSESS-DV",
        "PREVIEW-DV",
        "SUB-MENTOR-MONTHLY",
        "BUNDLE-DV-STACK",
        "TEAM-DV-PROJECT-5",
    ]
    assert catalogue.offers["MENTOR-1H"].credits == {"mentor_minutes": 60}
    assert catalogue.offers["MENTOR-PACK-3H"].credits == {"mentor_minutes": 180}
    assert catalogue.offers["MENTOR-PACK-5H"].credits == {"mentor_minutes": 300}
    project = catalogue.offers["PROJ-DATAVIZ"]
    assert (project.access_weeks, dict(project.credits), project.competencies) == (
        6,
        {"mentor_minutes": 60},
        ("data-visualisation",),
    )
    assessment = catalogue.offers["ASSESS-DV"]
    assert assessment.badge == "Data-viz practitioner"
    assert assessment.competencies == ("data-visualisation",)
    assert catalogue.offers["COHORT-DV-2027-01"].cohort == "DV-2027-01"
    assert catalogue.offers["PREVIEW-DV"].cohort == "DV-2027-01"
    assert all(offer.source == "file" for offer in catalogue.offers.values())
    assert catalogue.currency == "EUR"


def test_example_cohort_has_capacity_three_and_utc_times() -> None:
    """DV-2027-01 runs 11 Jan to 19 Feb 2027 in Berlin (UTC+1), 1 mentor x 3 and 5 slots: 3."""
    cohort = example().cohorts["DV-2027-01"]
    assert cohort.capacity == 3
    assert cohort.timezone == "Europe/Berlin"
    assert cohort.starts_at == datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    assert cohort.ends_at == datetime(2027, 2, 19, 17, 0, tzinfo=UTC)
    assert cohort.waitlist is True


def test_subscription_confers_credits_per_paid_period_and_a_perk() -> None:
    """SUB-MENTOR-MONTHLY: 60 mentor_minutes and 1 portfolio review a month, priority intros."""
    catalogue = example()
    offer = catalogue.offers["SUB-MENTOR-MONTHLY"]
    assert offer.kind == "subscription"
    assert offer.credits == {"mentor_minutes": 60, "portfolio_reviews": 1}
    assert offer.perks == ("priority job intros",)
    assert describe_offer(offer, catalogue) == (
        "per paid period: 1 h of mentor time + 1 portfolio review; perk 'priority job intros'"
    )


def test_bundle_confers_its_included_offers_plus_its_own_credits() -> None:
    """BUNDLE-DV-STACK confers the project and the assessment, plus 120 mentor_minutes."""
    catalogue = example()
    assert [offer.sku for offer in catalogue.expand("BUNDLE-DV-STACK")] == [
        "BUNDLE-DV-STACK",
        "PROJ-DATAVIZ",
        "ASSESS-DV",
    ]
    assert catalogue.credits_per_unit("BUNDLE-DV-STACK") == {"mentor_minutes": 180}
    assert catalogue.competencies_of("BUNDLE-DV-STACK") == ("data-visualisation",)


def test_stack_and_coupon_rules_are_read_for_write_back() -> None:
    """The example's upsell stack and coupon rule come back typed, money as Decimal."""
    catalogue = example()
    (stack,) = catalogue.stacks
    assert stack.skus == ("PROJ-DATAVIZ", "COHORT-DV-2027-01", "ASSESS-DV")
    assert stack.course_price == Decimal("490.00")
    assert stack.upsells == ("BUNDLE-DV-STACK", "SUB-MENTOR-MONTHLY")
    (coupon,) = catalogue.coupon_rules
    assert (coupon.when, coupon.offer, coupon.discount_type, coupon.amount) == (
        "first_paid_offer",
        "SUB-MENTOR-MONTHLY",
        "percent",
        Decimal("20"),
    )


@pytest.mark.parametrize(
    ("mentors", "per_mentor", "slots", "capacity"),
    [(1, 3, 5, 3), (2, 3, 5, 5), (2, 3, None, 6), (3, 4, 12, 12), (1, 1, 1, 1)],
)
def test_capacity_is_mentor_seats_bounded_by_assessment_slots(
    mentors: int, per_mentor: int, slots: int | None, capacity: int
) -> None:
    """Capacity is mentors x learners per mentor, or the live assessment slots if fewer."""
    text = COHORT.replace("mentors = 1", f"mentors = {mentors}").replace(
        "learners_per_mentor = 3", f"learners_per_mentor = {per_mentor}"
    )
    if slots is not None:
        text += f"assessment_slots = {slots}\n"
    assert parse_catalogue(text).cohorts["C1"].capacity == capacity
    spec = CohortSpec(
        "C", "", datetime.now(UTC), datetime.now(UTC), "UTC", mentors, per_mentor, slots
    )
    assert spec.capacity == capacity


def test_summer_time_and_whole_day_dates_convert_to_utc() -> None:
    """A July 09:00 in Berlin is 07:00 UTC; a bare end date includes that whole local day."""
    text = COHORT.replace("starts = 2027-01-11T09:00:00", "starts = 2027-07-05T09:00:00").replace(
        "ends = 2027-02-19T18:00:00", "ends = 2027-07-30"
    )
    cohort = parse_catalogue(text).cohorts["C1"]
    assert cohort.starts_at == datetime(2027, 7, 5, 7, 0, tzinfo=UTC)
    assert cohort.ends_at == datetime(2027, 7, 30, 22, 0, tzinfo=UTC)


def test_a_date_time_with_an_offset_keeps_its_instant() -> None:
    """An explicit offset wins over the cohort's zone; the instant is stored in UTC."""
    text = COHORT.replace("starts = 2027-01-11T09:00:00", "starts = 2027-01-11T09:00:00-05:00")
    assert parse_catalogue(text).cohorts["C1"].starts_at == datetime(2027, 1, 11, 14, 0, tzinfo=UTC)


BAD_FILES = [
    (
        '[offers.X]\nkind = "mentor_hour"\ncredits = { mentor_minutes = 60 }\n',
        "offers.X.kind",
        "unknown kind 'mentor_hour'",
    ),
    ("[offers.X]\ntitle = 'no kind'\n", "offers.X.kind", "required"),
    (
        '[offers.X]\nkind = "mentor_hours"\ncredit = { mentor_minutes = 60 }\n',
        "offers.X.credit",
        "unknown key",
    ),
    (
        '[offers.X]\nkind = "mentor_hours"\ncredits = { mentor_minutes = -60 }\n',
        "offers.X.credits.mentor_minutes",
        "greater than zero",
    ),
    ('[offers.X]\nkind = "mentor_hours"\n', "offers.X.credits", "required for mentor_hours"),
    (
        '[offers.X]\nkind = "mentor_hours"\ncredits = { "Mentor Minutes" = 5 }\n',
        "offers.X.credits",
        "lower_snake_case",
    ),
    ('[offers.X]\nkind = "cohort_seat"\ncohort = "NOPE"\n', "offers.X.cohort", "no cohort 'NOPE'"),
    ('[offers.X]\nkind = "cohort_seat"\n', "offers.X.cohort", "required for a cohort_seat"),
    (
        '[offers.X]\nkind = "project"\ncompetencies = ["a"]\n',
        "offers.X.access_weeks",
        "required for a project",
    ),
    ('[offers.X]\nkind = "assessment"\nperks = ["x"]\n', "offers.X.perks", "only a subscription"),
    (
        '[offers.B]\nkind = "bundle"\nincludes = ["GHOST"]\n',
        "offers.B.includes[0]",
        "no offer 'GHOST'",
    ),
    (
        '[offers.A]\nkind = "bundle"\nincludes = ["B"]\n[offers.B]\nkind = "bundle"\n'
        'includes = ["A"]\n',
        "offers.A.includes",
        "loop",
    ),
    (
        '[competencies.charts]\ntitle = "Charts"\n[offers.X]\nkind = "assessment"\n'
        'competencies = ["chart"]\n',
        "offers.X.competencies[0]",
        "not under [competencies]",
    ),
    (
        COHORT.replace("Europe/Berlin", "Europe/Atlantis"),
        "cohorts.C1.timezone",
        "unknown time zone",
    ),
    (
        COHORT.replace("ends = 2027-02-19T18:00:00", "ends = 2027-01-01"),
        "cohorts.C1.ends",
        "after starts",
    ),
    (
        COHORT.replace("starts = 2027-01-11T09:00:00", 'starts = "2027-01-11"'),
        "cohorts.C1.starts",
        "without quotes",
    ),
    (COHORT.replace("mentors = 1", "mentors = 0"), "cohorts.C1.mentors", "at least 1"),
    (COHORT.replace("learners_per_mentor = 3\n", ""), "cohorts.C1.learners_per_mentor", "required"),
    (
        '[offers.A]\nkind = "assessment"\n[[stacks]]\nname = "s"\nskus = ["A", "Z"]\n'
        'course_price = "9"\n',
        "stacks[0].skus[1]",
        "no offer 'Z'",
    ),
    (
        '[offers.A]\nkind = "assessment"\n[offers.B]\nkind = "assessment"\n[[stacks]]\n'
        'name = "s"\nskus = ["A", "B"]\ncourse_price = 490.0\n',
        "stacks[0].course_price",
        "as a string",
    ),
    (
        '[offers.A]\nkind = "assessment"\n[[coupons]]\nname = "c"\nwhen = "birthday"\n'
        'offer = "A"\ndiscount_type = "percent"\namount = "10"\n',
        "coupons[0].when",
        "unknown trigger",
    ),
    (
        '[offers.A]\nkind = "assessment"\n[[coupons]]\nname = "c"\nwhen = "first_paid_offer"\n'
        'offer = "A"\ndiscount_type = "percent"\namount = "120"\n',
        "coupons[0].amount",
        "at most 100",
    ),
    ("[offer.X]\nkind = 'assessment'\n", "offer", "unknown key"),
    ("version = 2\n", "version", "version 1"),
    ("[offers.X\nkind = 'assessment'\n", "(syntax)", "line 1"),
]


@pytest.mark.parametrize(("text", "key", "reason"), BAD_FILES)
def test_invalid_file_fails_naming_the_file_the_key_and_the_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    """Each mistake raises one CatalogueError whose message names file, key and reason."""
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(CatalogueError) as caught:
        read_catalogue_file(path)
    error = caught.value
    assert (error.source, error.key) == (str(path), key)
    assert reason in error.reason
    assert str(error) == f"{path}: {key}: {error.reason}"
    assert isinstance(error, PermanentError)


def test_missing_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    """A catalogue file that does not exist is an error that says how to get one."""
    with pytest.raises(CatalogueError, match="run `bridge init` to write the example") as caught:
        read_catalogue_file(tmp_path / "nope.toml")
    assert caught.value.source == str(tmp_path / "nope.toml")


def test_an_empty_file_is_an_empty_catalogue() -> None:
    """A creator working from product meta alone can keep an empty file."""
    catalogue = parse_catalogue("")
    assert (dict(catalogue.offers), dict(catalogue.cohorts)) == ({}, {})
