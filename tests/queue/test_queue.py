"""The durable queue under both the inbox and the outbox: claims with a lease that two workers
never share, attempts and backoff by one retry policy, dead-letter, retry-now and listing, on
both databases."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bridge.errors import PermanentError
from bridge.rules.retry import backoff
from bridge.services.inbox import (
    Delivery,
    InboxDrain,
    one_at_a_time,
    process_delivery,
    record_delivery,
    retry_now,
)
from bridge.services.queue import (
    INBOX,
    OUTBOX,
    ListQuery,
    Queue,
    claim,
    counts,
    due_ids,
    list_rows,
    retry,
    show_row,
)
from bridge.services.writeback import drain_outbox, retry_outbox
from bridge.services.writeback.queue import insert_outbox_rows
from bridge.settings import Settings
from bridge.shop.errors import ShopUnavailable
from bridge.shop.protocol import BatchResult
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, OutboxItem, OutboxStatus, utcnow
from tests.support.sample_shop import make_order

pytestmark = pytest.mark.both_databases

LEASE = timedelta(minutes=2)


def store_deliveries(engine: Engine, count: int, first: int = 7000) -> list[int]:
    """``count`` received order deliveries, oldest first; their inbox ids."""
    ids = []
    for order_id in range(first, first + count):
        order = make_order(order_id, [("MENTOR-1H", 1)])
        body = json.dumps(order).encode()
        delivery = Delivery("order.updated", "5", f"d-{order_id}", {}, body, order)
        ids.append(record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id)
    return ids


def store_writebacks(engine: Engine, count: int, first: int = 500) -> list[int]:
    """``count`` pending product stock updates; their outbox ids, oldest first."""
    with unit_of_work(engine) as session:
        insert_outbox_rows(
            session,
            [
                {
                    "resource": "product",
                    "operation": "update",
                    "target_id": product,
                    "target_key": f"product:{product}:stock",
                    "payload": {"data": {"stock_quantity": 3}},
                    "created_at": utcnow(),
                }
                for product in range(first, first + count)
            ],
        )
        session.commit()
    return due_ids(engine, OUTBOX, utcnow(), limit=10_000)


def naive(moment: datetime) -> datetime:
    """A moment as the databases give it back (UTC, no zone)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def stored(engine: Engine, queue: Queue) -> dict[int, Any]:
    with unit_of_work(engine) as session:
        return {row.id: row for row in session.exec(select(queue.model)).all()}


@pytest.mark.parametrize("queue", [INBOX, OUTBOX], ids=["inbox", "outbox"])
def test_a_claim_takes_due_rows_oldest_first_once_until_its_lease_ends(
    engine: Engine, queue: Queue
) -> None:
    """Two claims take disjoint rows in id order; an expired lease makes the rows due again."""
    ids = store_deliveries(engine, 5) if queue is INBOX else store_writebacks(engine, 5)
    now = utcnow()
    first = claim(engine, queue, now=now, lease=LEASE, limit=3)
    second = claim(engine, queue, now=now, lease=LEASE, limit=3)
    assert first == ids[:3] and second == ids[3:]
    assert claim(engine, queue, now=now + LEASE - timedelta(seconds=1), lease=LEASE, limit=9) == []
    assert claim(engine, queue, now=now + LEASE, lease=LEASE, limit=9) == ids
    assert {naive(row.next_attempt_at) for row in stored(engine, queue).values()} == {
        naive(now + LEASE + LEASE)
    }


def test_a_claim_sets_its_queue_s_own_values_and_only_the_ids_asked_for(engine: Engine) -> None:
    """The outbox marks what it claims as being sent; ``ids`` limits a claim to those rows."""
    ids = store_writebacks(engine, 4)
    now = utcnow()
    taken = claim(
        engine,
        OUTBOX,
        now=now,
        lease=LEASE,
        limit=10,
        ids=[ids[1], ids[3]],
        values={"status": OutboxStatus.SENDING, "claimed_at": now},
    )
    assert taken == [ids[1], ids[3]]
    rows = stored(engine, OUTBOX)
    assert [rows[i].status for i in ids] == ["pending", "sending", "pending", "sending"]
    assert claim(engine, OUTBOX, now=now, lease=LEASE, limit=10, ids=[]) == []


