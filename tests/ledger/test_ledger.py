"""The ledger follows orders exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlmodel import select

from bridge.services.ledger import balances, find_learner, owes, waitlist_position
from bridge.services.orders import process_customer, process_order
from bridge.services.orders.page_apply import ShopNeeded
from bridge.store.db import unit_of_work
from bridge.store.models import Access, Learner, LedgerEntry, OrderState, Seat
from tests.support.paths import REAL, load_json
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts

PAID = ("processing", "completed")


class FakeShop:
    """Answers the pipeline's look-ups and counts them."""

    def __init__(self, refunds=None, orders=None):
        self.refunds = refunds or {}
        self.orders = orders or {}
        self.calls: list[tuple[str, int]] = []

    def order_refunds(self, order_id):
        self.calls.append(("refunds", order_id))
        return self.refunds.get(order_id, [])

    def get_order(self, order_id):
        self.calls.append(("order", order_id))
        return self.orders[order_id]


def apply(engine, config, catalogue, order, shop=None):
    return process_order(engine, order, catalogue=catalogue, settings=config, shop=shop)


def balance_of(engine, email):
    with unit_of_work(engine) as session:
        learner = find_learner(session, email)
        return balances(session, learner.id) if learner else {}


def seats(engine, cohort="DV-2027-01"):
    with unit_of_work(engine) as session:
        rows = session.exec(select(Seat).where(Seat.cohort_code == cohort).order_by(Seat.id)).all()
        return [(row.order_id, row.status) for row in rows]


def test_real_partial_refund_leaves_exactly_one_pack(engine, config, catalogue):
    """Deliveries 0030 then 0057 (one of two 3 h packs refunded) leave one pack granted."""
    created = json.loads((REAL / "deliveries" / "0030-order.created.body").read_bytes())
    refunded = json.loads((REAL / "deliveries" / "0057-order.updated.body").read_bytes())
    shop = FakeShop(refunds={28: load_json("woocommerce-real/rest/4d-order-b-refunds.json")})
    apply(engine, config, catalogue, created, shop)
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 2 * 180 + 60 + 30}
    outcome = apply(engine, config, catalogue, refunded, shop)
    assert outcome.count("credit_reversed") == 1
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 180 + 60 + 30}
    with unit_of_work(engine) as session:
        packs = session.exec(
            select(LedgerEntry)
            .where(LedgerEntry.offer_sku == "MENTOR-PACK-3H")
            .order_by(LedgerEntry.id)
        ).all()
    assert [(row.reason, row.amount) for row in packs] == [
        ("grant", 180),
        ("grant", 180),
        ("reversal", -180),
    ]
    # The refund list did not change, so a replay reads the stored refunds, not the shop.
    apply(engine, config, catalogue, refunded, shop)
    assert shop.calls == [("refunds", 28)]


def test_replaying_the_same_order_grants_nothing_twice(engine, config, catalogue):
    """The same delivery three times leaves one grant per unit."""
    order = make_order(100, [("MENTOR-1H", 3)])
    for _ in range(3):
        apply(engine, config, catalogue, order)
    with unit_of_work(engine) as session:
        rows = session.exec(select(LedgerEntry).where(LedgerEntry.order_id == 100)).all()
    assert len(rows) == 3
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 180 + 30}


def test_stale_payload_is_ignored(engine, config, catalogue):
    """A payload older than the last applied one changes nothing."""
    paid = make_order(101, [("MENTOR-1H", 1)], modified="2026-11-28T16:05:00")
    pending = make_order(
        101, [("MENTOR-1H", 1)], status="pending", paid=None, modified="2026-11-28T16:00:00"
    )
    apply(engine, config, catalogue, paid)
    outcome = apply(engine, config, catalogue, pending)
    assert not outcome.applied
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 90}


