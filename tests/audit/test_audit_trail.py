"""The audit trail: a row per operator action, written with the action, read back filtered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from bridge.services.audit import (
    AuditFilter,
    Via,
    event_data,
    known_actions,
    list_events,
    operator_of,
    record_action,
)
from bridge.store.db import unit_of_work

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_row_commits_with_the_action_and_rolls_back_with_it(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        record_action(
            session,
            operator="dana",
            via=Via.CLI,
            action="credits.grant",
            subject="learner:7",
            reason="goodwill\nafter a missed call",
            details={"amount": 60, "at": T0},
            at=T0,
        )
        session.commit()
    with unit_of_work(engine) as session:
        record_action(session, operator="dana", via="cli", action="credits.revoke")
        session.rollback()
    with unit_of_work(engine) as session:
        rows, total = list_events(session)
    assert total == 1
    assert event_data(rows[0]) == {
        "id": rows[0].id,
        "at": T0.isoformat(),
        "operator": "dana",
        "via": "cli",
        "action": "credits.grant",
        "subject": "learner:7",
        "reason": "goodwill after a missed call",  # one line: no control characters kept
        "details": {"amount": 60, "at": T0.isoformat()},
    }


def test_filters_narrow_the_trail_and_pages_are_newest_first(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        for i, (who, via, action, subject) in enumerate(
            [
                ("dana", "cli", "credits.grant", "learner:1"),
                ("ops@example.com", "console", "credits.revoke", "learner:1"),
                ("ops@example.com", "console", "outbox.retry", "outbox:9"),
                ("dana", "cli", "token.revoke", "token:calcom"),
            ]
        ):
            record_action(
                session,
                operator=who,
                via=via,
                action=action,
                subject=subject,
                at=T0 + timedelta(hours=i),
            )
        session.commit()
    with unit_of_work(engine) as session:
        assert list_events(session, AuditFilter(operator="dana"))[1] == 2
        assert [e.action for e in list_events(session, AuditFilter(action="credits"))[0]] == [
            "credits.revoke",
            "credits.grant",
        ]
        assert list_events(session, AuditFilter(subject="learner:1", via="console"))[1] == 1
        window = AuditFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
        assert [e.subject for e in list_events(session, window)[0]] == ["outbox:9", "learner:1"]
        page, total = list_events(session, limit=2, offset=2)
        assert total == 4 and [e.action for e in page] == ["credits.revoke", "credits.grant"]
        assert known_actions(session) == [
            "credits.grant",
            "credits.revoke",
            "outbox.retry",
            "token.revoke",
        ]


def test_the_cli_operator_is_by_then_the_setting_then_the_os_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "posix-user")
    assert operator_of(" ann ", "dana") == "ann"
    assert operator_of(None, "dana") == "dana"
    assert operator_of("  ", None) == "posix-user"

    def no_user() -> str:
        raise KeyError("no passwd entry")

    monkeypatch.setattr("getpass.getuser", no_user)
    assert operator_of() == "unknown"
