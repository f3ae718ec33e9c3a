"""`bridge apps`: the apps registered for the Open Badges 3.0 API, listed (--json) and blocked
(audited, its tokens revoked); blocking an unknown or blocked app is one error line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlmodel import select

from bridge.cli.main import main
from bridge.services.wallets import register_client, save_token
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, Learner, WalletToken, utcnow

pytestmark = pytest.mark.both_databases


@pytest.fixture
def workdir(workdir: Path, database_url: str, engine) -> Path:  # type: ignore[no-untyped-def]
    (workdir / "test.env").write_text(f"DATABASE_URL={database_url}\n")
    now = utcnow()
    with unit_of_work(engine) as session:
        learner = Learner(email="ann@example.com")
        session.add(learner)
        session.flush()
        assert learner.id is not None
        metadata = {"client_name": "Pocket Wallet", "redirect_uris": ["https://w.example/cb"]}
        register_client(session, "client-1", "secret-1", metadata, now)
        save_token(
            session,
            {"access_token": "a" * 42, "refresh_token": "r" * 48, "expires_in": 3600},
            client_id="client-1",
            learner_id=learner.id,
            code_id=None,
            now=now - timedelta(minutes=1),
        )
        session.commit()
    return workdir


def bridge(*args: str) -> Result:
    return CliRunner().invoke(main, ["--env-file", "test.env", *args], terminal_width=100)


def test_apps_are_listed_and_one_is_blocked_with_an_audit_row(workdir: Path, engine) -> None:  # type: ignore[no-untyped-def]
    listed = bridge("apps", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert (row["client_id"], row["name"], row["learners"], row["blocked_at"]) == (
        "client-1",
        "Pocket Wallet",
        1,
        None,
    )
    blocked = bridge("apps", "block", "client-1", "--reason", "leaked secret", "--by", "ops")
    assert blocked.exit_code == 0, blocked.output
    assert "blocked client-1" in blocked.output
    with unit_of_work(engine) as session:
        (token,) = session.exec(select(WalletToken)).all()
        assert token.revoked_at is not None
        (audit,) = session.exec(select(AuditEvent)).all()
        assert (audit.action, audit.operator, audit.reason, audit.subject) == (
            "wallet_client.block",
            "ops",
            "leaked secret",
            "wallet_client:client-1",
        )
    again = bridge("apps", "block", "client-1")
    assert again.exit_code == 1
    assert len(again.output.strip().splitlines()) == 1 and "blocked already" in again.output
    text = bridge("apps")
    assert "Pocket Wallet" in text.output and "blocked" in text.output
