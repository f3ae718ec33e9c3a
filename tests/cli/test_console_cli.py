"""`bridge operators`, `bridge learners` and `bridge cohort`, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from bridge.cli.main import main
from bridge.services.operations import last_job_runs
from bridge.services.operations.operators import authenticate
from tests.support.console import (
    seed_console_shop,
)

pytestmark = pytest.mark.both_databases


def bridge(database_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        main,
        ["--env-file", "/dev/null", *args],
        input=stdin,
        env={"DATABASE_URL": database_url},
        terminal_width=100,
    )


def test_operators_are_added_from_stdin_listed_and_removed(
    engine: Engine, database_url: str, workdir: Path
) -> None:
    """The password is stored as an argon2id hash; a removed operator can no longer log in."""
    added = bridge(
        database_url,
        "operators",
        "add",
        "Op@Example.com",
        "--password-stdin",
        "--role",
        "viewer",
        stdin="a long enough secret\n",
    )
    assert added.exit_code == 0, added.output
    assert "op@example.com (viewer)" in added.output
    assert authenticate(engine, "op@example.com", "a long enough secret") is not None
    listed = json.loads(bridge(database_url, "operators", "list", "--json").output)
    assert [(row["email"], row["role"]) for row in listed] == [("op@example.com", "viewer")]
    assert listed[0]["last_login_at"] is not None
    assert bridge(database_url, "operators", "remove", "op@example.com").exit_code == 0
    assert authenticate(engine, "op@example.com", "a long enough secret") is None
    missing = bridge(database_url, "operators", "remove", "op@example.com")
    assert missing.exit_code == 1 and missing.output.startswith("error: no operator")


def test_a_short_password_or_an_unknown_role_is_refused_in_one_line(
    engine: Engine, database_url: str, workdir: Path
) -> None:
    """Ten characters at least; roles are admin and viewer."""
    short = bridge(
        database_url, "operators", "add", "a@example.com", "--password-stdin", stdin="short\n"
    )
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert "Traceback" not in short.output
    role = bridge(
        database_url,
        "operators",
        "add",
        "a@example.com",
        "--password-stdin",
        "--role",
        "owner",
        stdin="long enough password\n",
    )
    assert role.exit_code == 2


def test_learners_finds_by_name_and_cohort_shows_roster_and_waitlist_in_order(
    engine: Engine, database_url: str, workdir: Path
) -> None:
    """The same read models as the console: search by name, the waitlist first in line first."""
    seed_console_shop(engine, database_url, workdir)
    found = json.loads(bridge(database_url, "learners", "--search", "baker", "--json").output)
    assert [row["email"] for row in found] == ["ben@example.com"]
    assert found[0]["name"] == "Ben Baker" and found[0]["seats"] == 1
    text = bridge(database_url, "learners").output
    assert text.splitlines()[0].startswith("fay@example.com")
    data = json.loads(bridge(database_url, "cohort", "DV-2027-01", "--json").output)
    assert [row["email"] for row in data["roster"]] == [
        "ann@example.com",
        "ben@example.com",
        "cara@example.com",
    ]
    assert [(row["position"], row["email"]) for row in data["waitlist"]] == [
        (1, "dan@example.com"),
        (2, "eve@example.com"),
        (3, "fay@example.com"),
    ]
    assert data["cohort"]["capacity_why"].startswith("1 mentor x 3 learners per mentor = 3")
    shown = bridge(database_url, "cohort", "DV-2027-01")
    assert "  1. dan@example.com" in shown.output and "  now: full: every seat" in shown.output
    unknown = bridge(database_url, "cohort", "NOPE")
    assert unknown.exit_code == 1 and unknown.output.startswith("error: no cohort 'NOPE'")


def test_a_sync_job_run_is_kept_for_the_console(
    engine: Engine, database_url: str, workdir: Path
) -> None:
    """`bridge sync expiry` leaves its last run, status and summary in the database."""
    result = bridge(database_url, "sync", "expiry")
    assert result.exit_code == 0, result.output
    runs = last_job_runs(engine)
    assert runs["expiry"]["status"] == "ok" and runs["expiry"]["summary"]["job"] == "expiry"
