"""Reconciling is pure: rows held + what an order confers now -> rows to add and events."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.rules.cohorts import CohortSeating, SeatRow, SeatStatus, SeatWanted
from bridge.rules.entitlements import Entitlement
from bridge.rules.reconcile import (
    AccessRow,
    CreditRow,
    CreditTarget,
    correct_expiries,
    reconcile_access,
    reconcile_credits,
)
from bridge.rules.seating import allocate_seats

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def grant(key: str, amount: int = 60, row_id: int = 1, **extra: object) -> CreditRow:
    return CreditRow(
        learner_id=7,
        credit_type="mentor_minutes",
        amount=amount,
        reason="grant",
        grant_key=key,
        source_key=f"{key}@1",
        id=row_id,
        order_id=100,
        offer_sku="MENTOR-1H",
        **extra,  # type: ignore[arg-type]
    )


def test_a_target_not_held_is_granted_once_and_a_held_key_no_longer_targeted_is_reversed():
    target = CreditTarget("mentor_minutes", 60, 100, "MENTOR-1H")
    first = reconcile_credits([], {"k1": target}, 7, 100, NOW)
    assert [(r.grant_key, r.source_key, r.amount) for r in first.new] == [("k1", "k1@1", 60)]
    assert [e.kind for e in first.events] == ["credit_granted"]

    held = [grant("k1")]
    assert reconcile_credits(held, {"k1": target}, 7, 100, NOW).new == []  # nothing twice

    gone = reconcile_credits(held, {}, 7, 100, NOW)
    [reversal] = gone.new
    assert (reversal.amount, reversal.reverses_id, reversal.source_key) == (-60, 1, "k1@1:reversal")
    assert [e.kind for e in gone.events] == ["credit_reversed"]

    # Conferred again after the reversal: a second generation, never an edit.
    reversal.id = 2
    again = reconcile_credits([*held, reversal], {"k1": target}, 7, 100, NOW)
    assert [r.source_key for r in again.new] == ["k1@2"]


def test_a_reversal_takes_back_only_what_the_expiry_job_left():
    held = [
        grant("k1"),
        CreditRow(
            learner_id=7,
            credit_type="mentor_minutes",
            amount=-20,
            reason="expiry",
            grant_key="k1",
            source_key="k1@1:expiry",
            id=2,
        ),
    ]
    [reversal] = reconcile_credits(held, {}, 7, 100, NOW).new
    assert reversal.amount == -40


def test_expiries_move_for_held_grants_only_and_never_for_one_already_past():
    later = datetime(2027, 3, 1, tzinfo=UTC)
    held = grant("k1", expires_at=datetime(2027, 2, 1, tzinfo=UTC))
    past = grant("k2", row_id=3, expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    moved = correct_expiries([held, past], {"k1": later, "k2": later}, NOW)
    assert moved == [held] and held.expires_at == later
    assert past.expires_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_access_opens_per_target_and_a_window_no_longer_conferred_is_revoked():
    target = Entitlement("a1", "access", 100, 1, 1, "PROJ-DATAVIZ", access_kind="project")
    opened = reconcile_access([], {"a1": target}, 7, 100, NOW)
    [window] = opened.new
    assert (window.source_key, window.kind) == ("a1@1", "project")
    assert opened.pending_ids == [(opened.events[0].data, "access_id", window)]

    held = AccessRow(7, "project", "PROJ-DATAVIZ", "a1", "a1@1", id=5, order_id=100)
    closed = reconcile_access([held], {}, 7, 100, NOW)
    assert closed.changed == [held] and held.revoked_at == NOW
    assert closed.events[0].kind == "access_revoked" and closed.events[0].data["access_id"] == 5


def paid(day: int) -> datetime:
    return datetime(2027, 1, day, 9, 0)


def seat(key: str, status: SeatStatus, seat_id: int, order_id: int) -> SeatRow:
    return SeatRow(
        "DV", 1, key, f"{key}@1", status, id=seat_id, order_id=order_id, paid_at=paid(seat_id)
    )


def test_the_seam_decides_seats_without_touching_the_rows():
    """The order path hands allocation the cohort's held seats and the order's change; a full
    cohort waitlists a later payer, a release promotes the first waiting (bridge.rules.seating
    decides the order)."""
    active = seat("s1", SeatStatus.ACTIVE, 1, 100)
    waiting = seat("s2", SeatStatus.WAITLISTED, 2, 101)
    cohorts = {"DV": CohortSeating("DV", 1, [active, waiting])}
    want = SeatWanted("DV", "s3", "s3@1", 9, 102, "COHORT-DV", paid_at=paid(3))

    claimed = allocate_seats(cohorts, [], [want], NOW)
    assert [(d.was, d.now, d.position) for d in claimed] == [(None, SeatStatus.WAITLISTED, 2)]

    released = allocate_seats(cohorts, [active], [], NOW)
    assert [(d.seat, d.was, d.now) for d in released] == [
        (active, SeatStatus.ACTIVE, SeatStatus.RELEASED),
        (waiting, SeatStatus.WAITLISTED, SeatStatus.ACTIVE),
    ]
    # Pure: the rows and the cohort are as they were; the caller applies the decisions.
    assert active.status == SeatStatus.ACTIVE and cohorts["DV"].held == [active, waiting]