def test_full_refund_reverses_everything_and_completing_again_regrants(engine, config, catalogue):
    """Refunded reverses each grant; completed again grants a new generation, once."""
    lines = [("MENTOR-1H", 1), ("PROJ-DATAVIZ", 1)]
    apply(engine, config, catalogue, make_order(102, lines, modified="2026-11-28T16:00:00"))
    apply(
        engine,
        config,
        catalogue,
        make_order(102, lines, status="refunded", modified="2026-11-28T16:01:00"),
    )
    # No paid order is left: the unused complimentary call is reversed too (a new row).
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 0}
    for _ in range(2):
        apply(
            engine,
            config,
            catalogue,
            make_order(102, lines, status="completed", modified="2026-11-28T16:02:00"),
        )
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 150}
    with unit_of_work(engine) as session:
        keys = session.exec(
            select(LedgerEntry.source_key)
            .where(LedgerEntry.order_id == 102)
            .order_by(LedgerEntry.id)
        ).all()
        access = session.exec(
            select(Access).where(Access.order_id == 102).order_by(Access.id)
        ).all()
    assert keys[-2:] == [
        "order:102:line:10200:unit:0:credit:mentor_minutes@2",
        "order:102:line:10201:unit:0:credit:mentor_minutes@2",
    ]
    assert [(a.kind, a.revoked_at is None) for a in access] == [
        ("project", False),
        ("project", True),
    ]


def test_cancel_after_completion_releases_the_seat(engine, config, catalogue):
    """Cancelling a completed cohort order releases its seat."""
    apply(
        engine, config, catalogue, make_order(103, [("COHORT-DV-2027-01", 1)], status="completed")
    )
    apply(
        engine,
        config,
        catalogue,
        make_order(
            103, [("COHORT-DV-2027-01", 1)], status="cancelled", modified="2026-11-28T17:00"
        ),
    )
    assert seats(engine) == [(103, "released")]


def test_refund_of_one_seat_promotes_the_first_waitlisted_learner(engine, config, catalogue):
    """Capacity 3: 2 seats + 2 + 1 waitlist two; refunding one of the first two promotes FIFO."""
    apply(engine, config, catalogue, make_order(110, [("COHORT-DV-2027-01", 2)]))
    apply(
        engine,
        config,
        catalogue,
        make_order(111, [("COHORT-DV-2027-01", 2)], email="bob@example.com", customer_id=3),
    )
    outcome = apply(
        engine,
        config,
        catalogue,
        make_order(112, [("COHORT-DV-2027-01", 1)], email="cy@example.com", customer_id=4),
    )
    assert outcome.events[0].data["position"] == 2
    assert seats(engine) == [
        (110, "active"),
        (110, "active"),
        (111, "active"),
        (111, "waitlisted"),
        (112, "waitlisted"),
    ]
    refund = [{"id": 900, "total": "-390.00"}]
    shop = FakeShop(
        refunds={
            110: [
                {
                    "id": 900,
                    "line_items": [
                        {
                            "quantity": -1,
                            "meta_data": [{"key": "_refunded_item_id", "value": "11000"}],
                        }
                    ],
                }
            ]
        }
    )
    outcome = apply(
        engine,
        config,
        catalogue,
        make_order(110, [("COHORT-DV-2027-01", 2)], refunds=refund, modified="2026-11-28T17:00:00"),
        shop,
    )
    assert [e.kind for e in outcome.events if e.kind.startswith("seat")] == [
        "seat_released",
        "seat_promoted",
    ]
    assert seats(engine) == [
        (110, "active"),
        (110, "released"),
        (111, "active"),
        (111, "active"),
        (112, "waitlisted"),
    ]
    with unit_of_work(engine) as session:
        last = session.exec(select(Seat).where(Seat.order_id == 112)).one()
        assert waitlist_position(session, last) == 1


def test_guest_then_registered_is_one_learner(engine, config, catalogue):
    """A guest's order and the same e-mail's later customer order share one learner."""
    apply(
        engine,
        config,
        catalogue,
        make_order(120, [("MENTOR-1H", 1)], customer_id=0, email="Gina.Guest@Example.com "),
    )
    apply(
        engine,
        config,
        catalogue,
        make_order(121, [("MENTOR-1H", 1)], customer_id=7, email="gina.guest@example.com"),
    )
    with unit_of_work(engine) as session:
        learners = session.exec(select(Learner)).all()
    assert [(lr.email, lr.woo_customer_id) for lr in learners] == [("gina.guest@example.com", 7)]
    assert balance_of(engine, "7") == {"mentor_minutes": 150}


