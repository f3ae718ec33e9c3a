"""A cohort's sessions in the catalogue file: a weekly series or explicit dates, checked."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bridge.rules.catalogue.catalog import CatalogueError
from bridge.rules.catalogue.catalog_file import parse_catalogue
from tests.support.paths import ROOT

BERLIN = ZoneInfo("Europe/Berlin")
EXAMPLE = ROOT / "catalog.example.toml"
COHORT = """
[cohorts.C1]
starts = 2027-03-01
ends = 2027-04-30
timezone = "Europe/Berlin"
mentors = 1
learners_per_mentor = 3
"""


def sessions_of(table: str):  # type: ignore[no-untyped-def]
    return parse_catalogue(COHORT + "\n[cohorts.C1.sessions]\n" + table).cohorts["C1"].sessions


def test_a_weekly_series_keeps_its_local_hour_across_the_change_to_summer_time() -> None:
    """Sessions at 18:00 Berlin time before and after 28 March 2027 (the clocks go forward)."""
    sessions = sessions_of("first = 2027-03-16T18:00:00\nweekly = 4\nminutes = 90\n")
    assert [moment.strftime("%d %H:%M %Z") for moment in sessions.occurrences()] == [
        "16 18:00 CET",
        "23 18:00 CET",
        "30 18:00 CEST",
        "06 18:00 CEST",
    ]
    assert sessions.weekly == 4 and sessions.minutes == 90 and sessions.location == ""


def test_explicit_dates_and_a_meeting_link() -> None:
    """Each session listed; the location may be the meeting's https URL."""
    sessions = sessions_of(
        "dates = [2027-03-02T09:00:00, 2027-03-04T09:00:00]\nminutes = 60\n"
        'location = "https://meet.example.com/c1"\n'
    )
    assert sessions.occurrences() == [
        datetime(2027, 3, 2, 9, tzinfo=BERLIN),
        datetime(2027, 3, 4, 9, tzinfo=BERLIN),
    ]
    assert sessions.is_url and sessions.weekly is None


@pytest.mark.parametrize(
    "table, key, reason",
    [
        ("first = 2027-03-16T18:00:00\nweekly = 4\n", "cohorts.C1.sessions.minutes", "required"),
        ("first = 2027-03-16T18:00:00\nminutes = 60\n", "cohorts.C1.sessions.weekly", "required"),
        ("first = 2027-03-16\nweekly = 2\nminutes = 60\n", "cohorts.C1.sessions.first", "time"),
        ("minutes = 60\n", "cohorts.C1.sessions", "first and weekly"),
        (
            "dates = [2027-03-04T09:00:00, 2027-03-02T09:00:00]\nminutes = 60\n",
            "cohorts.C1.sessions.dates",
            "in order",
        ),
        (
            "first = 2027-02-16T18:00:00\nweekly = 2\nminutes = 60\n",
            "cohorts.C1.sessions",
            "before the cohort starts",
        ),
        (
            "first = 2027-04-20T18:00:00\nweekly = 3\nminutes = 60\n",
            "cohorts.C1.sessions",
            "ends after the cohort",
        ),
        (
            'first = 2027-03-16T18:00:00\nweekly = 2\nminutes = 60\nlocation = "ftp://x"\n',
            "cohorts.C1.sessions.location",
            "http(s) URL",
        ),
        (
            "first = 2027-03-16T18:00:00\nweekly = 2\nminutes = 60\nroom = 1\n",
            "cohorts.C1.sessions.room",
            "unknown key",
        ),
    ],
)
def test_a_wrong_sessions_table_names_its_key(table: str, key: str, reason: str) -> None:
    """`catalog --check` reads the file with these rules: the error names the dotted key."""
    with pytest.raises(CatalogueError) as caught:
        sessions_of(table)
    assert key in str(caught.value) and reason in str(caught.value)


def test_catalog_check_names_a_session_past_the_cohorts_end(bridge, workdir) -> None:
    """The example with 60 weekly sessions instead of 6: `catalog --check` fails in one line
    that names the sessions table."""
    broken = EXAMPLE.read_text().replace("weekly = 6", "weekly = 60")
    (workdir / "catalog.toml").write_text(broken)
    failed = bridge("catalog", "--check")
    assert failed.exit_code != 0
    assert "cohorts.DV-2027-01.sessions" in failed.output
    assert "ends after the cohort" in failed.output and "Traceback" not in failed.output
