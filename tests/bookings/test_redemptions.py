"""Redeeming and refunding credits as use cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select

from bridge.services.bookings import (
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    RedemptionNotFound,
    redeem_in_transaction,
    refund_in_transaction,
)
from bridge.services.bookings.redemptions import (
    BASE_CREDIT_TYPES,
    redeem_request,
    refund_redemption,
    stored_credit_types,
)
from bridge.services.ledger import UnknownLearner
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, Offer, Redemption
from tests.support.redemptions import balance_of, fund, sqlite_only, written_rows

TYPES = set(BASE_CREDIT_TYPES)


def spend(
    engine,
    key,
    amount=60,
    learner="alice@example.com",
    credit_type="mentor_minutes",
    reference="BOOKING-1",
    mentor="Ada",
):
    """Redeem in a unit of work of its own, committed on success (what the API and CLI call)."""
    body = {
        "learner": learner,
        "credit_type": credit_type,
        "amount": amount,
        "reference": reference,
        "mentor": mentor,
    }
    return redeem_in_transaction(engine, body, key, TYPES)


@sqlite_only
def test_a_covered_redemption_debits_the_ledger_once(engine):
    """60 of 300 minutes are debited as one ledger row, and the result says what is left."""
    fund(engine)
    result = spend(engine, "k1")
    assert not result.replayed
    assert result.body["amount"] == 60 and result.body["status"] == "active"
    assert result.body["balance_after"] == 240
    assert balance_of(engine, "alice@example.com") == 240
    with unit_of_work(engine) as session:
        row = session.exec(select(LedgerEntry).where(LedgerEntry.reason == "redemption")).one()
        assert (row.amount, row.note) == (-60, "BOOKING-1 with Ada")


@sqlite_only
def test_a_short_balance_raises_insufficient_credits_with_the_balance(engine):
    """Asking for more than the balance fails with the current balance and writes nothing."""
    fund(engine)
    before = written_rows(engine)
    with pytest.raises(InsufficientCredits) as caught:
        spend(engine, "k1", amount=301)
    assert (caught.value.balance, caught.value.requested) == (300, 301)
    assert written_rows(engine) == before


def test_the_same_key_replays_the_first_result_and_never_debits_twice(engine):
    """A repeated key returns the first body, even after the redemption was refunded."""
    fund(engine)
    first = spend(engine, "k1")
    refund_in_transaction(engine, first.body["id"])
    again = spend(engine, "k1")
    assert again.replayed and again.body == first.body
    assert balance_of(engine, "alice@example.com") == 300


@sqlite_only
def test_a_key_reused_for_another_request_is_refused(engine):
    """The same key with a different amount is an error, not a second redemption."""
    fund(engine)
    spend(engine, "k1")
    with pytest.raises(IdempotencyKeyReused):
        spend(engine, "k1", amount=30)
    assert balance_of(engine, "alice@example.com") == 240


@sqlite_only
def test_a_failed_redemption_is_not_remembered_under_its_key(engine):
    """A key whose first try was short succeeds once the learner has bought more."""
    fund(engine, packs=1)
    with pytest.raises(InsufficientCredits):
        spend(engine, "k1", amount=400)
    fund(engine, packs=1)
    assert spend(engine, "k1", amount=400).body["balance_after"] == 200


def test_a_refund_credits_back_once(engine):
    """Refunding twice appends one reversal row pointing at the debit."""
    fund(engine)
    redemption_id = spend(engine, "k1").body["id"]
    first = refund_in_transaction(engine, redemption_id)
    second = refund_in_transaction(engine, redemption_id)
    assert first.refunded_now and not second.refunded_now
    assert first.body["balance_after"] == 300 and second.body["status"] == "refunded"
    assert balance_of(engine, "alice@example.com") == 300
    with unit_of_work(engine) as session:
        redemption = session.get(Redemption, redemption_id)
        refunds = session.exec(
            select(LedgerEntry).where(LedgerEntry.reason == "redemption_refund")
        ).all()
        assert [row.reverses_id for row in refunds] == [redemption.ledger_entry_id]


def test_refunding_an_unknown_redemption_raises(engine):
    """An id no redemption has is RedemptionNotFound, even one beyond the integer column."""
    for missing in (1, 2**40):
        with unit_of_work(engine) as session, pytest.raises(RedemptionNotFound):
            refund_redemption(session, missing)


def test_an_unknown_learner_raises_and_writes_nothing(engine):
    """A learner nobody knows is UnknownLearner; a huge customer id is just as unknown."""
    fund(engine)
    before = written_rows(engine)
    for ref in ("nobody@example.com", 2**62):
        with pytest.raises(UnknownLearner):
            spend(engine, f"k-{ref}", learner=ref)
    assert written_rows(engine) == before


@sqlite_only
def test_the_learner_may_be_named_by_customer_id_or_former_email(engine):
    """Customer id 2 and a differently cased e-mail both find the same learner."""
    fund(engine)
    spend(engine, "k1", learner=2)
    spend(engine, "k2", learner=" ALICE@example.com ")
    assert balance_of(engine, 2) == 180


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("amount", {"amount": 0}),
        ("amount", {"amount": -60}),
        ("amount", {"amount": True}),
        ("credit_type", {"credit_type": "gold_coins"}),
        ("reference", {"reference": "  "}),
        ("learner", {"learner": ""}),
        ("mentor", {"mentor": "Ada\x00"}),
    ],
)
def test_bad_values_raise_invalid_request_naming_the_field(field, change):
    """Zero, negative or boolean amounts, unknown types and blank text name their field."""
    body = {
        "learner": "alice@example.com",
        "credit_type": "mentor_minutes",
        "amount": 60,
        "reference": "B-1",
        "mentor": None,
        **change,
    }
    with pytest.raises(InvalidRequest) as caught:
        redeem_request(body, "k1", TYPES)
    assert caught.value.field == field


def test_known_credit_types_come_from_the_base_the_ledger_and_stored_offers(engine):
    """Offer definitions' credits and types once granted are redeemable, unknown ones are not."""
    with unit_of_work(engine) as session:
        session.add(
            Offer(
                sku="CODE-REVIEW", kind="mentor_hours", definition={"credits": {"code_reviews": 1}}
            )
        )
        session.commit()
    with unit_of_work(engine) as session:
        assert stored_credit_types(session) == TYPES | {"code_reviews"}


