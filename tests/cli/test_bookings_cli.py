"""`bridge bookings`, the learner view and API with bookings, health, and the Calendly set-up."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from bridge.rules.words import duration
from tests.support.bookings import (
    LENA,
    LINK_SECRET,
    SECRET,
    booking_app,
    calcom_variant,
    link_token,
    post_calcom,
)
from tests.support.redemptions import ContractClient, fund, make_token

API = "https://api.calendly.com"
ME = f"{API}/users/me"
HOOKS = f"{API}/webhook_subscriptions"
USER = f"{API}/users/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ORG = f"{API}/organizations/0f1e2d3c-4b5a-4697-8877-665544332211"


@pytest.fixture
def bridge_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`bridge` runs on the test database with the booking keys and a public URL set, and no
    Calendly token of the environment."""
    monkeypatch.delenv("CALENDLY_TOKEN", raising=False)
    return {
        "DATABASE_URL": database_url,
        "BRIDGE_PUBLIC_URL": "https://bridge.example.com",
        "BRIDGE_CALENDLY_SIGNING_KEY": SECRET,
        "BRIDGE_CALCOM_WEBHOOK_SECRET": SECRET,
    }


@pytest.fixture
def booked(engine, settings):
    """Lena's debited call and an unfunded one (through her link), a stranger's booking, and
    one that only types Lena's e-mail (held for review)."""
    fund(engine, LENA, customer_id=3187)
    token = link_token(engine, LENA)
    client = booking_app(engine, settings).test_client()
    post_calcom(client, calcom_variant("calcom_booking_created", token=token))
    post_calcom(
        client, calcom_variant("calcom_booking_created", uid="too-long", length=600, token=token)
    )
    post_calcom(
        client,
        calcom_variant(
            "calcom_booking_created", uid="stranger", email="stranger@example.com", metadata={}
        ),
    )
    post_calcom(client, calcom_variant("calcom_booking_created", uid="typed-email", length=30))
    return client


def test_bridge_bookings_lists_debited_unfunded_held_and_unknown_bookings(bridge, booked):
    """The list names each state and its id; --status filters; --json is machine-readable."""
    result = bridge("bookings")
    assert result.exit_code == 0, result.output
    assert "debited" in result.output and "1 h of mentor time" in result.output
    assert "unfunded" in result.output and "not enough mentor_minutes" in result.output
    assert "unknown_learner" in result.output and "stranger@example.com" in result.output
    assert "#4" in result.output and "held_for_review" in result.output
    assert "only the attendee's e-mail names lena.fischer@example.com" in result.output
    assert "needs you: 1 held_for_review, 1 unfunded, 1 unknown_learner" in result.output
    only = json.loads(bridge("bookings", "--status", "unfunded", "--json").output)
    assert [row["status"] for row in only["bookings"]] == ["unfunded"]
    assert only["counts"]["debited"] == 1 and only["counts"]["unknown_learner"] == 1
    held = json.loads(bridge("bookings", "--status", "held_for_review", "--json").output)
    assert [(row["id"], row["matched_by"], row["amount"]) for row in held["bookings"]] == [
        (4, "email", 30)
    ]
    refused = bridge("bookings", "--status", "lost")
    assert refused.exit_code == 2 and "Traceback" not in refused.output


def test_the_learner_view_and_the_api_list_the_learners_bookings(bridge, booked, engine, settings):
    """`bridge learner` and GET /api/v1/learners/<ref> show the bookings, as the contract says."""
    shown = bridge("learner", LENA)
    assert shown.exit_code == 0, shown.output
    assert "bookings:" in shown.output and "with marco.rossi@example.com" in shown.output
    assert "booking link: made 20" in shown.output and f"bookings link {LENA}" in shown.output
    data = json.loads(bridge("learner", LENA, "--json").output)
    assert sorted(row["status"] for row in data["bookings"]) == [
        "debited",
        "held_for_review",
        "unfunded",
    ]
    api = ContractClient(booking_app(engine, settings), make_token(engine, "console", "read"))
    response = api.learner(LENA)
    assert response.status_code == 200
    assert {row["booking"] for row in response.get_json()["bookings"]} == {
        "k3Hq8vN2pXc5RtY7wL9mZa",
        "too-long",
        "typed-email",
    }


def test_the_health_endpoint_counts_unfunded_held_and_unknown_bookings(booked):
    """/healthz says how many bookings wait for the creator."""
    body = booked.get("/healthz").get_json()
    assert body["bookings"]["unfunded"] == 1 and body["bookings"]["unknown_learner"] == 1
    assert body["bookings"]["debited"] == 1 and body["bookings"]["held_for_review"] == 1


def _me():
    return {
        "resource": {
            "uri": USER,
            "current_organization": ORG,
            "email": "marco.rossi@example.com",
            "name": "Marco Rossi",
        }
    }


