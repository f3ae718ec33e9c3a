"""Expired credits leave the balance once; the soonest-expiring count as spent first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bridge.services.ledger import balances, expire_credits
from bridge.services.ledger.expiry import expired_remainders
from bridge.store.db import unit_of_work
from bridge.store.models import Learner, LedgerEntry, utcnow

NOW = utcnow().replace(microsecond=0)
DAY = timedelta(days=1)


def row(id, amount, reason="grant", *, expires=None, reverses=None, key=None):
    """A ledger row as the pure rule reads it (learner 1, mentor minutes)."""
    key = key or f"k{id}"
    return LedgerEntry(
        id=id,
        learner_id=1,
        credit_type="mentor_minutes",
        amount=amount,
        reason=reason,
        grant_key=key,
        source_key=f"{key}@1",
        reverses_id=reverses,
        expires_at=expires,
    )


def left(rows):
    return {e.grant_id: e.remainder for e in expired_remainders(rows, NOW)}


def test_an_unspent_expired_grant_expires_whole_and_an_unexpired_one_not_at_all():
    """Only grants whose expiry has passed are due; what is left of them is written off."""
    rows = [row(1, 60, expires=NOW - DAY), row(2, 60, expires=NOW + DAY), row(3, 30)]
    assert left(rows) == {1: 60}


def test_spending_uses_the_soonest_expiring_credits_first():
    """A debit draws on the grant that expires first, then later ones, never-expiring last."""
    rows = [
        row(1, 30, "complimentary"),
        row(2, 60, expires=NOW + DAY),
        row(3, 60, expires=NOW - DAY),
        row(4, -70, "redemption"),
    ]
    # 70 spent: all 60 of grant 3 (expires first), then 10 of grant 2; nothing of 1.
    assert left(rows) == {3: 0}
    assert left([row(1, 60, expires=NOW - DAY), row(2, -20, "redemption")]) == {1: 40}


def test_a_debit_before_a_grant_existed_cannot_have_spent_it():
    """Credits granted after a debit were not there to be spent by it."""
    rows = [row(1, 50), row(2, -50, "redemption"), row(3, 60, expires=NOW - DAY)]
    assert left(rows) == {3: 60}


def test_a_refunded_booking_gives_its_credits_back_to_the_grant_they_came_from():
    """A cancelled booking's credits return to the expiring grant, which then expires them."""
    rows = [
        row(1, 60, expires=NOW - DAY),
        row(2, -40, "redemption"),
        row(3, 40, "redemption_refund", reverses=2),
    ]
    assert left(rows) == {1: 60}


def test_a_reversed_or_already_expired_grant_is_not_expired_again():
    """A reversal takes the grant's credits back; an expiry row settles its grant for good."""
    reversed_grant = [row(1, 60, expires=NOW - DAY), row(2, -60, "reversal", reverses=1)]
    assert left(reversed_grant) == {1: 0}
    expired = [
        row(1, 60, expires=NOW - DAY),
        LedgerEntry(
            id=2,
            learner_id=1,
            credit_type="mentor_minutes",
            amount=-60,
            reason="expiry",
            grant_key="k1",
            source_key="k1@1:expiry",
        ),
    ]
    assert left(expired) == {}


def _learner(session, email, customer_id):
    learner = Learner(email=email, woo_customer_id=customer_id)
    session.add(learner)
    session.flush()
    return learner.id


def test_expired_credits_get_one_expiry_row_for_what_is_left_and_never_a_second(engine):
    """The run writes the remainder off once, queues the new balance, and a rerun does nothing."""
    with unit_of_work(engine) as session:
        alice = _learner(session, "alice@example.com", 2)
        bob = _learner(session, "bob@example.com", 3)
        for learner, amount, expires, key in [
            (alice, 60, NOW - DAY, "sub:1:order:74:period"),
            (alice, 30, None, "learner:1:complimentary_call"),
            (bob, 60, NOW + DAY, "sub:2:order:75:period"),
        ]:
            session.add(
                LedgerEntry(
                    learner_id=learner,
                    credit_type="mentor_minutes",
                    amount=amount,
                    reason="grant",
                    grant_key=key,
                    source_key=f"{key}@1",
                    expires_at=expires,
                )
            )
        session.flush()
        session.add(
            LedgerEntry(
                learner_id=alice,
                credit_type="mentor_minutes",
                amount=-20,
                reason="redemption",
                grant_key="redemption:r1",
                source_key="redemption:r1",
            )
        )
        session.commit()

    queued = []
    result = expire_credits(engine, now=NOW, after_expiry=lambda _s, lid: queued.append(lid))
    assert (result.learners, result.grants, result.expired) == (1, 1, {"mentor_minutes": 40})
    assert queued == [alice]
    with unit_of_work(engine) as session:
        assert balances(session, alice) == {"mentor_minutes": 30}
        assert balances(session, bob) == {"mentor_minutes": 60}
        expiry = session.exec(select(LedgerEntry).where(LedgerEntry.reason == "expiry")).one()
        assert (expiry.amount, expiry.source_key) == (-40, "sub:1:order:74:period@1:expiry")
        assert expiry.reverses_id is None  # else the pipeline would read it as a reversal

    assert expire_credits(engine, now=NOW + 2 * DAY).grants == 1  # bob's grant, now due
    assert expire_credits(engine, now=NOW + 3 * DAY).grants == 0
    with unit_of_work(engine) as session:
        assert balances(session, alice) == {"mentor_minutes": 30}
        assert balances(session, bob) == {"mentor_minutes": 0}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_fully_spent_expired_grant_is_settled_with_a_zero_row(engine):
    """Nothing is left to expire, but the grant is settled so no later run looks at it again."""
    with unit_of_work(engine) as session:
        alice = _learner(session, "alice@example.com", 2)
        session.add(
            LedgerEntry(
                learner_id=alice,
                credit_type="portfolio_reviews",
                amount=1,
                reason="grant",
                grant_key="g",
                source_key="g@1",
                expires_at=NOW - DAY,
            )
        )
        session.add(
            LedgerEntry(
                learner_id=alice,
                credit_type="portfolio_reviews",
                amount=-1,
                reason="redemption",
                grant_key="r",
                source_key="r",
            )
        )
        session.commit()
    result = expire_credits(engine, now=NOW)
    assert (result.grants, result.expired) == (1, {"portfolio_reviews": 0})
    with unit_of_work(engine) as session:
        settled = session.exec(select(LedgerEntry).where(LedgerEntry.reason == "expiry")).one()
        assert settled.amount == 0 and "all spent" in settled.note
    assert expire_credits(engine, now=NOW).learners == 0
