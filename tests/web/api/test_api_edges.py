"""The HTTP edges of /api/v1 (auth, validation, not found); responses checked against OpenAPI.

These exercise request handling, not the database, so they run once; the behaviour that depends on
the database (locking, idempotency, refunds) is in test_api_redemptions.py on both databases.
"""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from bridge.services.operations import revoke_token
from bridge.store.db import unit_of_work
from bridge.store.models import ApiToken
from tests.support.redemptions import (
    ContractClient,
    fund,
    make_token,
    sqlite_only,
    written_rows,
)

BODY = {
    "learner": "alice@example.com",
    "credit_type": "mentor_minutes",
    "amount": 60,
    "reference": "BOOKING-1",
    "mentor": "Ada",
}


pytestmark = sqlite_only


@pytest.fixture
def reader(app, engine):
    return ContractClient(app, make_token(engine, "dashboard", "read"))


@pytest.mark.parametrize("path", ["999", "2147483648"])
def test_delete_of_an_unknown_redemption_answers_404(writer, path):
    """No redemption with that id, however large, is 404."""
    assert writer.refund(path).status_code == 404


@pytest.mark.parametrize("path", ["abc", "0", "-3"])
def test_delete_with_a_malformed_id_answers_400_naming_it(writer, path):
    """An id that is not a positive whole number is 400 naming redemption_id."""
    response = writer.refund(path)
    assert response.status_code == 400
    assert response.get_json()["field"] == "redemption_id"


def test_requests_without_a_token_answer_401_with_a_challenge(app, engine):
    """No Authorization header, another scheme, or an unknown token: 401 and WWW-Authenticate."""
    fund(engine)
    anonymous = ContractClient(app)
    before = written_rows(engine)
    assert anonymous.redeem(BODY).status_code == 401
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert anonymous.redeem(BODY, headers=basic).status_code == 401
    assert anonymous.redeem(BODY, token="cb_" + "not-a-real-token").status_code == 401
    assert anonymous.learner("alice@example.com").status_code == 401
    assert anonymous.refund(1).status_code == 401
    assert written_rows(engine) == before


def test_a_revoked_token_answers_401(app, engine):
    """A token stops working as soon as it is revoked."""
    fund(engine)
    client = ContractClient(app, make_token(engine, "old", "read"))
    assert client.learner("alice@example.com").status_code == 200
    with unit_of_work(engine) as session:
        revoke_token(session, "old")
        session.commit()
    assert client.learner("alice@example.com").status_code == 401


def test_a_read_token_may_look_up_but_not_redeem_or_refund(engine, reader):
    """Scope read gets 200 on GET and 403 on POST and DELETE, with nothing written."""
    fund(engine)
    before = written_rows(engine)
    assert reader.learner("alice@example.com").status_code == 200
    assert reader.redeem(BODY).status_code == 403
    assert reader.refund(1).status_code == 403
    assert written_rows(engine) == before


def test_tokens_are_stored_hashed_and_never_logged(app, engine, caplog):
    """The database holds only the SHA-256 of a token, and no log line carries the token."""
    fund(engine)
    token = make_token(engine, "secretive", "write")
    caplog.set_level(logging.DEBUG)
    ContractClient(app, token).redeem(BODY)
    with unit_of_work(engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == "secretive")).one()
        assert token not in row.token_hash and len(row.token_hash) == 64
        assert row.last_used_at is not None
    assert token not in caplog.text


@pytest.mark.parametrize(
    ("field", "body", "headers"),
    [
        ("Idempotency-Key", BODY, {}),
        ("Idempotency-Key", BODY, {"Idempotency-Key": "has spaces"}),
        ("body", b"{not json", {"Idempotency-Key": "k"}),
        ("body", b"[1, 2]", {"Idempotency-Key": "k"}),
        ("learner", {k: v for k, v in BODY.items() if k != "learner"}, {"Idempotency-Key": "k"}),
        ("credit_type", {**BODY, "credit_type": "gold_coins"}, {"Idempotency-Key": "k"}),
        ("credit_type", {**BODY, "credit_type": 7}, {"Idempotency-Key": "k"}),
        ("amount", {**BODY, "amount": 0}, {"Idempotency-Key": "k"}),
        ("amount", {**BODY, "amount": -60}, {"Idempotency-Key": "k"}),
        ("amount", {**BODY, "amount": 1.5}, {"Idempotency-Key": "k"}),
        ("amount", {**BODY, "amount": "60"}, {"Idempotency-Key": "k"}),
        ("reference", {**BODY, "reference": ""}, {"Idempotency-Key": "k"}),
        ("mentor", {**BODY, "mentor": "x" * 201}, {"Idempotency-Key": "k"}),
        ("amuont", {**BODY, "amuont": 60}, {"Idempotency-Key": "k"}),
    ],
)
def test_bad_requests_answer_400_naming_the_field_and_write_nothing(
    engine, writer, field, body, headers
):
    """Missing or malformed fields, bad JSON, zero or negative amounts and unknown types: 400."""
    before = written_rows(engine)
    payload = (
        {"data": body, "content_type": "application/json"}
        if isinstance(body, bytes)
        else {"json": body}
    )
    response = writer.request("POST", "/api/v1/redemptions", headers=headers, **payload)
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert field in response.get_json()["error"]
    assert written_rows(engine) == before


def test_an_unknown_learner_answers_404_and_writes_nothing(engine, writer):
    """Redeeming for, or looking up, someone the bridge does not know is 404."""
    fund(engine)
    before = written_rows(engine)
    assert writer.redeem({**BODY, "learner": "bob@example.com"}).status_code == 404
    assert writer.learner("bob@example.com").status_code == 404
    assert writer.learner("424242").status_code == 404
    assert written_rows(engine) == before


def test_malformed_learner_references_answer_400(writer):
    """A control character in the e-mail is 400 naming learner, not a database error."""
    response = writer.learner("alice%00@example.com")
    assert response.status_code == 400
    assert response.get_json()["field"] == "learner"


def test_the_openapi_document_is_served_without_a_token(app):
    """GET /api/v1/openapi.json answers the 3.1 document that lists every endpoint."""
    response = ContractClient(app).request("GET", "/api/v1/openapi.json")
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/api/v1/redemptions",
        "/api/v1/redemptions/{redemption_id}",
        "/api/v1/learners/{learner}",
        "/api/v1/learners/{learner}/export",
        "/api/v1/learners/{learner}/erase",
        "/api/v1/events",
        "/api/v1/openapi.json",
    }