def _subscription(state="active"):
    return {
        "uri": f"{API}/webhook_subscriptions/7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "callback_url": "https://bridge.example.com/webhooks/calendly",
        "created_at": "2026-12-02T02:30:00.000000Z",
        "updated_at": "2026-12-02T02:30:00Z",
        "retry_started_at": None,
        "state": state,
        "events": [
            "invitee.created",
            "invitee.canceled",
            "invitee_no_show.created",
            "invitee_no_show.deleted",
        ],
        "scope": "organization",
        "organization": ORG,
        "user": None,
        "creator": USER,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_install_calendly_creates_the_subscription_with_the_signing_key(bridge):
    """POST /webhook_subscriptions with the URL, the four invitee events and the signing key."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as calendly:
        calendly.get(
            ME, json=_me(), match=[matchers.header_matcher({"Authorization": "Bearer pat-test"})]
        )
        calendly.get(
            HOOKS,
            json={"collection": [], "pagination": {"next_page": None}},
            match=[matchers.query_param_matcher({"organization": ORG, "scope": "organization"})],
        )
        calendly.post(
            HOOKS,
            status=201,
            json={"resource": _subscription()},
            match=[
                matchers.json_params_matcher(
                    {
                        "url": "https://bridge.example.com/webhooks/calendly",
                        "events": [
                            "invitee.created",
                            "invitee.canceled",
                            "invitee_no_show.created",
                            "invitee_no_show.deleted",
                        ],
                        "organization": ORG,
                        "scope": "organization",
                        "signing_key": SECRET,
                    }
                )
            ],
        )
        result = bridge("bookings", "install", "calendly", CALENDLY_TOKEN="pat-test")
    assert result.exit_code == 0, result.output
    assert "Calendly subscription created" in result.output
    assert SECRET not in result.output and "pat-test" not in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_install_calendly_keeps_an_active_subscription_and_recreates_a_disabled_one(bridge):
    """Active: left alone (its key cannot be read back); disabled: deleted and created again."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as calendly:
        calendly.get(ME, json=_me())
        calendly.get(HOOKS, json={"collection": [_subscription()], "pagination": {}})
        kept = bridge("bookings", "install", "calendly", "--json", CALENDLY_TOKEN="pat-test")
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["action"] == "exists"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as calendly:
        calendly.get(ME, json=_me())
        calendly.get(HOOKS, json={"collection": [_subscription("disabled")], "pagination": {}})
        calendly.delete(_subscription()["uri"], status=204)
        calendly.post(HOOKS, status=201, json={"resource": _subscription()})
        again = bridge(
            "bookings", "install", "calendly", "--token-stdin", "--json", input="pat-test\n"
        )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["action"] == "replaced"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_install_calendly_explains_a_refused_token_in_one_line(bridge):
    """401 from Calendly: one error line, exit 1, no traceback, no token echoed."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as calendly:
        calendly.get(
            ME,
            status=401,
            json={"title": "Unauthenticated", "message": "The access token is invalid"},
        )
        result = bridge("bookings", "install", "calendly", CALENDLY_TOKEN="pat-bad")
    assert result.exit_code == 1
    assert result.output.startswith("error: the token was refused")
    assert "Traceback" not in result.output and "pat-bad" not in result.output
    missing = bridge("bookings", "install", "calendly", BRIDGE_CALENDLY_SIGNING_KEY="")
    assert missing.exit_code == 1 and "CALENDLY_TOKEN" in missing.output
    assert "--token-stdin" in missing.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_install_calendly_refuses_a_token_on_the_command_line_and_calls_nobody(bridge):
    """--token PAT would sit in ps and the shell's history: one line says how instead, and
    Calendly is not called (responses would refuse any request)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        for args in (["--token", "pat-secret"], ["--token=pat-secret"]):
            result = bridge("bookings", "install", "calendly", *args, CALENDLY_TOKEN="pat-env")
            assert result.exit_code == 1, result.output
            assert result.output.count("\n") == 1 and result.output.startswith("error: ")
            assert "CALENDLY_TOKEN" in result.output and "--token-stdin" in result.output
            assert "pat-secret" not in result.output
        empty = bridge("bookings", "install", "calendly", "--token-stdin", input="\n")
    assert empty.exit_code == 1 and "no token on standard input" in empty.output
    assert "--token " not in bridge("bookings", "install", "--help").output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_install_calcom_prints_the_url_triggers_and_where_the_secret_goes(bridge):
    """Cal.com is set up by hand: the command says what to enter where."""
    result = bridge("bookings", "install", "calcom")
    assert result.exit_code == 0, result.output
    assert "Settings > Developer > Webhooks" in result.output
    assert "https://bridge.example.com/webhooks/calcom" in result.output
    assert "BOOKING_CREATED" in result.output and SECRET not in result.output


def test_bridge_bookings_approve_debits_once_and_reject_debits_nothing(bridge, booked, engine):
    """approve ID: the held 30 minutes are debited, once; reject ID of another held booking:
    nothing; each says what it did in one line, and a refused review is one error line."""
    from tests.support.redemptions import balance_of

    start = balance_of(engine, LENA)
    approved = bridge("bookings", "approve", "4", "--by", "ops@example.com")
    assert approved.exit_code == 0, approved.output
    assert approved.output == (
        f"booking #4 approved: 30 min of mentor time debited from "
        f"{LENA}; balance now {duration(start - 30)}\n"
    )
    again = bridge("bookings", "approve", "4", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["action"] == "already approved"
    assert balance_of(engine, LENA) == start - 30
    refused = bridge("bookings", "reject", "4")
    assert refused.exit_code == 1
    assert refused.output.startswith("error: booking #4 was already approved by ops@example.com")
    client = booked
    post_calcom(client, calcom_variant("calcom_booking_created", uid="typed-again", length=15))
    rejected = bridge("bookings", "reject", "5", "--reason", "not Lena's", "--json")
    assert rejected.exit_code == 0, rejected.output
    data = json.loads(rejected.output)
    assert data["status"] == "rejected" and data["note"].endswith("not Lena's")
    assert balance_of(engine, LENA) == start - 30
    for args, named in (
        (["--reason", "a\x00b"], "the reason holds a NUL character"),
        (["--by", "ops\udcff"], "the reviewer's name holds a lone surrogate"),
    ):
        odd = bridge("bookings", "reject", "5", *args)
        assert odd.exit_code == 1 and odd.output == f"error: {named}; type it again\n"
    missing = bridge("bookings", "approve", "99")
    assert missing.exit_code == 1 and missing.output == "error: no booking has id 99\n"
    unknown = bridge("bookings", "approve", "3")
    assert unknown.exit_code == 1 and "unknown_learner, not held for review" in unknown.output


def test_bridge_bookings_link_shows_rotates_and_revokes_a_learners_link(bridge, booked):
    """link EMAIL: the same token each time (made once), with --page the full links; --rotate
    a new one; --revoke ends it; no BRIDGE_CLAIM_SECRET: one line naming it."""
    first = json.loads(
        bridge("bookings", "link", LENA, "--json", BRIDGE_CLAIM_SECRET=LINK_SECRET).output
    )
    token = link_token_of(first)
    assert first["parameters"] == {
        "calcom": f"metadata[booking_token]={token}",
        "calendly": f"utm_content={token}",
    }
    shown = bridge(
        "bookings",
        "link",
        "3187",
        "--page",
        "https://cal.com/marco/call?month=2026-12",
        "--page",
        "https://calendly.com/marco/call",
        BRIDGE_CLAIM_SECRET=LINK_SECRET,
    )
    assert shown.exit_code == 0, shown.output
    assert (
        f"https://cal.com/marco/call?month=2026-12&metadata[booking_token]={token}" in shown.output
    )
    assert f"https://calendly.com/marco/call?utm_content={token}" in shown.output
    rotated = json.loads(
        bridge(
            "bookings", "link", LENA, "--rotate", "--json", BRIDGE_CLAIM_SECRET=LINK_SECRET
        ).output
    )
    assert link_token_of(rotated) != token
    listed = bridge("bookings", "links", BRIDGE_CLAIM_SECRET=LINK_SECRET)
    assert listed.output == f"{LENA}\t{link_token_of(rotated)}\n"
    revoked = bridge("bookings", "link", LENA, "--revoke", BRIDGE_CLAIM_SECRET=LINK_SECRET)
    assert revoked.output == f"booking link of {LENA} revoked\n"
    assert "booking link: none yet" in bridge("learner", LENA).output
    assert (
        bridge("bookings", "links", "--json", BRIDGE_CLAIM_SECRET=LINK_SECRET).output.strip()
        == "[]"
    )
    made = json.loads(
        bridge(
            "bookings", "links", "--create-missing", "--json", BRIDGE_CLAIM_SECRET=LINK_SECRET
        ).output
    )
    assert [row["email"] for row in made] == [LENA]
    no_secret = bridge("bookings", "link", LENA)
    assert no_secret.exit_code == 1
    assert no_secret.output.startswith("error: BRIDGE_CLAIM_SECRET is not set")
    odd = bridge("bookings", "link", "lena\x00@example.com", BRIDGE_CLAIM_SECRET=LINK_SECRET)
    assert odd.exit_code == 1 and "holds a NUL character" in odd.output
    nobody = bridge("bookings", "link", "nobody@example.com", BRIDGE_CLAIM_SECRET=LINK_SECRET)
    assert nobody.exit_code == 1 and "no learner 'nobody@example.com'" in nobody.output


def link_token_of(data: dict) -> str:
    token = data["token"]
    assert isinstance(token, str) and token.startswith("bk-") and len(token) == 29
    return token