def test_twenty_concurrent_redemptions_against_300_minutes_give_exactly_five(engine):
    """Twenty 60-minute redemptions at once, each in its own session: 5 succeed, 15 are short."""
    fund(engine)
    start = threading.Barrier(20)

    def attempt(index: int) -> str:
        start.wait()
        body = {
            "learner": "alice@example.com",
            "credit_type": "mentor_minutes",
            "amount": 60,
            "reference": f"B-{index}",
        }
        try:
            redeem_in_transaction(engine, body, f"concurrent-{index}")
        except InsufficientCredits as exc:
            assert exc.balance == 0
            return "short"
        return "ok"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert (outcomes.count("ok"), outcomes.count("short")) == (5, 15)
    assert balance_of(engine, "alice@example.com") == 0


def test_concurrent_requests_with_one_key_debit_once_and_all_get_the_same_answer(engine):
    """Eight simultaneous retries of one request: one debit, eight identical results."""
    fund(engine)
    start = threading.Barrier(8)
    body = {
        "learner": "alice@example.com",
        "credit_type": "mentor_minutes",
        "amount": 60,
        "reference": "B-1",
    }

    def attempt(_: int) -> dict:
        start.wait()
        return redeem_in_transaction(engine, body, "one-key").body

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(attempt, range(8)))
    assert all(b == bodies[0] for b in bodies)
    assert balance_of(engine, "alice@example.com") == 240
