"""`bridge catalog apply`: the file's catalogue applied on purpose, and what it does to seats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, Cohort
from tests.support.cohorts import (
    buy_seat,
    catalogue_of,
    notes_for,
    seats_by_email,
    told,
    write_catalogue,
)


@pytest.fixture
def full_cohort(engine: Engine, config: Settings, workdir: Path, bridge) -> Path:
    """DV-2027-01 at 3 seats: ann, bob, cat active; fay, gus, hal paid after and wait."""
    path = write_catalogue(workdir / "catalog.toml", learners_per_mentor=3)
    assert bridge("catalog", "apply").exit_code == 0
    catalogue = catalogue_of(engine, path)
    config = told(config)
    for order, (email, day) in enumerate(
        [("ann", 1), ("bob", 2), ("cat", 3), ("fay", 4), ("gus", 5), ("hal", 6)], start=501
    ):
        buy_seat(engine, config, catalogue, order, f"{email}@example.com", day)
    return path


def _capacity(engine: Engine, code: str = "DV-2027-01") -> int:
    with unit_of_work(engine) as session:
        row = session.get(Cohort, code)
        assert row is not None
        return row.capacity


def test_an_edited_file_changes_nothing_until_it_is_applied(engine, full_cohort, bridge) -> None:
    """The file says 4 seats; `bridge cohort` still shows 3 and `bridge catalog` says why."""
    write_catalogue(full_cohort, learners_per_mentor=4)
    shown = json.loads(bridge("cohort", "DV-2027-01", "--json").output)
    assert shown["cohort"]["capacity"] == 3
    listing = bridge("catalog", "--json")
    warnings = [w["code"] for w in json.loads(listing.output)["warnings"]]
    assert "catalogue_not_applied" in warnings


def test_dry_run_shows_the_changes_and_the_promotion_and_stores_nothing(
    engine, full_cohort, bridge
) -> None:
    """A preview names the capacity change and who would be promoted; nothing is stored."""
    write_catalogue(full_cohort, learners_per_mentor=4)
    result = bridge("catalog", "apply", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "cohort DV-2027-01: capacity 3 -> 4" in result.output
    assert "promotes fay@example.com from the waitlist" in result.output
    assert "dry run: nothing stored" in result.output
    data = json.loads(bridge("catalog", "apply", "--dry-run", "--json").output)
    assert data["dry_run"] is True
    assert {"subject": "cohort", "name": "DV-2027-01", "field": "capacity"}.items() <= next(
        c for c in data["changes"] if c["field"] == "capacity"
    ).items()
    assert data["seats"][0]["promoted"] == ["fay@example.com"]
    assert _capacity(engine) == 3
    assert seats_by_email(engine, "DV-2027-01")["waitlisted"][0] == "fay@example.com"


def test_raising_capacity_promotes_the_first_waitlisted_and_the_next_buyer_queues_behind(
    engine, config, full_cohort, bridge
) -> None:
    """3 -> 4 seats: fay (first paid of the waitlist) is promoted and told; the
    next buyer joins the waitlist behind gus and hal."""
    write_catalogue(full_cohort, learners_per_mentor=4)
    result = bridge("catalog", "apply")
    assert result.exit_code == 0, result.output
    assert _capacity(engine) == 4
    seats = seats_by_email(engine, "DV-2027-01")
    assert seats["active"] == [f"{n}@example.com" for n in ("ann", "bob", "cat", "fay")]
    assert seats["waitlisted"] == ["gus@example.com", "hal@example.com"]
    assert any("freed up and is now yours" in text for text in notes_for(engine, 504))
    buy_seat(engine, config, catalogue_of(engine, full_cohort), 601, "newbie@example.com", 20)
    assert seats_by_email(engine, "DV-2027-01")["waitlisted"] == [
        "gus@example.com",
        "hal@example.com",
        "newbie@example.com",
    ]
    with unit_of_work(engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "catalogue.apply")).all()
    assert [row.operator for row in audit] == ["ops@example.com", "ops@example.com"]
    again = bridge("catalog", "apply")
    assert "is the catalogue in force already" in again.output


def test_lowering_capacity_evicts_nobody_and_the_cohort_says_it_is_over(
    engine, full_cohort, bridge
) -> None:
    """3 -> 1 seat: all three keep their seats; the cohort shows 'over capacity by 2'."""
    write_catalogue(full_cohort, learners_per_mentor=1)
    result = bridge("catalog", "apply")
    assert "over capacity by 2 (nobody loses a seat)" in result.output
    assert len(seats_by_email(engine, "DV-2027-01")["active"]) == 3
    shown = bridge("cohort", "DV-2027-01")
    assert "over capacity by 2" in shown.output
    data = json.loads(bridge("cohort", "DV-2027-01", "--json").output)
    assert data["cohort"]["over_capacity"] == 2 and data["cohort"]["seats_left"] == 0


def test_a_bad_file_is_one_line_and_changes_nothing(engine, full_cohort, bridge) -> None:
    """A file that does not parse is refused with the file and the reason; nothing stored."""
    full_cohort.write_text(full_cohort.read_text() + "\n[offers.BROKEN]\nkind = 7\n")
    result = bridge("catalog", "apply")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "error:" in result.output
    assert "Traceback" not in result.output
    assert _capacity(engine) == 3
