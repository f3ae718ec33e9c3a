"""`bridge credits grant|revoke` go through the manual-credits service and leave an audit row;
`bridge audit` reads the trail back as a table, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bridge.cli.main import main
from bridge.services.orders import process_order
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, LedgerEntry
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts


def bridge(env, *args, input=None, **extra):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        main,
        ["--env-file", "/dev/null", *args],
        env={**env, **extra},
        terminal_width=100,
        input=input,
    )


@pytest.fixture
def alice(engine, settings):  # type: ignore[no-untyped-def]
    """Alice (learner of order 300) holds a 3 h pack and the complimentary call."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    process_order(
        engine,
        make_order(300, [("MENTOR-PACK-3H", 1)]),
        catalogue=catalogue,
        settings=settings.replace(shop={"url": None}),
    )


GRANT = ("credits", "grant", "alice@example.com", "--type", "mentor_minutes", "--amount", "60")


def test_a_cli_grant_names_bridge_operator_on_the_ledger_and_the_audit_trail(env, alice, engine):
    """BRIDGE_OPERATOR names who runs the command; --by wins over it; refusals leave no row."""
    done = bridge(env, *GRANT, "--reason", "goodwill", BRIDGE_OPERATOR="dana")
    assert done.exit_code == 0, done.output
    assert "by dana" in done.output
    refused = bridge(
        env,
        "credits",
        "revoke",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "9999",
        "--reason",
        "oops",
        "--by",
        "sam",
    )
    assert refused.exit_code == 1 and "--force allows a negative balance" in refused.output
    forced = bridge(
        env,
        "credits",
        "revoke",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "300",
        "--reason",
        "charge-back",
        "--by",
        "sam",
        "--force",
        BRIDGE_OPERATOR="dana",
    )
    assert forced.exit_code == 0, forced.output
    with unit_of_work(engine) as session:
        ledger = session.exec(
            select(LedgerEntry.id, LedgerEntry.actor)
            .where(LedgerEntry.reason == "manual")
            .order_by(LedgerEntry.id)
        ).all()
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
        learner_id = session.exec(select(LedgerEntry.learner_id)).first()
    assert [actor for _, actor in ledger] == ["dana", "sam"]
    assert [(e.operator, e.via, e.action, e.subject, e.reason) for e in events] == [
        ("dana", "cli", "credits.grant", f"learner:{learner_id}", "goodwill"),
        ("sam", "cli", "credits.revoke", f"learner:{learner_id}", "charge-back"),
    ]
    assert events[0].details == {
        "ledger_entry_id": ledger[0][0],
        "credit_type": "mentor_minutes",
        "amount": 60,
        "balance_before": 210,
        "balance_after": 270,
    }
    assert events[1].details and events[1].details["force"] is True
    assert "alice" not in json.dumps([e.details for e in events])  # references, no e-mail

    listed = bridge(env, "audit", "--action", "credits", "--json")
    assert [row["operator"] for row in json.loads(listed.output)] == ["sam", "dana"]
    assert json.loads(bridge(env, "audit", "--by", "dana", "--json").output)[0]["reason"] == (
        "goodwill"
    )
    shown = bridge(env, "audit")
    assert "credits.revoke" in shown.output and "charge-back" in shown.output
    exported = bridge(env, "audit", "--csv")
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert list(rows[0]) == [
        "id",
        "at",
        "operator",
        "via",
        "action",
        "subject",
        "reason",
        "details",
    ]
    assert [row["action"] for row in rows] == ["credits.revoke", "credits.grant"]
    assert bridge(env, "audit", "--since", "2020-13-01").exit_code == 2


def test_bridge_learners_filters_sorts_and_exports_csv(env, alice, engine) -> None:  # type: ignore[no-untyped-def]
    """--balance, --sort and --csv: the CSV has the JSON's columns and every matching row."""
    bridge(env, *GRANT, "--reason", "gift", "--by", "dana")
    bridge(
        env,
        "credits",
        "grant",
        "zed@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "5",
        "--reason",
        "raffle",
        "--by",
        "dana",
    )
    rows = json.loads(bridge(env, "learners", "--balance", "--sort", "email", "--json").output)
    assert [row["email"] for row in rows] == ["alice@example.com", "zed@example.com"]
    exported = bridge(env, "learners", "--sort", "balance", "--csv")
    table = list(csv.DictReader(io.StringIO(exported.output)))
    assert [row["email"] for row in table] == ["alice@example.com", "zed@example.com"]
    assert list(table[0])[:3] == ["id", "email", "name"]
    assert bridge(env, "learners", "--waitlisted", "--json").output.strip() == "[]"


def test_tokens_operators_and_retries_by_cli_are_audited(env, engine) -> None:  # type: ignore[no-untyped-def]
    """Each operator action of the CLI leaves its row: tokens, operators, retries."""
    assert (
        bridge(
            env, "tokens", "create", "calcom", "--scope", "redeem", BRIDGE_OPERATOR="dana"
        ).exit_code
        == 0
    )
    assert bridge(env, "tokens", "revoke", "calcom", BRIDGE_OPERATOR="dana").exit_code == 0
    added = bridge(
        env,
        "operators",
        "add",
        "helper@example.com",
        "--password-stdin",
        "--role",
        "viewer",
        input="a-long-password-1\n",
        BRIDGE_OPERATOR="dana",
    )
    assert added.exit_code == 0, added.output
    assert (
        bridge(env, "operators", "remove", "helper@example.com", BRIDGE_OPERATOR="dana").exit_code
        == 0
    )
    assert bridge(env, "outbox", "retry", "--all", BRIDGE_OPERATOR="dana").exit_code == 0
    rows = json.loads(bridge(env, "audit", "--by", "dana", "--json").output)
    assert [(row["action"], row["subject"]) for row in reversed(rows)] == [
        ("token.create", "token:calcom"),
        ("token.revoke", "token:calcom"),
        ("operator.add", "operator:helper@example.com"),
        ("operator.remove", "operator:helper@example.com"),
        ("outbox.retry", "outbox:dead"),
    ]
