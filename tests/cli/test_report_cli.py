"""`bridge report` on the seeded shop: the same figures as a table, JSON and CSV (SQLite)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest

from bridge.rules.report.rows import Period
from bridge.services.reporting import build_report
from tests.support.report import NOW, seeded_database

OCTOBER = ("--since", "2026-10-01", "--until", "2026-11-01")


@pytest.fixture(scope="module", params=["sqlite"])
def seeded(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    with seeded_database(request, tmp_path_factory) as (url, engine):
        yield url, engine


@pytest.fixture
def bridge_env(seeded) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """`bridge` runs on the seeded shop; the report time zone is Europe/Berlin."""
    return {"DATABASE_URL": seeded[0], "BRIDGE_REPORT_TIMEZONE": "Europe/Berlin"}


def test_json_is_the_report_as_computed_in_the_configured_time_zone(bridge, seeded):
    """--format json prints the same data build_report gives for October in Berlin."""
    result = bridge("report", *OCTOBER, "--format", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    expected = build_report(
        seeded[1], Period(date(2026, 10, 1), date(2026, 11, 1), "Europe/Berlin"), NOW
    ).as_dict()
    assert printed.pop("generated_at") and expected.pop("generated_at")
    assert printed == expected


def test_the_table_shows_each_section_with_its_figures(bridge):
    """The default format is a titled table per figure, with rates as percentages."""
    result = bridge("report", *OCTOBER)
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    for expected in (
        "Outcome report 2026-10-01 to 2026-10-31, whole days, time zone Europe/Berlin",
        "PREVIEW-DV (preview) 3 2 66.7%, 6.5 d 1 50.0%, 3 d 1 100.0%, 7 d",
        "MENTOR-1H EUR 4 5 250.00 50.00 200.00",
        "(all) EUR 9 10 670.00 50.00 620.00",
        "WEB-2026-09 2026-09-01 1 1 100.0% 1",
        "Oct 2026 8 h 1 h 1 h 0 min",
        "Outstanding at the end of 2026-10-31: 8 h of mentor time (6 learners)",
        "Repeat purchase rate: 60.0% (3 of 5 buyers)",
        "Projects submitted vs started: 50.0%",
        "Interviews per 100 graduates: 66.7 (2 interviews)",
    ):
        assert expected in lines, expected


def test_csv_has_one_figure_per_row(bridge):
    """--format csv: section, item, metric, value; the --timezone option overrides the setting."""
    result = bridge("report", *OCTOBER, "--timezone", "UTC", "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["section", "item", "metric", "value"]
    figures = {tuple(row[:3]): row[3] for row in rows[1:]}
    assert figures[("period", "", "timezone")] == "UTC"
    assert figures[("funnel", "preview:PREVIEW-DV", "preview_learners")] == "2"
    assert figures[("revenue", "MENTOR-1H EUR", "refunds")] == "100.00"
    assert figures[("revenue_totals", "(all) EUR", "net")] == "570.00"
    assert figures[("mentor_time", "2026-10", "granted")] == "450"
    assert figures[("outstanding", "mentor_minutes", "outstanding")] == "420"
    assert figures[("interviews", "", "per_100_graduates")] == "66.7"


def test_an_empty_period_prints_no_data_instead_of_figures(bridge):
    """January 2025: no entries, no money; rates say "no data"."""
    result = bridge("report", "--since", "2025-01-01", "--until", "2025-02-01")
    assert result.exit_code == 0, result.output
    assert "no data: nobody entered in this period" in result.output
    assert "no data: no purchases or refunds in this period" in result.output
    assert "Interviews per 100 graduates: no data" in result.output
    assert "Repeat purchase rate: no data (0 of 0 buyers)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2026-10-32"), "error: --since: '2026-10-32' is not a date; use YYYY-MM-DD"),
        (
            ("--since", "2026-11-01", "--until", "2026-10-01"),
            "error: since (2026-11-01) must be before until (2026-10-01)",
        ),
        (("--timezone", "Berlin"), "error: --timezone: 'Berlin' is not a time zone"),
    ],
)
def test_a_bad_option_is_one_human_line(bridge, args, message):
    """Malformed dates, an inverted period and an unknown zone exit 2 (usage) naming the option."""
    result = bridge("report", *args)
    assert result.exit_code == 2
    assert result.output.startswith(message)


def test_definitions_explain_every_figure(bridge):
    """--definitions prints how each figure is defined, graduates included."""
    result = bridge("report", "--definitions")
    assert result.exit_code == 0
    assert "Graduate: A learner whose first project_submitted event" in result.output


def test_a_years_table_hides_the_months_without_mentor_time_and_fits_the_terminal(bridge):
    """No twelve all-zero month rows, no all-zero order-level row, no line over 100 columns."""
    result = bridge("report", "--since", "2026-01-01", "--until", "2027-01-01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    months = [line for line in lines if re.match(r"[A-Z][a-z]{2} 2026 ", line)]
    assert months and all(re.search(r"[1-9]", line.split("2026", 1)[1]) for line in months)
    assert not [
        line for line in lines if line.startswith("(order-level)") and not re.search(r"[1-9]", line)
    ]
    assert all(len(line) <= 100 for line in lines)
    assert not re.search(r"\b1 (learners|buyers|interviews)\b", result.output)