def test_customer_email_change_keeps_the_history(engine, config, catalogue):
    """After the real customer.updated (new e-mail) the learner is found by both addresses."""
    apply(
        engine,
        config,
        catalogue,
        make_order(170, [("MENTOR-1H", 1)], customer_id=0, email="bob@example.com"),
    )
    customer = json.loads((REAL / "deliveries" / "0080-customer.updated.body").read_bytes())
    learner_id = process_customer(engine, customer)
    with unit_of_work(engine) as session:
        by_new = find_learner(session, "bob.berg@example.com")
        by_old = find_learner(session, "bob@example.com")
        by_id = find_learner(session, "3")
        assert by_new.id == by_old.id == by_id.id == learner_id
        assert by_new.email == "bob.berg@example.com"
        assert balances(session, learner_id) == {"mentor_minutes": 90}


def test_complimentary_call_is_granted_once_per_learner(engine, config, catalogue):
    """Two paid orders give one complimentary call; it follows the orders' current state."""
    apply(engine, config, catalogue, make_order(130, [("MENTOR-1H", 1)], paid=None))
    apply(engine, config, catalogue, make_order(131, [("MENTOR-1H", 1)], paid=None))
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 150}
    # Cash-on-delivery orders cancelled before payment: no order is or was paid any more.
    for order_id in (130, 131):
        apply(
            engine,
            config,
            catalogue,
            make_order(
                order_id,
                [("MENTOR-1H", 1)],
                paid=None,
                status="cancelled",
                modified="2026-11-28T18:00:00",
            ),
        )
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 0}
    with unit_of_work(engine) as session:
        comp = session.exec(
            select(LedgerEntry.amount).where(LedgerEntry.grant_key.like("learner:%"))
        ).all()
    assert comp == [30, -30]


def test_refund_after_spending_shows_the_learner_in_owes(engine, config, catalogue):
    """Reversing credits already spent drives the balance negative and lists the learner."""
    apply(engine, config, catalogue, make_order(140, [("MENTOR-1H", 1)]))
    with unit_of_work(engine) as session:
        learner = find_learner(session, "alice@example.com")
        session.add(
            LedgerEntry(
                learner_id=learner.id,
                credit_type="mentor_minutes",
                amount=-90,
                reason="redemption",
                grant_key="r:1",
                source_key="r:1",
            )
        )
        session.commit()
    apply(
        engine,
        config,
        catalogue,
        make_order(140, [("MENTOR-1H", 1)], status="refunded", modified="2026-11-28T19:00:00"),
    )
    with unit_of_work(engine) as session:
        assert [(lr.email, t, a) for lr, t, a in owes(session)] == [
            ("alice@example.com", "mentor_minutes", -60)
        ]


def test_order_with_refunds_and_no_shop_is_refused_without_writing(engine, config, catalogue):
    """Refunds that cannot be read stop the order with a clear error and no partial state."""
    order = make_order(150, [("MENTOR-1H", 2)], refunds=[{"id": 1, "total": "-60"}])
    with pytest.raises(ShopNeeded, match="order 150 has refunds"):
        apply(engine, config, catalogue, order)
    with unit_of_work(engine) as session:
        assert session.get(OrderState, 150) is None


def test_deleted_order_is_looked_up_and_restored_state_wins(engine, config, catalogue):
    """order.deleted ({"id": N}) asks the shop; a trashed order confers nothing, restored again."""
    order = make_order(160, [("MENTOR-1H", 1)])
    apply(engine, config, catalogue, order)
    trashed = dict(order, status="trash", date_modified_gmt="2026-11-28T20:00:00")
    apply(engine, config, catalogue, {"id": 160}, FakeShop(orders={160: trashed}))
    # Trashed: nothing is paid any more, so the unused complimentary call goes too.
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 0}
    restored = dict(order, status="processing", date_modified_gmt="2026-11-28T20:05:00")
    apply(engine, config, catalogue, restored)
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 90}


