"""Migration 0007 on both databases: bookings matched before it are marked legacy, and a
downgrade leaves nothing that reads as a learner's booking without proof."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text

from bridge.store.db import alembic_config

pytestmark = pytest.mark.both_databases

BOOKING = (
    "INSERT INTO booking (id, key, source, external_id, learner_id, attendee_email, "
    "mentor_email, mentor_name, event_type, title, credit_type, amount, "
    "complimentary_minutes, status, attendance, note, created_at, updated_at) VALUES "
    "(:id, :key, 'calcom', :key, :learner, 'lena@example.com', '', '', '', '', "
    "'mentor_minutes', 60, 0, :status, 'booked', '', :now, :now)"
)


def test_0007_marks_earlier_matches_legacy_and_its_downgrade_unlinks_held_bookings(
    empty_engine: Engine,
) -> None:
    """Up: a booking with a learner is legacy, one without stays unmatched. Down: held and
    rejected bookings become unknown attendees with no learner; the rest are kept."""
    config = alembic_config(empty_engine)
    command.upgrade(config, "0006")
    now = "2026-12-01 10:00:00"
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO learner (id, email, name, created_at, updated_at) "
                "VALUES (1, 'lena@example.com', 'Lena', :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(BOOKING),
            {"id": 1, "key": "calcom:a:lena", "learner": 1, "status": "debited", "now": now},
        )
        connection.execute(
            text(BOOKING),
            {
                "id": 2,
                "key": "calcom:b:x",
                "learner": None,
                "status": "unknown_learner",
                "now": now,
            },
        )
    command.upgrade(config, "0007")
    with empty_engine.begin() as connection:
        rows = connection.execute(
            text("SELECT id, matched_by, reviewed_by, reviewed_at FROM booking ORDER BY id")
        ).all()
        assert [tuple(row) for row in rows] == [(1, "legacy", "", None), (2, "", "", None)]
        assert connection.execute(text("SELECT count(*) FROM booking_token")).scalar() == 0
        connection.execute(
            text(
                "INSERT INTO booking_token (learner_id, token_hash, nonce, created_by, created_at) "
                "VALUES (1, :hash, 'n', 'test', :now)"
            ),
            {"hash": "0" * 64, "now": now},
        )
        connection.execute(
            text(BOOKING),
            {
                "id": 3,
                "key": "calcom:c:lena",
                "learner": 1,
                "status": "held_for_review",
                "now": now,
            },
        )
    command.downgrade(config, "0006")
    with empty_engine.begin() as connection:
        rows = connection.execute(
            text("SELECT id, learner_id, status FROM booking ORDER BY id")
        ).all()
        assert [tuple(row) for row in rows] == [
            (1, 1, "debited"),
            (2, None, "unknown_learner"),
            (3, None, "unknown_learner"),
        ]
    command.upgrade(config, "0007")
