"""API token scopes (redeem, refunds, events, read, privacy; write as before) and idempotency
keys that belong to one token, on both databases; every answer checked against the contract."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result
from sqlalchemy import Engine, func
from sqlmodel import select

from bridge.services.bookings import redeem_in_transaction, sent_key, token_key
from bridge.services.operations import TokenError, parse_scopes
from bridge.services.operations.api_tokens import granted
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import ApiToken, OutcomeEvent, Redemption
from tests.support.redemptions import ContractClient, balance_of, fund, make_token
from tests.support.report import store_offers
from webhooks import create_app

pytestmark = pytest.mark.both_databases

REDEEM = {
    "learner": "alice@example.com",
    "credit_type": "mentor_minutes",
    "amount": 60,
    "reference": "BOOKING-1",
}
EVENT = {
    "kind": "project_submitted",
    "learner": "alice@example.com",
    "sku": "PROJ-DATAVIZ",
    "occurred_at": "2026-10-28T11:00:00+01:00",
}

Clients = Callable[[str, str], ContractClient]


@pytest.fixture
def client_with(engine: Engine, database_url: str) -> Clients:
    """A contract-checking client holding a new token NAME with SCOPE; alice holds 300 minutes."""
    fund(engine)
    store_offers(engine)
    app = create_app(Settings().replace(database={"url": database_url}), engine)

    def make(name: str, scope: str) -> ContractClient:
        return ContractClient(app, make_token(engine, name, scope))

    return make


def post_event(client: ContractClient, body: dict[str, object], key: str):  # type: ignore[no-untyped-def]
    return client.request("POST", "/api/v1/events", json=body, headers={"Idempotency-Key": key})


def count(engine: Engine, model: type) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_redeem_token_redeems_but_may_not_record_events_refund_or_read(
    client_with: Clients, engine: Engine
) -> None:
    """A booking tool's redeem token spends credits; events, refunds and reading are 403 JSON
    naming the scope it lacks, and write nothing."""
    booking_tool = client_with("booking-tool", "redeem")
    spent = booking_tool.redeem(REDEEM, key="b-1")
    assert spent.status_code == 201
    for response, scope in (
        (post_event(booking_tool, EVENT, "e-1"), "events"),
        (booking_tool.refund(spent.get_json()["id"]), "refunds"),
        (booking_tool.learner("alice@example.com"), "read"),
    ):
        assert response.status_code == 403
        assert response.get_json()["code"] == "forbidden"
        assert response.get_json()["scope"] == scope
        assert f"needs scope {scope}" in response.get_json()["error"]
    assert count(engine, OutcomeEvent) == 0
    assert balance_of(engine, "alice@example.com") == 240


def test_an_events_token_records_events_but_may_not_spend_credits(
    client_with: Clients, engine: Engine
) -> None:
    """A project platform's events token: 201 for an event, 403 naming redeem for a redemption."""
    platform = client_with("project-platform", "events")
    assert post_event(platform, EVENT, "e-1").status_code == 201
    refused = platform.redeem(REDEEM, key="b-1")
    assert refused.status_code == 403 and refused.get_json()["scope"] == "redeem"
    assert count(engine, Redemption) == 0
    assert balance_of(engine, "alice@example.com") == 300


def test_scopes_combine_and_a_refunds_token_refunds_any_redemption(
    client_with: Clients, engine: Engine
) -> None:
    """redeem,read spends and looks up; a refunds token credits back whoever spent."""
    booking_tool = client_with("booking-tool", "redeem,read")
    spent = booking_tool.redeem(REDEEM, key="b-1").get_json()
    assert booking_tool.learner("alice@example.com").status_code == 200
    desk = client_with("refund-desk", "refunds")
    assert desk.refund(spent["id"]).status_code == 200
    assert desk.redeem(REDEEM, key="b-2").status_code == 403
    assert balance_of(engine, "alice@example.com") == 300


def test_a_write_token_still_does_everything_it_did(client_with: Clients, engine: Engine) -> None:
    """write: redeem (replayed for its key), refund, record events and read, as before."""
    writer = client_with("old-tool", "write")
    first = writer.redeem(REDEEM, key="w-1")
    again = writer.redeem(REDEEM, key="w-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert writer.refund(first.get_json()["id"]).status_code == 200
    assert post_event(writer, EVENT, "w-2").status_code == 201
    assert writer.learner("alice@example.com").status_code == 200
    assert balance_of(engine, "alice@example.com") == 300


def test_a_privacy_token_exports_and_nothing_else_and_write_does_not_export(
    client_with: Clients,
) -> None:
    """privacy opens the export and erasure API only; write (all a token could do before)
    does not include it."""
    keeper = client_with("privacy-desk", "privacy")
    assert keeper.learner("alice@example.com").status_code == 403
    assert keeper.redeem(REDEEM, key="p-1").status_code == 403
    assert post_event(keeper, EVENT, "p-2").status_code == 403
    assert keeper.request("GET", "/api/v1/learners/alice@example.com/export").status_code == 200
    writer = client_with("old-tool", "write")
    denied = writer.request("GET", "/api/v1/learners/alice@example.com/export")
    assert denied.status_code == 403 and denied.get_json()["scope"] == "privacy"


def test_one_key_from_two_tokens_is_two_redemptions_each_replayed_to_its_own_token(
    client_with: Clients, engine: Engine
) -> None:
    """The same Idempotency-Key from two tokens spends twice; each token's repeat replays its
    own answer, and neither token is refused for the other's use of the key."""
    cal, calendly = client_with("cal-com", "redeem"), client_with("calendly", "redeem")
    first = cal.redeem(REDEEM, key="booking-42")
    second = calendly.redeem({**REDEEM, "amount": 30}, key="booking-42")
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]
    assert balance_of(engine, "alice@example.com") == 300 - 60 - 30
    assert cal.redeem(REDEEM, key="booking-42").get_json() == first.get_json()
    assert (
        calendly.redeem({**REDEEM, "amount": 30}, key="booking-42").get_json() == second.get_json()
    )
    assert count(engine, Redemption) == 2
    with unit_of_work(engine) as session:
        keys = sorted(session.exec(select(Redemption.idempotency_key)).all())
    assert keys == ["token cal-com booking-42", "token calendly booking-42"]


