"""The /api/v1 endpoints over the Flask test client; every response is checked against OpenAPI."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bridge.services.ledger import find_learner
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Offer, Subscription
from tests.support.redemptions import (
    ContractClient,
    balance_of,
    fund,
    make_token,
    sqlite_only,
    written_rows,
)
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts

BODY = {
    "learner": "alice@example.com",
    "credit_type": "mentor_minutes",
    "amount": 60,
    "reference": "BOOKING-1",
    "mentor": "Ada",
}


@sqlite_only
def test_a_redemption_debits_and_answers_201_with_the_balance_left(engine, writer):
    """POST with a covered amount answers 201 with the redemption and 240 minutes left."""
    fund(engine)
    response = writer.redeem(BODY)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["amount"], body["status"], body["balance_after"]) == (60, "active", 240)
    assert body["learner"]["email"] == "alice@example.com"
    assert "Idempotent-Replayed" not in response.headers
    assert balance_of(engine, "alice@example.com") == 240


@sqlite_only
def test_a_short_balance_answers_409_with_the_current_balance(engine, writer):
    """Asking for 301 of 300 minutes is 409 carrying the balance, and nothing is written."""
    fund(engine)
    before = written_rows(engine)
    response = writer.redeem({**BODY, "amount": 301})
    assert response.status_code == 409
    assert response.get_json()["balance"] == 300
    assert response.get_json()["code"] == "insufficient_credits"
    assert written_rows(engine) == before


def test_the_same_idempotency_key_returns_the_first_result_without_debiting_again(engine, writer):
    """A retried POST gets the first body back, marked as a replay, and one debit in all."""
    fund(engine)
    first = writer.redeem(BODY, key="booking-1-try")
    second = writer.redeem(BODY, key="booking-1-try")
    assert second.status_code == 201 and second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert balance_of(engine, "alice@example.com") == 240


@sqlite_only
def test_a_key_reused_for_a_different_request_answers_422(engine, writer):
    """The same key with another amount is refused instead of silently replayed."""
    fund(engine)
    writer.redeem(BODY, key="k")
    response = writer.redeem({**BODY, "amount": 30}, key="k")
    assert response.status_code == 422
    assert balance_of(engine, "alice@example.com") == 240


@sqlite_only
def test_delete_credits_a_redemption_back_once(engine, writer):
    """DELETE refunds; a repeat answers 200 again, marked as a replay, and credits nothing."""
    fund(engine)
    redemption_id = writer.redeem(BODY).get_json()["id"]
    first = writer.refund(redemption_id)
    second = writer.refund(redemption_id)
    assert first.status_code == second.status_code == 200
    assert first.get_json()["status"] == "refunded" and first.get_json()["balance_after"] == 300
    assert second.headers["Idempotent-Replayed"] == "true"
    assert balance_of(engine, "alice@example.com") == 300


def test_the_learner_view_shows_balances_seats_access_perks_and_recent_rows(engine, writer):
    """GET by e-mail or customer id returns balances, a waitlisted seat's place, perks, history."""
    catalogue = sample_catalogue(capacity=1)
    store_cohorts(engine, catalogue)
    config = Settings().replace(orders={"complimentary_call_minutes": 0})
    process_order(
        engine,
        make_order(1, [("COHORT-DV-2027-01", 1)], email="first@example.com", customer_id=7),
        catalogue=catalogue,
        settings=config,
    )
    process_order(
        engine,
        make_order(2, [("COHORT-DV-2027-01", 1), ("PROJ-DATAVIZ", 1), ("MENTOR-PACK-5H", 1)]),
        catalogue=catalogue,
        settings=config,
    )
    with unit_of_work(engine) as session:
        learner = find_learner(session, "alice@example.com")
        session.add(
            Offer(
                sku="SUB-MENTOR-MONTHLY",
                kind="subscription",
                definition={"perks": ["priority job intros"]},
            )
        )
        session.add(
            Subscription(
                id=1300,
                learner_id=learner.id,
                status="active",
                offer_skus=["SUB-MENTOR-MONTHLY"],
                next_payment_gmt=datetime.now(UTC) + timedelta(days=20),
            )
        )
        session.commit()
    writer.redeem(BODY)
    by_email = writer.learner("Alice@Example.com")
    assert by_email.status_code == 200
    view = by_email.get_json()
    assert view == writer.learner(2).get_json()
    assert view["balances"] == {"mentor_minutes": 360 - 60}
    assert [(s["cohort"], s["status"], s["position"]) for s in view["seats"]] == [
        ("DV-2027-01", "waitlisted", 1)
    ]
    assert [(a["kind"], a["offer_sku"], a["current"]) for a in view["access"]] == [
        ("project", "PROJ-DATAVIZ", True)
    ]
    assert view["subscriptions"][0]["perks"] == ["priority job intros"]
    assert [row["amount"] for row in view["recent_ledger"]][:1] == [-60]
    assert view["recent_redemptions"][0]["reference"] == "BOOKING-1"


def test_twenty_concurrent_requests_against_300_minutes_give_five_201_and_fifteen_409(app, engine):
    """Twenty 60-minute POSTs on real threads, each with its own client: 5 succeed, 15 are 409."""
    fund(engine)
    token = make_token(engine, "booking-tool", "write")
    start = threading.Barrier(20)

    def attempt(index: int) -> tuple[int, int | None]:
        client = ContractClient(app, token)
        start.wait()
        response = client.redeem({**BODY, "reference": f"B-{index}"}, key=f"concurrent-{index}")
        return response.status_code, response.get_json().get("balance")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 5 + [409] * 15
    assert {balance for status, balance in results if status == 409} == {0}
    assert balance_of(engine, "alice@example.com") == 0
