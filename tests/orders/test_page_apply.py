"""A page of orders in one unit of work: what its orders applied in turn leave, in a few
statements."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import select

from bridge.rules.catalogue.catalog import Offer
from bridge.services.inbox import Delivery, InboxDrain, record_delivery
from bridge.services.inbox.batches import PAGE_SIZE
from bridge.services.ledger.seats import UnknownCohort
from bridge.services.orders import Tell, apply_orders, build_handlers, process_order
from bridge.store.db import make_engine, unit_of_work, upgrade
from bridge.store.models import (
    Access,
    InboxDelivery,
    Learner,
    LearnerEmail,
    LedgerEntry,
    OrderState,
    OutboxItem,
    Seat,
)
from tests.support.sample_shop import COHORT, make_order, sample_catalogue, store_cohorts

BASKETS = [
    [("MENTOR-1H", 1)],
    [("PROJ-DATAVIZ", 1)],
    [("COHORT-DV-2027-01", 1)],
    [("BUNDLE-DV-STACK", 1)],
    [("MENTOR-PACK-3H", 2), ("ASSESS-DV", 1)],
    [("PREVIEW-DV", 1), ("COHORT-DV-2027-01", 1)],
    [("NOT-A-MICRO-SKU", 1)],
]
STATUSES = ["processing", "completed", "pending", "processing", "on-hold", "completed", "cancelled"]


def mixed_page(count: int = 40, first_id: int = 5000) -> list[dict[str, Any]]:
    """Orders of returning customers, guests and new buyers; a small cohort fills and waits."""
    orders = []
    for i in range(count):
        if i % 5 == 4:
            customer, email = 0, f"guest{i % 3}@example.com"
        else:
            customer, email = 100 + i % 7, f"buyer{i % 7}@example.com"
        status = STATUSES[i % len(STATUSES)]
        modified = f"2026-11-28T1{i // 60}:{i % 60:02d}:00"
        paid = modified if status in ("processing", "completed") else None
        orders.append(
            make_order(
                first_id + i,
                BASKETS[i % len(BASKETS)],
                status=status,
                email=email,
                customer_id=customer,
                modified=modified,
                paid=paid,
            )
        )
    return orders


def snapshot(engine: Engine) -> dict[str, Any]:
    """What the orders left, keyed by stable identities (e-mails, source keys), never row ids."""
    with unit_of_work(engine) as session:
        email = {row.id: row.email for row in session.exec(select(Learner)).all()}
        ledger = {row.id: row for row in session.exec(select(LedgerEntry)).all()}
        seats = session.exec(select(Seat).order_by(Seat.id)).all()
        return {
            "learners": sorted(
                (row.email, row.woo_customer_id, row.name)
                for row in session.exec(select(Learner)).all()
            ),
            "aliases": sorted(
                (row.email, email[row.learner_id])
                for row in session.exec(select(LearnerEmail)).all()
            ),
            "ledger": sorted(
                (
                    row.source_key,
                    email[row.learner_id],
                    row.credit_type,
                    row.amount,
                    row.reason,
                    ledger[row.reverses_id].source_key if row.reverses_id else None,
                )
                for row in ledger.values()
            ),
            # Seats in id order: the waitlist is ordered by id.
            "seats": [(row.source_key, email[row.learner_id], row.status) for row in seats],
            "access": sorted(
                (row.source_key, email[row.learner_id], row.revoked_at is None)
                for row in session.exec(select(Access)).all()
            ),
            "orders": sorted(
                (row.order_id, row.status, email[row.learner_id] if row.learner_id else None)
                for row in session.exec(select(OrderState)).all()
            ),
            "outbox": sorted(
                (row.resource, row.target_key, json.dumps(row.payload, sort_keys=True))
                for row in session.exec(select(OutboxItem)).all()
            ),
        }


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def catalogue(engine):
    catalogue = sample_catalogue(capacity=3)
    store_cohorts(engine, catalogue)
    return catalogue


def test_a_page_equals_its_orders_applied_in_turn(engine, settings, catalogue, tmp_path):
    """Ledger, seats in waitlist order, access, learners and every write-back (notes
    included) are the same whether the orders come as one page or each as a page of its own,
    in turn."""
    page = mixed_page()
    reference = make_engine(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    upgrade(reference)
    store_cohorts(reference, catalogue)
    for payload in page:
        process_order(
            reference, payload, catalogue=catalogue, settings=settings, tell=Tell.EVERYTHING
        )
    one_by_one = snapshot(reference)
    reference.dispose()

    results = apply_orders(
        engine, page, catalogue=catalogue, settings=settings, tell=Tell.EVERYTHING
    )

    assert [r.error for r in results] == [None] * len(page)
    assert snapshot(engine) == one_by_one
    statuses = [status for _, _, status in one_by_one["seats"]]
    assert statuses.count("active") == 3 and "waitlisted" in statuses
    assert any(":note:" in key for _, key, _ in one_by_one["outbox"])


def test_a_page_costs_a_few_statements_and_an_unchanged_page_writes_nothing(
    engine, settings, catalogue
):
    page = mixed_page(100)
    with counted(engine) as statements:
        results = apply_orders(
            engine, page, catalogue=catalogue, settings=settings, tell=Tell.NOTHING
        )
    assert all(r.error is None for r in results)
    assert len(statements) <= 100, len(statements)  # 100 orders: at most one per order

    with counted(engine) as again:
        apply_orders(engine, page, catalogue=catalogue, settings=settings)
    assert len(again) <= 2  # one read of the page's fingerprints (and its BEGIN on SQLite)
    assert not [s for s in again if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def test_a_page_is_planned_by_key_and_the_pool_keeps_no_setting(engine, settings, catalogue):
    """On PostgreSQL a page's transaction is planned without sequential scans (a first sync
    fills tables that have no statistics yet, which the planner would scan whole for each
    page); the setting ends with the transaction."""
    with counted(engine) as statements:
        results = apply_orders(engine, mixed_page(20), catalogue=catalogue, settings=settings)
    assert all(r.error is None for r in results)
    planned = [s for s in statements if "enable_seqscan" in s]
    postgresql = engine.dialect.name == "postgresql"
    assert planned == (["SET LOCAL enable_seqscan = off"] if postgresql else [])
    if postgresql:
        with unit_of_work(engine) as session:
            assert session.execute(text("SHOW enable_seqscan")).scalar_one() == "on"


def test_an_order_that_cannot_be_applied_fails_alone(engine, settings, catalogue):
    """A cohort the database does not know: that order fails, the rest of the page lands."""
    unknown = dataclasses.replace(COHORT, code="NOWHERE", title="Not synced")
    catalogue = dataclasses.replace(
        catalogue,
        offers={
            **catalogue.offers,
            "COHORT-NOWHERE": Offer("COHORT-NOWHERE", "cohort_seat", "Nowhere", cohort="NOWHERE"),
        },
        cohorts={**catalogue.cohorts, "NOWHERE": unknown},
    )
    page = mixed_page(6)
    page.insert(
        3, make_order(6100, [("COHORT-NOWHERE", 1)], email="late@example.com", customer_id=777)
    )
    results = apply_orders(engine, page, catalogue=catalogue, settings=settings)
    errors = {r.payload["id"]: r.error for r in results if r.error is not None}
    assert list(errors) == [6100] and isinstance(errors[6100], UnknownCohort)
    with unit_of_work(engine) as session:
        applied = {row.order_id for row in session.exec(select(OrderState)).all()}
    assert applied == {p["id"] for p in page} - {6100}


def test_one_order_twice_in_a_page_is_applied_in_turn(engine, settings, catalogue):
    """Paid, then cancelled, in one page: granted, then reversed; an older copy after it is
    stale and skipped."""
    paid = make_order(7000, [("MENTOR-1H", 1)], modified="2026-11-28T10:00:00")
    cancelled = make_order(
        7000, [("MENTOR-1H", 1)], status="cancelled", modified="2026-11-28T11:00:00"
    )
    results = apply_orders(engine, [paid, cancelled, paid], catalogue=catalogue, settings=settings)
    assert [r.outcome.applied for r in results] == [True, True, False]
    # The mentor hour and the unused complimentary call it earned (nothing is paid any more).
    assert [e.kind for e in results[1].outcome.events if e.kind.startswith("credit")] == [
        "credit_reversed",
        "credit_reversed",
    ]
    with unit_of_work(engine) as session:
        amounts = sorted(
            row.amount
            for row in session.exec(select(LedgerEntry).where(LedgerEntry.order_id == 7000)).all()
        )
    assert amounts == [-60, 60]


def test_the_inbox_drains_a_batch_of_order_deliveries_as_one_page(engine, settings, catalogue):
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    page = mixed_page(30)
    page.append(make_order(6200, [("MENTOR-1H", 10**9)], email="absurd@example.com"))
    for payload in page:
        body = json.dumps(payload).encode()
        record_delivery(
            engine,
            Delivery("order.updated", "5", f"d-{payload['id']}", {}, body, payload),
            handled=frozenset(handlers),
            status="received",
        )
    with counted(engine) as statements:
        done = InboxDrain(engine, handlers, max_attempts=settings.inbox.max_attempts)()
    assert done == len(page)
    with unit_of_work(engine) as session:
        rows = {row.resource_id: row for row in session.exec(select(InboxDelivery)).all()}
    assert rows[6200].status == "rejected" and "quantity" in rows[6200].last_error
    assert {row.status for key, row in rows.items() if key != 6200} <= {"processed"}
    assert all(row.attempts == 1 for row in rows.values() if row.resource_id != 6200)
    # The claim, a few dozen statements per page of orders, the record: nowhere near one
    # transaction per delivery.
    pages = -(-len(page) // PAGE_SIZE[engine.dialect.name])
    assert len(statements) <= 20 + 45 * pages, len(statements)


def test_two_pages_at_once_share_new_learners_without_a_deadlock(engine, settings, catalogue):
    """Two workers apply pages of different orders by the same new buyers at the same time:
    neither fails, each buyer is one learner, every order is granted once."""
    import threading

    pages = [mixed_page(30, first_id=8000), mixed_page(30, first_id=9000)]
    pages[1].reverse()  # the other worker meets the buyers in the other order
    barrier = threading.Barrier(2)
    results: dict[int, list[Any]] = {}
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = apply_orders(
                engine, pages[index], catalogue=catalogue, settings=settings, tell=Tell.NOTHING
            )
        except BaseException as exc:  # noqa: BLE001  (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert all(r.error is None for page in results.values() for r in page)
    with unit_of_work(engine) as session:
        emails = [row.email for row in session.exec(select(Learner)).all()]
        ledger = session.exec(select(LedgerEntry)).all()
    assert len(emails) == len(set(emails)) > 5
    assert set(emails) <= {p["billing"]["email"] for p in pages[0]}
    by_order = {row.order_id for row in ledger if row.order_id is not None}
    paid = {
        p["id"]
        for page in pages
        for p in page
        if p["status"] in ("processing", "completed")
        and p["line_items"][0]["sku"]
        in ("MENTOR-1H", "PROJ-DATAVIZ", "BUNDLE-DV-STACK", "MENTOR-PACK-3H")
    }
    assert paid <= by_order
    assert len({row.source_key for row in ledger}) == len(ledger)