def test_one_key_from_two_tokens_is_two_events_shown_with_the_key_as_sent(
    client_with: Clients, engine: Engine
) -> None:
    """Events too: two tokens, one key, two events; each answer shows the key as it was sent."""
    lms, platform = client_with("lms", "events"), client_with("platform", "events")
    first = post_event(lms, EVENT, "lesson-7")
    second = post_event(platform, {**EVENT, "kind": "project_started"}, "lesson-7")
    assert first.status_code == second.status_code == 201
    assert first.get_json()["key"] == second.get_json()["key"] == "lesson-7"
    assert first.get_json()["id"] != second.get_json()["id"]
    assert post_event(lms, EVENT, "lesson-7").headers["Idempotent-Replayed"] == "true"
    assert post_event(lms, {**EVENT, "kind": "interview"}, "lesson-7").status_code == 422
    assert count(engine, OutcomeEvent) == 2


def test_a_key_stored_before_keys_were_per_token_is_still_replayed_not_spent_again(
    client_with: Clients, engine: Engine
) -> None:
    """A redemption stored under the bare key (before this version, or by the CLI) is the
    answer to a token's retry with that key: nothing is spent twice across the upgrade."""
    earlier = redeem_in_transaction(engine, REDEEM, "retried-after-upgrade")
    retry = client_with("booking-tool", "redeem").redeem(REDEEM, key="retried-after-upgrade")
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["id"] == earlier.body["id"]
    assert balance_of(engine, "alice@example.com") == 240


def test_a_report_token_may_travel_in_an_address_only_when_it_can_only_read(
    client_with: Clients, engine: Engine
) -> None:
    """?token= works for a read token; a token that can also redeem (or later export data) is
    refused there, and works from the Authorization header."""
    app = client_with("phone", "read").client.application
    web = app.test_client()
    phone = make_token(engine, "phone-2", "read")
    assert web.get(f"/report?token={phone}").status_code == 200
    for scope in ("read,redeem", "read,privacy", "write"):
        token = make_token(engine, f"tool-{scope.replace(',', '-')}", scope)
        assert web.get(f"/report?token={token}").status_code == 403
        assert web.get("/report", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_scope_names_are_checked_ordered_and_aliases_expanded(database_url: str) -> None:
    """Comma lists and repeats are one set in a fixed order; write covers its four scopes."""
    assert parse_scopes(["refunds,redeem", "redeem"]) == "redeem,refunds"
    assert parse_scopes(["write", "redeem"]) == "write"
    assert parse_scopes(["privacy, write"]) == "privacy,write"
    assert granted("write") == {"read", "redeem", "refunds", "events"}
    assert granted("redeem,privacy") == {"redeem", "privacy"}
    for bad in (["admin"], [""], [","], ["read,delete"]):
        with pytest.raises(TokenError, match="scope must be one or more of read, redeem"):
            parse_scopes(bad)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_token_key_is_the_sent_key_with_the_token_name_and_fits_the_column(
    database_url: str,
) -> None:
    """Short keys are readable; a key too long with its prefix is stored by its SHA-256."""
    assert token_key("k-1", "booking-tool") == "token booking-tool k-1"
    assert token_key("k-1", None) == "k-1"
    assert sent_key("token booking-tool k-1") == "k-1" and sent_key("cli:x") == "cli:x"
    long = token_key("k" * 128, "n" * 64)
    assert len(long) <= 128 and long.startswith("token " + "n" * 64 + " sha256 ")
    assert sent_key(long) == long


def test_tokens_create_takes_repeated_or_comma_scopes_and_tokens_lists_them(
    bridge: Callable[..., Result], engine: Engine
) -> None:
    """`--scope redeem --scope refunds` and `--scope redeem,refunds` make the same token; the
    list shows the scopes; an unknown scope is one line naming the known ones."""
    made = bridge(
        "tokens", "create", "cal-com", "--scope", "redeem", "--scope", "refunds", "--json"
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["scopes"] == ["redeem", "refunds"]
    assert bridge("tokens", "create", "calendly", "--scope", "redeem,refunds").exit_code == 0
    listed = bridge("tokens").stdout
    assert "cal-com   redeem,refunds" in listed and "calendly  redeem,refunds" in listed
    wrong = bridge("tokens", "create", "x", "--scope", "redeem,admin")
    assert wrong.exit_code == 2
    assert (
        "scope must be one or more of read, redeem, refunds, events, privacy, write" in wrong.output
        and "'admin'" in wrong.output
    )
    assert "Traceback" not in wrong.output
    with unit_of_work(engine) as session:
        assert sorted(session.exec(select(ApiToken.scope)).all()) == ["redeem,refunds"] * 2