def test_fifty_concurrent_purchases_for_ten_seats(engine, config):
    """50 simultaneous one-seat orders on 8 workers: exactly 10 active, 40 waitlisted."""
    catalogue = sample_catalogue(capacity=10)
    store_cohorts(engine, catalogue)
    orders = [
        make_order(
            1000 + n, [("COHORT-DV-2027-01", 1)], email=f"l{n}@example.com", customer_id=5000 + n
        )
        for n in range(50)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda o: apply(engine, config, catalogue, o), orders))
    statuses = [status for _, status in seats(engine)]
    assert statuses.count("active") == 10
    assert statuses.count("waitlisted") == 40


STATES = st.fixed_dictionaries(
    {
        "status": st.sampled_from(
            ["pending", "processing", "completed", "on-hold", "refunded", "cancelled", "trash"]
        ),
        "refunded_packs": st.integers(min_value=0, max_value=2),
    }
)


def _state_payload(order_id, email, state, minute):
    # A refund's id names what it refunds (a refund never changes in WooCommerce).
    refund_id = 7000 + 10 * order_id + state["refunded_packs"]
    refunds = [{"id": refund_id}] if state["refunded_packs"] else []
    order = make_order(
        order_id,
        [("MENTOR-PACK-3H", 2), ("COHORT-DV-2027-01", 1), ("BUNDLE-DV-STACK", 1)],
        status=state["status"],
        email=email,
        customer_id=0,
        refunds=refunds,
        modified=f"2026-11-28T10:{minute:02d}:00",
    )
    refund_rows = [
        {
            "id": refund_id,
            "line_items": [
                {
                    "quantity": -state["refunded_packs"],
                    "meta_data": [{"key": "_refunded_item_id", "value": str(order_id * 100)}],
                }
            ],
        }
    ]
    return order, (refund_rows if state["refunded_packs"] else [])


def _effective(session, order_id):
    """What an order holds now, with its id taken out of the keys so two orders compare."""
    rows = session.exec(select(LedgerEntry).where(LedgerEntry.order_id == order_id)).all()
    reversed_ids = {row.reverses_id for row in rows if row.reverses_id}
    held = sorted(
        (row.grant_key.split(":", 2)[2].split(":", 2)[2], row.amount)
        for row in rows
        if row.reverses_id is None and row.id not in reversed_ids
    )
    seat_rows = session.exec(select(Seat).where(Seat.order_id == order_id)).all()
    active_seats = sorted(s.grant_key.split(":", 4)[4] for s in seat_rows if s.status != "released")
    access = session.exec(select(Access).where(Access.order_id == order_id)).all()
    open_access = sorted(a.grant_key.split(":", 4)[4] for a in access if a.revoked_at is None)
    return held, active_seats, open_access


def test_any_delivery_sequence_converges_on_the_final_state(engine, config, database_url):
    """Duplicates, reordering and stale replays end where applying only the final state ends."""
    catalogue = sample_catalogue(capacity=10_000)
    store_cohorts(engine, catalogue)
    examples = {"n": 0}

    @hyp_settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(states=st.lists(STATES, min_size=1, max_size=5), data=st.data())
    def check(states, data):
        examples["n"] += 1
        n = examples["n"]
        replayed_id, final_id = 20_000 + 2 * n, 20_001 + 2 * n
        deliveries = data.draw(st.lists(st.integers(0, len(states) - 1), min_size=1, max_size=8))
        deliveries.append(len(states) - 1)  # the final state is delivered at least once
        for index in data.draw(st.permutations(deliveries)):
            order, refunds = _state_payload(replayed_id, f"r{n}@x.org", states[index], index)
            apply(engine, config, catalogue, order, FakeShop({replayed_id: refunds}))
        order, refunds = _state_payload(final_id, f"f{n}@x.org", states[-1], len(states) - 1)
        apply(engine, config, catalogue, order, FakeShop({final_id: refunds}))
        with unit_of_work(engine) as session:
            assert _effective(session, replayed_id) == _effective(session, final_id)
            replayed = balances(session, find_learner(session, f"r{n}@x.org").id)
            final = balances(session, find_learner(session, f"f{n}@x.org").id)
            # A grant reversed on the way leaves a 0 where the final state never had a row.
            assert {k: v for k, v in replayed.items() if v} == {k: v for k, v in final.items() if v}

    check()