@pytest.mark.parametrize("queue", [INBOX, OUTBOX], ids=["inbox", "outbox"])
def test_four_workers_claiming_at_once_never_take_the_same_row(
    engine: Engine, queue: Queue
) -> None:
    """Every row is claimed by exactly one of four concurrent claimers (SKIP LOCKED on
    PostgreSQL, the one write lock on SQLite)."""
    ids = store_deliveries(engine, 120) if queue is INBOX else store_writebacks(engine, 120)
    now = utcnow()
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(mine: list[int]) -> None:
        try:
            start.wait()
            while batch := claim(engine, queue, now=now, lease=LEASE, limit=7):
                mine.extend(batch)
        except BaseException as exc:  # noqa: BLE001  (reported by the test, not the thread)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    claimed = [row for mine in taken for row in mine]
    assert sorted(claimed) == ids  # all of them, none twice
    assert sum(1 for mine in taken if mine) >= 2 or engine.dialect.name == "sqlite"


def test_inbox_attempts_back_off_by_the_retry_policy_then_dead_letter(
    engine: Engine,
) -> None:
    """Each failure is one attempt, due again after rules.retry.backoff; the last one is dead."""
    [inbox_id] = store_deliveries(engine, 1)

    def broken(payload: Any) -> str:
        raise ValueError("shop said no")

    now = utcnow()
    for attempt in (1, 2):
        assert process_delivery(
            engine, inbox_id, {"order": one_at_a_time(broken)}, max_attempts=3, now=now
        ) == ("failed")
        row = stored(engine, INBOX)[inbox_id]
        assert row.attempts == attempt
        assert naive(row.next_attempt_at) == naive(now + backoff(attempt))
        now = now + backoff(attempt)
    assert (
        process_delivery(
            engine, inbox_id, {"order": one_at_a_time(broken)}, max_attempts=3, now=now
        )
        == "dead"
    )
    row = stored(engine, INBOX)[inbox_id]
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 3, None)
    assert due_ids(engine, INBOX, now + timedelta(days=365)) == []


class DownShop:
    """A shop that answers every batch with 503 (the drain stops; the row backs off)."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, path: str, params: Any = None) -> Any:
        raise AssertionError("no reads expected")

    def post(self, path: str, data: Any) -> Any:
        raise AssertionError("no notes expected")

    def batch(self, resource: str, **items: Any) -> BatchResult:
        self.calls += 1
        raise ShopUnavailable(
            "503 from the shop",
            host="shop.example.com",
            method="POST",
            resource=resource,
            reason="503",
            hint="",
            status=503,
        )


def test_outbox_attempts_back_off_by_the_same_policy_then_dead_letter(
    engine: Engine, settings: Settings
) -> None:
    """The outbox's failures follow the inbox's policy: 30 s, 60 s, then dead at the maximum."""
    settings = settings.replace(writeback={"outbox_max_attempts": 3})
    [item_id] = store_writebacks(engine, 1)
    shop = DownShop()
    now = utcnow()
    for attempt in (1, 2):
        summary = drain_outbox(engine, shop, settings, now=now)
        assert summary.retrying == 1 and summary.stopped
        row = stored(engine, OUTBOX)[item_id]
        assert (row.status, row.attempts) == ("pending", attempt)
        assert naive(row.next_attempt_at) == naive(now + backoff(attempt))
        assert drain_outbox(engine, shop, settings, now=now).sent == 0  # not due yet
        now = now + backoff(attempt)
    assert drain_outbox(engine, shop, settings, now=now).dead == 1
    assert shop.calls == 3
    row = stored(engine, OUTBOX)[item_id]
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 3, None)


def test_retry_now_gives_dead_rows_of_both_queues_fresh_attempts_due_now(
    engine: Engine, settings: Settings
) -> None:
    """A dead delivery and a dead write-back come back with no attempts, due now, through the
    queue's one retry; a row in another status is not retried by its id."""
    [inbox_id, other] = store_deliveries(engine, 2)
    [item_id] = store_writebacks(engine, 1)
    for model, row_id in ((InboxDelivery, inbox_id), (OutboxItem, item_id)):
        with unit_of_work(engine) as session:
            row = session.get(model, row_id)
            row.status, row.attempts = "dead", 5
            session.add(row)
            session.commit()
    assert retry_now(engine, inbox_id) == 1
    assert retry_now(engine, other) == 0  # still received: nothing to retry
    assert retry_outbox(engine, item_id) == 1
    now = utcnow()
    for queue, row_id in ((INBOX, inbox_id), (OUTBOX, item_id)):
        row = stored(engine, queue)[row_id]
        assert (row.status, row.attempts) == (queue.retry_to, 0)
        assert row_id in due_ids(engine, queue, now + timedelta(seconds=1))
    with pytest.raises(PermanentError, match="only dead or pending rows"):
        with unit_of_work(engine) as session:
            row = session.get(OutboxItem, item_id)
            row.status = OutboxStatus.SENT
            session.add(row)
            session.commit()
        retry_outbox(engine, item_id)
    assert retry(engine, OUTBOX, now, statuses=[OutboxStatus.DEAD]) == []


