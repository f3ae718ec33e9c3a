"""Steering a cohort from the CLI: promote out of turn, take off the waitlist, move (defer)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from bridge.services.cohorts import steer
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, Seat
from tests.support.cohorts import (
    buy_seat,
    catalogue_of,
    notes_for,
    seats_by_email,
    stock_queued,
    told,
    write_catalogue,
)


@pytest.fixture
def cohorts(engine: Engine, config: Settings, workdir: Path, bridge) -> Path:
    """DV-2027-01 (3 seats): ann, bob, cat hold one, fay, gus, hal wait; DV-2027-04 (2 seats):
    ivy holds one."""
    path = write_catalogue(workdir / "catalog.toml")
    assert bridge("catalog", "apply").exit_code == 0
    catalogue = catalogue_of(engine, path)
    config = told(config)
    for order, (email, day) in enumerate(
        [("ann", 1), ("bob", 2), ("cat", 3), ("fay", 4), ("gus", 5), ("hal", 6)], start=501
    ):
        buy_seat(engine, config, catalogue, order, f"{email}@example.com", day)
    buy_seat(engine, config, catalogue, 701, "ivy@example.com", 7, sku="COHORT-DV-2027-04")
    return path


def _audit(engine: Engine, action: str) -> list[AuditEvent]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_promote_gives_a_waitlisted_learner_a_seat_out_of_turn(engine, cohorts, bridge) -> None:
    """gus jumps fay: a new active seat row naming the operator, the note, the audit row."""
    result = bridge("cohort", "DV-2027-01", "promote", "gus@example.com", "--reason", "mentor")
    assert result.exit_code == 0, result.output
    assert "gus@example.com was promoted out of turn in DV-2027-01" in result.output
    assert "over capacity by 1" in result.output
    seats = seats_by_email(engine, "DV-2027-01")
    assert "gus@example.com" in seats["active"]
    assert seats["waitlisted"] == ["fay@example.com", "hal@example.com"]
    with unit_of_work(engine) as session:
        rows = session.exec(select(Seat).where(Seat.order_id == 505).order_by(col(Seat.id))).all()
    assert [(r.status, r.reason) for r in rows] == [
        ("released", None),
        ("active", "promoted out of turn by ops@example.com"),
    ]
    assert rows[1].source_key.endswith("@2") and rows[1].confirmed_at is not None
    assert [n for n in notes_for(engine, 505) if "freed up and is now yours" in n]
    [audit] = _audit(engine, "cohort.promote")
    assert (audit.operator, audit.via, audit.subject, audit.reason) == (
        "ops@example.com",
        "cli",
        "cohort:DV-2027-01",
        "mentor",
    )
    assert "gus" not in json.dumps(audit.details)  # references, not personal data


def test_remove_takes_a_learner_off_the_waitlist_for_good(engine, config, cohorts, bridge) -> None:
    """hal leaves the waitlist, is told once; applying hal's order again does not re-queue."""
    result = bridge("cohort", "DV-2027-01", "remove", "hal@example.com")
    assert result.exit_code == 0, result.output
    assert seats_by_email(engine, "DV-2027-01")["removed"] == ["hal@example.com"]
    assert len([n for n in notes_for(engine, 506) if "no longer on the waitlist" in n]) == 1
    buy_seat(
        engine,
        config,
        catalogue_of(engine, cohorts),
        506,
        "hal@example.com",
        6,
        modified="2026-08-30T10:00:00",
    )
    assert "hal@example.com" not in seats_by_email(engine, "DV-2027-01").get("waitlisted", [])
    assert len(_audit(engine, "cohort.remove")) == 1


def test_move_defers_a_seat_to_the_april_cohort_and_frees_one_for_the_waitlist(
    engine, cohorts, bridge
) -> None:
    """ann moves to DV-2027-04 (a free seat there); fay, first in line, gets ann's seat."""
    result = bridge(
        "cohort", "DV-2027-01", "move", "ann@example.com", "--to", "DV-2027-04", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["now"], data["to"], data["promoted"]) == (
        "active",
        "DV-2027-04",
        ["fay@example.com"],
    )
    assert seats_by_email(engine, "DV-2027-04")["active"] == [
        "ann@example.com",
        "ivy@example.com",
    ]
    assert "fay@example.com" in seats_by_email(engine, "DV-2027-01")["active"]
    assert [n for n in notes_for(engine, 501) if "moved to Data-viz cohort, April 2027" in n]
    assert [n for n in notes_for(engine, 504) if "freed up and is now yours" in n]


def test_moving_into_a_full_cohort_takes_a_waitlist_place_by_paid_date(
    engine, cohorts, bridge
) -> None:
    """April holds 2: after bob moves in, cat moving in waits, and is told the place."""
    moved = bridge("cohort", "DV-2027-01", "move", "bob@example.com", "--to", "DV-2027-04")
    assert moved.exit_code == 0, moved.output
    result = bridge("cohort", "DV-2027-01", "move", "cat@example.com", "--to", "DV-2027-04")
    assert "moved from DV-2027-01 to DV-2027-04: waitlist place 1" in result.output
    assert [n for n in notes_for(engine, 503) if "waitlist, in place 1" in n]


def test_dry_run_and_mistakes_change_nothing(engine, cohorts, bridge) -> None:
    """--dry-run says what would happen; an unknown learner, a seat holder promoted, a move
    without --to: one line each, exit 1 or 2, nothing stored."""
    before = seats_by_email(engine, "DV-2027-01")
    dry = bridge("cohort", "DV-2027-01", "promote", "fay@example.com", "--dry-run")
    assert "fay@example.com would be promoted" in dry.output
    for args, code in [
        (("promote", "nobody@example.com"), 1),
        (("promote", "ann@example.com"), 1),
        (("move", "ann@example.com"), 1),
        (("move", "ann@example.com", "--to", "NOPE"), 1),
        (("remove",), 2),
    ]:
        result = bridge("cohort", "DV-2027-01", *args)
        assert result.exit_code == code, (args, result.output)
        assert "Traceback" not in result.output and "error:" in result.output
    assert seats_by_email(engine, "DV-2027-01") == before
    assert _audit(engine, "cohort.promote") == []


def test_steering_writes_stock_back_for_both_cohorts(engine, config, cohorts) -> None:
    """With products selling both cohorts, a move queues both stock figures, even unchanged."""
    catalogue = dataclasses.replace(
        catalogue_of(engine, cohorts),
        bindings={801: "COHORT-DV-2027-01", 802: "COHORT-DV-2027-04"},
    )
    with unit_of_work(engine) as session:
        steer(
            session,
            "move",
            "DV-2027-01",
            "ann@example.com",
            to="DV-2027-04",
            catalogue=catalogue,
            settings=config,
            operator="ops@example.com",
            via="cli",
        )
        session.commit()
    stock = {row["key"]: row["stock_quantity"] for row in stock_queued(engine)}
    assert stock == {"product:801:stock": 0, "product:802:stock": 0}