def test_refund_after_expiry_takes_back_only_what_had_not_expired(engine, config, catalogue):
    """A refunded period whose credits partly expired reverses only what had not expired."""
    from datetime import UTC, datetime

    from bridge.services.ledger import expire_learner

    order = make_order(180, [("SUB-MENTOR-MONTHLY", 1)], paid="2026-11-28T16:00:00")
    apply(engine, config, catalogue, order)
    with unit_of_work(engine) as session:
        learner = find_learner(session, "alice@example.com")
        session.add(
            LedgerEntry(
                learner_id=learner.id,
                credit_type="mentor_minutes",
                amount=-40,
                reason="redemption",
                grant_key="r:180",
                source_key="r:180",
            )
        )
        session.commit()
    with unit_of_work(engine) as session:
        expire_learner(session, learner.id, datetime(2027, 6, 1, tzinfo=UTC))
        session.commit()
    # 60 granted, 40 spent (the complimentary 30 never expires, so it is spent last).
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 30, "portfolio_reviews": 0}
    apply(
        engine,
        config,
        catalogue,
        make_order(
            180,
            [("SUB-MENTOR-MONTHLY", 1)],
            status="refunded",
            paid="2026-11-28T16:00:00",
            modified="2026-12-01T00:00:00",
        ),
    )
    with unit_of_work(engine) as session:
        reversals = session.exec(
            select(LedgerEntry.credit_type, LedgerEntry.amount)
            .where(LedgerEntry.reason == "reversal")
            .order_by(LedgerEntry.credit_type)
        ).all()
    # 20 minutes and the review had expired: the reversal takes back only the 40 spent, so the
    # learner owes what they used of a refunded period, exactly as without expiry (30 - 40).
    assert reversals == [("mentor_minutes", -40), ("portfolio_reviews", 0)]
    assert balance_of(engine, "alice@example.com") == {
        "mentor_minutes": -10,
        "portfolio_reviews": 0,
    }


def test_refunds_read_earlier_are_kept_when_the_order_is_fully_refunded(engine, config, catalogue):
    """A later full refund does not fetch refunds, but keeps the dated partial one read before."""
    partial = [
        {
            "id": 901,
            "date_created_gmt": "2026-11-28T17:00:00",
            "line_items": [
                {
                    "quantity": -1,
                    "total": "-60.00",
                    "meta_data": [{"key": "_refunded_item_id", "value": "19000"}],
                }
            ],
        }
    ]
    shop = FakeShop(refunds={190: partial})
    apply(
        engine,
        config,
        catalogue,
        make_order(
            190,
            [("MENTOR-1H", 2)],
            refunds=[{"id": 901, "total": "-60.00"}],
            modified="2026-11-28T17:00:00",
        ),
        shop,
    )
    apply(
        engine,
        config,
        catalogue,
        make_order(
            190,
            [("MENTOR-1H", 2)],
            status="refunded",
            refunds=[{"id": 901}, {"id": 902}],
            modified="2026-11-28T18:00:00",
        ),
        shop,
    )
    assert shop.calls == [("refunds", 190)]
    with unit_of_work(engine) as session:
        summary = session.get(OrderState, 190).summary
    assert summary["refund_ids"] == [901, 902]
    assert [(r["id"], r["date_created_gmt"]) for r in summary["refunds"]] == [
        (901, "2026-11-28T17:00:00")
    ]
