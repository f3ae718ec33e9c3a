"""POST /api/v1/events: token scopes, idempotency and validation, every answer checked against
the OpenAPI document."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from bridge.settings import Settings
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import OutcomeEvent
from tests.support.redemptions import ContractClient, fund, make_token, sqlite_only
from tests.support.report import store_offers
from webhooks import create_app

EVENT = {
    "kind": "project_submitted",
    "learner": "alice@example.com",
    "sku": "PROJ-DATAVIZ",
    "occurred_at": "2026-10-28T11:00:00+01:00",
}


@pytest.fixture
def api(engine, database_url):  # type: ignore[no-untyped-def]
    """A contract-checking client with a write token; alice is a learner, the offers are known."""
    fund(engine)
    store_offers(engine)
    app = create_app(Settings().replace(database={"url": database_url}), engine)
    return ContractClient(app, make_token(engine, "project-platform", "write"))


@pytest.fixture(scope="module")
def shared(sqlite_template, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Like ``api`` on SQLite, made once for the tests that must write nothing."""
    path = tmp_path_factory.mktemp("events-api") / "bridge.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    fund(engine)
    store_offers(engine)
    app = create_app(Settings().replace(database={"url": f"sqlite:///{path}"}), engine)
    yield ContractClient(app, make_token(engine, "project-platform", "write")), engine
    engine.dispose()


def post(api: ContractClient, body: object, key: str | None = "event-1", **kwargs: object):  # type: ignore[no-untyped-def]
    headers = {} if key is None else {"Idempotency-Key": key}
    return api.request("POST", "/api/v1/events", json=body, headers=headers, **kwargs)


def stored(engine) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(OutcomeEvent)).one()


@pytest.mark.both_databases
def test_an_event_is_recorded_once_and_a_repeat_with_its_key_replays_the_answer(api, engine):
    """201 with the event; the same key and body again answers the same, marked replayed."""
    first = post(api, EVENT)
    assert first.status_code == 201
    body = first.get_json()
    assert (body["kind"], body["sku"], body["key"], body["learner"]["email"]) == (
        "project_submitted",
        "PROJ-DATAVIZ",
        "event-1",
        "alice@example.com",
    )
    assert body["occurred_at"] == "2026-10-28T10:00:00+00:00"
    assert "Idempotent-Replayed" not in first.headers
    again = post(api, EVENT)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == body
    assert stored(engine) == 1


@pytest.mark.both_databases
def test_a_key_used_again_for_a_different_event_is_refused_and_changes_nothing(api, engine):
    """422 idempotency_key_reused; the first event stays as it was."""
    assert post(api, EVENT).status_code == 201
    response = post(api, {**EVENT, "kind": "interview"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency_key_reused"
    assert stored(engine) == 1


@sqlite_only
def test_the_learner_named_by_customer_id_is_the_same_event(api, engine):
    """Events are compared by the learner, not by how the request names them."""
    assert post(api, EVENT).status_code == 201
    again = post(api, {**EVENT, "learner": 2})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored(engine) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in EVENT.items() if k != "kind"}, "kind"),
        ({**EVENT, "kind": "graduated"}, "kind"),
        ({**EVENT, "learner": True}, "learner"),
        ({**EVENT, "learner": 0}, "learner"),
        ({**EVENT, "sku": "PROJ DATAVIZ"}, "sku"),
        ({**EVENT, "sku": "NOT-SOLD-HERE"}, "sku"),
        ({**EVENT, "occurred_at": "2026-10-28T10:00:00"}, "occurred_at"),
        ({**EVENT, "occurred_at": "2026-10-28"}, "occurred_at"),
        ({**EVENT, "occurred_at": "2026-02-30T10:00:00Z"}, "occurred_at"),
        ({**EVENT, "occurred_at": 1730109600}, "occurred_at"),
        ({**EVENT, "mentor": "mia"}, "mentor"),
        (["not", "an", "object"], "body"),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field_and_writes_nothing(shared, body, field):
    """Each wrong, missing or extra field answers 400 invalid_request with ``field`` set."""
    api, engine = shared
    response = post(api, body)
    assert response.status_code == 400, response.get_json()
    assert (response.get_json()["code"], response.get_json()["field"]) == ("invalid_request", field)
    assert stored(engine) == 0


def test_an_event_in_the_future_or_without_a_key_or_json_is_refused(shared):
    """A date more than a day ahead, a missing Idempotency-Key and a broken body are 400s."""
    api, engine = shared
    ahead = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert post(api, {**EVENT, "occurred_at": ahead}).get_json()["field"] == "occurred_at"
    assert post(api, EVENT, key=None).get_json()["field"] == "Idempotency-Key"
    broken = api.request(
        "POST",
        "/api/v1/events",
        data=b"{",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert (broken.status_code, broken.get_json()["field"]) == (400, "body")
    assert stored(engine) == 0


def test_an_unknown_learner_is_404(shared):
    """Events are about learners the bridge knows; others answer learner_not_found."""
    api, engine = shared
    response = post(api, {**EVENT, "learner": "nobody@example.com"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "learner_not_found"
    assert stored(engine) == 0


def test_recording_events_needs_a_write_token(shared):
    """No token is 401; a read token is 403; nothing is written either way."""
    api, engine = shared
    assert post(api, EVENT, token="").status_code == 401
    read = make_token(engine, "dashboard", "read")
    response = post(api, EVENT, token=read)
    assert (response.status_code, response.get_json()["code"]) == (403, "forbidden")
    assert stored(engine) == 0