def test_a_listing_pages_filters_and_counts_the_same_way_for_both_queues(engine: Engine) -> None:
    """Pages never overlap; the total and the counts are the whole filter's and queue's."""
    deliveries = store_deliveries(engine, 7)
    writebacks = store_writebacks(engine, 5)
    page = list_rows(engine, INBOX, ListQuery(limit=3, offset=3))
    assert [row["id"] for row in page.rows] == deliveries[::-1][3:6]  # newest first
    assert (page.total, page.counts) == (7, {"received": 7})
    oldest = list_rows(engine, INBOX, ListQuery(limit=2, descending=False))
    assert [row["id"] for row in oldest.rows] == deliveries[:2]
    outbox = list_rows(engine, OUTBOX, ListQuery(limit=2, offset=4))
    assert [row["id"] for row in outbox.rows] == writebacks[4:]  # oldest first
    assert set(outbox.rows[0]) == set(OUTBOX.listed)
    filtered = list_rows(engine, OUTBOX, ListQuery(filters={"target_id": 502}))
    assert [row["target_key"] for row in filtered.rows] == ["product:502:stock"]
    sorted_rows = list_rows(engine, OUTBOX, ListQuery(sort="target_key", descending=True))
    assert sorted_rows.rows[0]["target_key"] == "product:504:stock"
    assert list_rows(engine, OUTBOX, ListQuery(statuses=["dead"])).total == 0
    assert counts(engine, OUTBOX) == {"pending": 5}
    shown = show_row(engine, OUTBOX, writebacks[0])
    assert shown is not None and shown["payload"] == {"data": {"stock_quantity": 3}}
    assert show_row(engine, INBOX, 10**9) is None
    with pytest.raises(PermanentError, match="not one of"):
        list_rows(engine, INBOX, ListQuery(statuses=["sent"]))
    with pytest.raises(PermanentError, match="no column 'body'"):
        list_rows(engine, INBOX, ListQuery(sort="body"))


def test_the_drain_retries_a_failed_delivery_once_its_backoff_is_over(engine: Engine) -> None:
    """Retries go through the same batch drain as new deliveries: not before the backoff ends,
    then claimed and processed like any due row."""
    [inbox_id] = store_deliveries(engine, 1)
    calls: list[int] = []

    def flaky(payload: Any) -> str:
        calls.append(payload["id"])
        if len(calls) == 1:
            raise ValueError("catalogue not loaded yet")
        return "ok"

    now = utcnow()
    drain = InboxDrain(engine, {"order": one_at_a_time(flaky)}, max_attempts=3, clock=lambda: now)
    assert drain() == 1
    assert stored(engine, INBOX)[inbox_id].status == "failed"
    now += backoff(1) - timedelta(seconds=1)
    assert drain() == 0
    now += timedelta(seconds=1)
    assert drain() == 1
    row = stored(engine, INBOX)[inbox_id]
    assert (row.status, row.attempts, calls) == ("processed", 2, [7000, 7000])
