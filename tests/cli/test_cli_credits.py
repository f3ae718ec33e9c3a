"""`bridge tokens` and `bridge credits redeem|refund`, through click's test runner on SQLite."""

from __future__ import annotations

import json

import pytest

from bridge.settings import Settings
from tests.support.redemptions import ContractClient, balance_of, fund, sqlite_only
from webhooks import create_app

pytestmark = sqlite_only


def test_a_created_token_is_printed_once_and_works_on_the_api(bridge, engine, database_url):
    """`tokens create` prints the token; `tokens` lists it without it; the API accepts it."""
    created = bridge("tokens", "create", "booking-tool", "--scope", "write", "--json")
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)["token"]
    listed = bridge("tokens")
    assert "booking-tool" in listed.stdout and "write" in listed.stdout
    assert token not in listed.stdout and token not in bridge("tokens", "list", "--json").stdout
    fund(engine)
    client = ContractClient(
        create_app(
            Settings().replace(
                database={"url": database_url},
            ),
            engine,
        ),
        token,
    )
    assert client.learner("alice@example.com").status_code == 200


def test_a_revoked_token_is_refused_and_its_name_may_be_reused(bridge, engine, database_url):
    """`tokens revoke` makes the API answer 401; a new token may then take the same name."""
    token = json.loads(bridge("tokens", "create", "t", "--scope", "read", "--json").stdout)["token"]
    assert bridge("tokens", "revoke", "t").exit_code == 0
    client = ContractClient(
        create_app(
            Settings().replace(
                database={"url": database_url},
            ),
            engine,
        ),
        token,
    )
    assert client.learner("alice@example.com").status_code == 401
    assert bridge("tokens", "create", "t", "--scope", "read").exit_code == 0
    assert "revoked" in bridge("tokens").stdout


def test_token_mistakes_are_one_human_line(bridge):
    """A duplicate active name or revoking an unknown name fails with one line, no traceback."""
    bridge("tokens", "create", "t", "--scope", "read")
    for args in (("tokens", "create", "t", "--scope", "write"), ("tokens", "revoke", "nope")):
        result = bridge(*args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_redeem_and_refund_from_the_command_line(bridge, engine):
    """Redeem debits once per booking and says what is left; refund credits back once."""
    fund(engine)
    result = bridge(
        "credits",
        "redeem",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "60",
        "--reference",
        "BOOKING-7",
        "--mentor",
        "Ada",
    )
    assert result.exit_code == 0, result.output
    assert "redeemed 1 h of mentor time" in result.stdout and "4 h left" in result.stdout
    again = bridge(
        "credits",
        "redeem",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "60",
        "--reference",
        "BOOKING-7",
        "--mentor",
        "Ada",
        "--json",
    )
    assert json.loads(again.stdout)["replayed"] is True
    assert balance_of(engine, "alice@example.com") == 240
    refund = bridge("credits", "refund", "1", "--json")
    assert json.loads(refund.stdout)["refunded_now"] is True
    assert "nothing credited again" in bridge("credits", "refund", "1").stdout
    assert balance_of(engine, "alice@example.com") == 300


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("bob@example.com", "--type", "mentor_minutes", "--amount", "60"), "no learner"),
        (("alice@example.com", "--type", "mentor_minutes", "--amount", "301"), "balance is 300"),
        (("alice@example.com", "--type", "mentor_minutes", "--amount", "0"), "amount"),
        (("alice@example.com", "--type", "gold_coins", "--amount", "60"), "credit_type"),
    ],
)
def test_redeem_failures_are_one_human_line_and_spend_nothing(bridge, engine, args, words):
    """Unknown learner, short balance, zero amount, unknown type: one line, exit 1, no debit."""
    fund(engine)
    result = bridge("credits", "redeem", *args, "--reference", "B-1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and words in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert balance_of(engine, "alice@example.com") == 300


def test_refund_of_an_unknown_redemption_is_one_human_line(bridge):
    """`credits refund 99` fails with one line naming the id."""
    result = bridge("credits", "refund", "99")
    assert result.exit_code == 1 and "99" in result.stderr
