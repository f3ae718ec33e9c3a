"""`bridge events import FILE.csv`: every line or none, each bad line named by its number."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.services.credentials import import_csv
from tests.support.redemptions import fund, sqlite_only
from tests.support.report import store_offers, stored_events

GOOD = """kind,learner,sku,occurred_at,key
project_started,alice@example.com,PROJ-DATAVIZ,2026-10-01T09:00:00Z,lms-1
project_submitted,alice@example.com,PROJ-DATAVIZ,2026-10-20T11:00:00+02:00,lms-2
interview,2,PROJ-DATAVIZ,2026-10-25,

placement,ALICE@example.com,PROJ-DATAVIZ,2026-11-02T10:00:00Z,
"""


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def shop(engine):  # type: ignore[no-untyped-def]
    """alice (customer 2) is a learner; the sample offers are known."""
    fund(engine)
    store_offers(engine)
    return engine


@pytest.fixture
def bridge_env(database_url: str) -> dict[str, str]:
    """`bridge` runs on the test database with the report time zone Europe/Berlin."""
    return {"DATABASE_URL": database_url, "BRIDGE_REPORT_TIMEZONE": "Europe/Berlin"}


def write(tmp_path: Path, text: str | bytes, name: str = "events.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


@sqlite_only
def test_a_good_file_is_imported_and_importing_it_again_adds_nothing(bridge, shop, tmp_path):
    """Four events recorded, a blank line skipped; the second run finds them all recorded."""
    path = write(tmp_path, GOOD)
    first = bridge("events", "import", path)
    assert first.exit_code == 0, first.output
    assert "recorded 4 events; 0 already recorded" in first.output
    again = bridge("events", "import", path)
    assert "recorded 0 events; 4 already recorded" in again.output
    # A plain date is midnight in the report time zone (Oct 25 is summer time in Berlin).
    assert stored_events(shop) == [
        ("project_started", "PROJ-DATAVIZ", t("2026-10-01T09:00:00")),
        ("project_submitted", "PROJ-DATAVIZ", t("2026-10-20T09:00:00")),
        ("interview", "PROJ-DATAVIZ", t("2026-10-24T22:00:00")),
        ("placement", "PROJ-DATAVIZ", t("2026-11-02T10:00:00")),
    ]


@sqlite_only
def test_a_file_with_bad_lines_names_each_one_and_writes_nothing(bridge, shop, tmp_path):
    """Every problem is reported with its line and column; the good lines are not kept either."""
    path = write(
        tmp_path,
        "\n".join(
            [
                "kind,learner,sku,occurred_at,key",
                "project_started,alice@example.com,PROJ-DATAVIZ,2026-10-01T09:00:00Z,k1",
                "graduated,alice@example.com,PROJ-DATAVIZ,2026-10-01T09:00:00Z,k2",
                "interview,nobody@example.com,PROJ-DATAVIZ,2026-10-02T09:00:00Z,k3",
                "interview,alice@example.com,PROJ-DATAVIZ,2026-10-02 09:00,k4",
                "interview,alice@example.com,PROJ-DATAVIZ,2026-10-03T09:00:00Z,k1",
                "interview,alice@example.com",
                ",alice@example.com,PROJ-DATAVIZ,2026-10-04T09:00:00Z,",
            ]
        )
        + "\n",
    )
    result = bridge("events", "import", path)
    assert result.exit_code == 1
    lines = [line.removeprefix(f"{path}: ") for line in result.output.splitlines()]
    assert lines[:7] == [
        "line 3: kind: 'graduated' is not one of project_started, project_submitted, "
        "interview, placement, assessment_passed, project_accepted",
        "line 4: learner: no learner 'nobody@example.com' (by e-mail or customer id)",
        "line 5: occurred_at: must be a date-time with an offset such as 2027-02-01T10:00:00Z "
        "or 2027-02-01T11:00:00+01:00 or a plain date (2027-02-01), not '2026-10-02 09:00'",
        "line 6: key: key 'k1' was used for a different event",
        "line 7: has 2 fields; the header has 5",
        "line 8: kind: is empty",
        "error: 6 bad lines in " + path + "; nothing was written (columns: "
        "kind,learner,sku,occurred_at,key,evidence; kinds: project_started, "
        "project_submitted, interview, placement, assessment_passed, project_accepted)",
    ]
    assert stored_events(shop) == []


@sqlite_only
def test_an_unknown_micro_sku_is_named_once_the_line_parses(bridge, shop, tmp_path):
    """A SKU the bridge never heard of is a line error, not a silent typo."""
    path = write(
        tmp_path,
        "kind,learner,sku,occurred_at\n"
        "interview,alice@example.com,PROJ-DATAVIS,2026-10-02T09:00:00Z\n",
    )
    result = bridge("events", "import", path)
    assert result.exit_code == 1
    assert (
        "line 2: sku: no micro-SKU 'PROJ-DATAVIS' is known to the bridge; did you mean "
        "PROJ-DATAVIZ?"
    ) in result.output


@sqlite_only
@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("kind,learner,sku", "line 1: missing column occurred_at"),
        ("kind,learner,sku,occurred_at,when", "line 1: unknown column when"),
        ("kind,learner,sku,occurred_at,kind", "line 1: column named twice: kind"),
    ],
)
def test_a_wrong_header_is_named_before_any_line_is_read(bridge, shop, tmp_path, header, problem):
    """Missing, unknown and repeated columns are reported on line 1."""
    path = write(tmp_path, header + "\n")
    result = bridge("events", "import", path)
    assert result.exit_code == 1
    assert problem in result.output


@sqlite_only
def test_a_dry_run_checks_everything_and_writes_nothing(bridge, shop, tmp_path):
    """--dry-run says what would be recorded and leaves the database as it was."""
    result = bridge("events", "import", write(tmp_path, GOOD), "--dry-run")
    assert result.exit_code == 0
    assert "would record 4 events" in result.output
    assert stored_events(shop) == []


@sqlite_only
def test_an_excel_file_with_a_bom_imports_and_a_non_utf8_file_is_one_clear_error(
    bridge, shop, tmp_path
):
    """UTF-8 with a byte-order mark is fine; Latin-1 is refused naming the fix."""
    good = bridge("events", "import", write(tmp_path, "\ufeff" + GOOD, "excel.csv"), "--json")
    assert json.loads(good.output)["recorded"] == 4
    latin = write(
        tmp_path, "kind,learner,sku,occurred_at\ninterview,zoë".encode("latin-1"), "latin.csv"
    )
    bad = bridge("events", "import", latin)
    assert bad.exit_code == 1
    assert "is not UTF-8 text" in bad.output and "save it as CSV UTF-8" in bad.output


@sqlite_only
def test_the_json_output_lists_each_error_with_its_line_and_field(bridge, shop, tmp_path):
    """--json gives scripts the same errors as data."""
    path = write(
        tmp_path, "kind,learner,sku,occurred_at\nhired,alice@example.com,PROJ-DATAVIZ,yesterday\n"
    )
    result = bridge("events", "import", path, "--json")
    data = json.loads(result.output[: result.output.index("error:")])
    assert (data["written"], [(e["line"], e["field"]) for e in data["errors"]]) == (
        False,
        [(2, "kind"), (2, "occurred_at")],
    )


@pytest.mark.both_databases
def test_an_import_is_all_or_nothing_on_both_databases(shop):
    """A bad last line rolls back the lines before it; the good file then goes in whole."""
    now = t("2026-11-28T12:00:00")
    bad = import_csv(
        shop,
        GOOD + "interview,nobody@example.com,PROJ-DATAVIZ,2026-10-02,x\n",
        "Europe/Berlin",
        now=now,
    )
    assert (bad.committed, [str(e) for e in bad.errors]) == (
        False,
        ["line 7: learner: no learner 'nobody@example.com' (by e-mail or customer id)"],
    )
    assert stored_events(shop) == []
    good = import_csv(shop, GOOD, "UTC", now=now)
    assert (good.committed, good.recorded, good.already) == (True, 4, 0)
    assert stored_events(shop)[2] == ("interview", "PROJ-DATAVIZ", t("2026-10-25T00:00:00"))
