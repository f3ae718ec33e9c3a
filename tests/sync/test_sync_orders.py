"""The orders job catches what webhooks missed, exactly once, page by page, on both databases."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from threading import Event
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import func, select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Offer
from bridge.rules.inbound.payloads import DeliveryStatus
from bridge.services.inbox import Delivery, one_at_a_time, process_delivery, record_delivery
from bridge.services.ledger import balances, find_learner
from bridge.services.orders import process_order
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, LedgerEntry, Seat, utcnow
from sync.context import RunOptions
from sync.jobs import run_job
from sync.storage import advance_cursor, read_cursor
from tests.support.sync import real_orders

# Yesterday, to the second: every moment a test uses is in the past, as a shop's orders are.
T0 = (utcnow() - timedelta(days=1)).replace(microsecond=0)
MINUTE = timedelta(minutes=1)
# Request counts and paging do not depend on the database: those tests run on SQLite only.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def order_lists(http) -> list[dict[str, str]]:
    """The query of every orders list request sent, in order."""
    queries = []
    for call in http.calls:
        parts = urlsplit(call.request.url)
        if parts.path.endswith("/wc/v3/orders"):
            queries.append({k: v[-1] for k, v in parse_qs(parts.query).items()})
    return queries


def refund_lookups(http) -> list[str]:
    return [urlsplit(c.request.url).path for c in http.calls if c.request.url.find("/refunds") > 0]


def grants_of(engine, order_id: int) -> int:
    with unit_of_work(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.order_id == order_id, LedgerEntry.reason == "grant")
        ).one()


def ledger_rows(engine) -> int:
    with unit_of_work(engine) as session:
        return session.exec(select(func.count()).select_from(LedgerEntry)).one()


def balance_of(engine, email: str) -> dict[str, int]:
    with unit_of_work(engine) as session:
        learner = find_learner(session, email)
        return balances(session, learner.id) if learner else {}


def wc(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def test_orders_missed_while_deliveries_failed_are_granted_by_the_next_run_exactly_once(
    engine, settings, catalogue, shop, ports
):
    """Orders whose webhooks failed or never came are granted by the next run, and only once."""
    delivered = shop.place(101, [("MENTOR-1H", 1)], T0)
    process_order(engine, delivered, catalogue=catalogue, settings=settings)
    assert run_job("orders", ports, RunOptions(full=True)).tally.grants == 0

    # Downtime: 102's delivery is stored but fails; 103's webhook was disabled, nothing came.
    failed = shop.place(102, [("MENTOR-PACK-3H", 1)], T0 + 60 * MINUTE)
    delivery = Delivery(
        topic="order.created",
        webhook_id="5",
        delivery_id="d-102",
        headers={},
        body=json.dumps(failed).encode(),
        payload=failed,
    )
    inbox_id = record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id

    def database_down(_payload):
        raise PermanentError("database unavailable")

    status = process_delivery(
        engine,
        inbox_id,
        {"order": one_at_a_time(database_down)},
        max_attempts=8,
        now=T0 + 60 * MINUTE,
    )
    assert status == DeliveryStatus.FAILED
    shop.place(103, [("COHORT-DV-2027-01", 1)], T0 + 120 * MINUTE)

    result = run_job("orders", ports)
    assert result.status == "ok", result.reason
    assert (result.tally.fetched, result.tally.changed) == (3, 2)
    assert (result.tally.grants, result.tally.seats) == (3, 1)  # 180 min + two first calls
    assert balance_of(engine, "learner102@example.com") == {"mentor_minutes": 180 + 30}
    assert balance_of(engine, "learner103@example.com") == {"mentor_minutes": 30}

    rows = ledger_rows(engine)
    retried = run_job("inbox", ports)  # the failed delivery comes due and is processed
    assert retried.status == "ok" and retried.tally.changed == 1
    with unit_of_work(engine) as session:
        assert session.get(InboxDelivery, inbox_id).status == DeliveryStatus.PROCESSED
    again = run_job("orders", ports)
    assert (again.tally.grants, again.tally.seats) == (0, 0)
    assert ledger_rows(engine) == rows
    with unit_of_work(engine) as session:
        assert session.exec(select(func.count()).select_from(Seat)).one() == 1


def test_the_overlap_window_catches_a_late_save_and_never_grants_twice(
    engine, settings, shop, ports, http
):
    """An order saved just before the cursor is caught by the overlap; the rest is not regranted."""
    shop.place(201, [("MENTOR-1H", 1)], T0)
    shop.place(202, [("MENTOR-1H", 2)], T0 + 10 * MINUTE)
    first = run_job("orders", ports, RunOptions(full=True))
    assert first.tally.grants == 5  # three units, two first calls
    assert read_cursor(engine, "orders") == T0 + 10 * MINUTE
    rows = ledger_rows(engine)

    # Stamped before the cursor, but only visible in the shop after the first run read it.
    shop.place(203, [("MENTOR-1H", 1)], T0 + 9 * MINUTE)
    second = run_job("orders", ports)
    overlap = timedelta(seconds=settings.sync.overlap_seconds)
    assert order_lists(http)[-1]["modified_after"] == wc(T0 + 10 * MINUTE - overlap)
    assert (second.tally.fetched, second.tally.changed, second.tally.grants) == (2, 1, 2)
    assert grants_of(engine, 203) == 1
    assert (grants_of(engine, 201), grants_of(engine, 202)) == (1, 2)
    assert ledger_rows(engine) == rows + 2
    third = run_job("orders", ports)
    assert (third.tally.fetched, third.tally.grants) == (2, 0)


def test_the_cursor_never_moves_past_a_page_that_was_not_committed(engine, shop, ports):
    """A run that dies mid-page leaves the cursor at the last whole page, and none of that page
    applied (a page is one unit of work, its refunds read before it opens); the next run
    completes."""
    for n in range(6):
        refunds = [{"id": 77, "reason": "", "total": "-10.00"}] if n == 3 else None
        shop.place(301 + n, [("MENTOR-1H", 1)], T0 + n * MINUTE, refunds=refunds)
    shop.refunds[304] = [{"id": 77, "amount": "10.00", "line_items": []}]
    shop.unavailable_refunds.add(304)  # the shop falls over while page 2 is being applied

    crashed = run_job("orders", ports, RunOptions(full=True))
    assert crashed.status == "failed"
    assert "unavailable" in crashed.reason and "\n" not in crashed.reason
    assert read_cursor(engine, "orders") == T0 + 1 * MINUTE  # page 1, not 303 of page 2
    assert [grants_of(engine, 301 + n) for n in range(6)] == [1, 1, 0, 0, 0, 0]

    shop.unavailable_refunds.clear()
    resumed = run_job("orders", ports)
    assert resumed.status == "ok", resumed.reason
    assert read_cursor(engine, "orders") == T0 + 5 * MINUTE
    assert [grants_of(engine, 301 + n) for n in range(6)] == [1] * 6


def test_an_order_that_cannot_be_applied_fails_the_run_and_holds_the_cursor_before_it(
    engine, catalogue, shop, ports
):
    """The other orders are applied; the cursor waits just before the bad one, to retry it."""
    new = Offer("COHORT-NEW", "cohort_seat", "New cohort", cohort="NEW-2027")
    ports.file_catalogue = lambda: dataclasses.replace(
        catalogue, offers={**catalogue.offers, "COHORT-NEW": new}
    )
    shop.place(401, [("MENTOR-1H", 1)], T0)
    shop.place(402, [("COHORT-NEW", 1)], T0 + 1 * MINUTE)
    shop.place(403, [("MENTOR-1H", 1)], T0 + 2 * MINUTE)
    shop.place(404, [("MENTOR-1H", 1)], T0 + 3 * MINUTE)

    result = run_job("orders", ports, RunOptions(full=True))
    assert result.status == "failed"
    assert result.reason.startswith("1 order(s) could not be applied: order 402: cohort")
    assert [grants_of(engine, n) for n in (401, 403, 404)] == [1, 1, 1]
    assert read_cursor(engine, "orders") == T0 + 1 * MINUTE - timedelta(seconds=1)


def test_a_dry_run_over_a_page_with_a_bad_order_reports_the_rest_and_writes_nothing(
    engine, catalogue, shop, ports
):
    """The page falls back to one order at a time inside the dry run's transaction: the bad
    order is reported, the others would change, and nothing is kept."""
    new = Offer("COHORT-NEW", "cohort_seat", "New cohort", cohort="NEW-2027")
    ports.file_catalogue = lambda: dataclasses.replace(
        catalogue, offers={**catalogue.offers, "COHORT-NEW": new}
    )
    ports.page_size = 100
    shop.place(411, [("MENTOR-1H", 1)], T0)
    shop.place(412, [("COHORT-NEW", 1)], T0 + 1 * MINUTE)
    shop.place(413, [("MENTOR-1H", 1)], T0 + 2 * MINUTE)

    dry = run_job("orders", ports, RunOptions(full=True, dry_run=True))
    assert dry.status == "failed"
    assert "order 412: cohort" in dry.reason
    assert [grants_of(engine, n) for n in (411, 412, 413)] == [0, 0, 0]
    assert read_cursor(engine, "orders") is None

    real = run_job("orders", ports, RunOptions(full=True))
    assert real.reason == dry.reason
    assert [line.replace("would change", "changed") for line in dry.changes] == real.changes
    assert dry.tally.grants == real.tally.grants == 4  # an hour and a first call each
    assert [grants_of(engine, n) for n in (411, 412, 413)] == [1, 0, 1]


@sqlite_only
def test_an_incremental_run_over_an_unchanged_shop_costs_one_request(engine, shop, ports, http):
    """Re-reading the overlap costs one list request: known refunds are not fetched again."""
    ports.page_size = 100
    shop.add(*real_orders())
    first = run_job("orders", ports, RunOptions(full=True))
    assert first.status == "ok", first.reason
    assert first.tally.requests == 2  # the list, and the refunds of order 28
    assert refund_lookups(http) == ["/wp-json/wc/v3/orders/28/refunds"]
    assert balance_of(engine, "alice@example.com") == {"mentor_minutes": 180 + 60 + 30}

    calls = len(http.calls)
    again = run_job("orders", ports)
    assert again.tally.requests == 1
    assert len(http.calls) == calls + 1
    assert again.tally.fetched == 4  # all four sit in the overlap window, order 28 included
    assert (again.tally.changed, again.tally.grants) == (0, 0)


@sqlite_only
def test_a_full_sync_costs_a_list_request_per_page_and_only_the_refund_lookups_it_needs(
    engine, shop, ports, http
):
    """N orders cost ceil(N / page size) list requests plus the one refund look-up that matters."""
    # The page size is WooCommerce's maximum, 100, in production (asserted in the CLI tests);
    # two here, as on the captured pages, so that seven orders make four pages.
    shop.add(*real_orders())  # order 28 is paid with a refund: its refunds must be read
    shop.place(
        600,
        [("MENTOR-1H", 1)],
        T0,
        status="refunded",
        refunds=[{"id": 88, "reason": "", "total": "-55.00"}],
    )  # confers nothing anyway
    for n in range(2):
        shop.place(601 + n, [("MENTOR-1H", 1)], T0 + n * MINUTE, status="on-hold", paid=None)

    result = run_job("orders", ports, RunOptions(full=True))
    assert result.status == "ok", result.reason
    assert result.tally.fetched == 7
    assert len(order_lists(http)) == 4  # ceil(7 / 2)
    assert refund_lookups(http) == ["/wp-json/wc/v3/orders/28/refunds"]
    assert result.tally.requests == 5

    again = run_job("orders", ports, RunOptions(full=True))
    assert again.tally.requests == 4  # refunds known now


@sqlite_only
def test_an_order_moved_by_a_change_during_the_run_is_still_applied(engine, shop, ports, http):
    """A change mid-run shifts the pages; the boundary is read again and nothing is skipped."""
    for n in range(6):
        shop.place(501 + n, [("MENTOR-1H", 1)], T0 + n * MINUTE)
    moved = []

    def complete_the_first_order(page: int) -> None:
        if page == 2 and not moved:
            moved.append(501)  # the creator marks 501 completed: it moves to the end
            shop.touch(501, T0 + 60 * MINUTE, status="completed")

    shop.before_orders_page = complete_the_first_order
    result = run_job("orders", ports, RunOptions(full=True))
    assert result.status == "ok", result.reason
    assert [grants_of(engine, 501 + n) for n in range(6)] == [1] * 6
    assert any("re-read" in note for note in result.notes)
    boundary = order_lists(http)[3]
    assert (boundary["modified_after"], boundary["modified_before"]) == (
        wc(T0 + 1 * MINUTE - timedelta(seconds=1)),
        wc(T0 + 3 * MINUTE + timedelta(seconds=1)),
    )


@sqlite_only
def test_a_stop_request_finishes_the_current_page_and_applies_no_more(engine, shop, ports, http):
    """SIGTERM's flag is checked between pages: the page in hand is committed, then it stops."""
    for n in range(6):
        shop.place(701 + n, [("MENTOR-1H", 1)], T0 + n * MINUTE)
    stop = Event()
    shop.before_orders_page = lambda page: stop.set()

    result = run_job("orders", ports, RunOptions(full=True), stop=stop)
    assert result.status == "ok"
    assert result.notes[-1] == "stopped on request after page 1 of 3"
    # Pages read ahead on the other connections are dropped unapplied.
    assert len(order_lists(http)) <= 1 + ports.settings.http.connections
    assert [grants_of(engine, 701 + n) for n in range(6)] == [1, 1, 0, 0, 0, 0]
    assert read_cursor(engine, "orders") == T0 + 1 * MINUTE


@sqlite_only
def test_the_first_run_starts_when_the_bridge_first_heard_from_the_shop(
    engine, shop, ports, http, settings
):
    """Without a cursor the run goes back to the first delivery, not to the shop's beginning."""
    heard = T0 + 30 * MINUTE
    body = b'{"id": 1}'
    record_delivery(
        engine,
        Delivery("order.updated", "5", "d-1", {}, body, {"id": 1}),
        handled=frozenset({"order"}),
    )
    with unit_of_work(engine) as session:
        row = session.exec(select(InboxDelivery)).one()
        row.received_at = heard
        session.add(row)
        session.commit()
    result = run_job("orders", ports)
    overlap = timedelta(seconds=settings.sync.overlap_seconds)
    assert order_lists(http)[0]["modified_after"] == wc(heard - overlap)
    assert "--full" in result.notes[0]

    run_job("orders", ports, RunOptions(full=True))
    assert "modified_after" not in order_lists(http)[1]
    run_job("orders", ports, RunOptions(since=T0))
    assert order_lists(http)[2]["modified_after"] == wc(T0)
    assert all(q["per_page"] == "2" and q["orderby"] == "modified" for q in order_lists(http))


def _writes_during(engine, action) -> list[str]:
    """The INSERT/UPDATE/DELETE statements ``action`` sent, the job's own lease, cursor and
    last-run row aside."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        head = statement.lstrip().split(None, 3)
        if head and head[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            target = (head[2] if head[0].upper() != "UPDATE" else head[1]).strip('"')
            if target not in ("job_lease", "sync_cursor", "job_run"):
                statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return statements


def test_a_full_sync_over_an_unchanged_shop_writes_nothing_for_its_orders(engine, shop, ports):
    """Orders unchanged since they were applied are skipped without a single write."""
    for n in range(5):
        shop.place(801 + n, [("MENTOR-1H", 1)], T0 + n * MINUTE)
    shop.place(806, [("COHORT-DV-2027-01", 1)], T0 + 5 * MINUTE)
    first = run_job("orders", ports, RunOptions(full=True))
    assert (first.status, first.tally.changed) == ("ok", 6)

    again: list = []
    writes = _writes_during(
        engine, lambda: again.append(run_job("orders", ports, RunOptions(full=True)))
    )
    assert writes == []
    assert (again[0].status, again[0].tally.fetched, again[0].tally.changed) == ("ok", 6, 0)


def test_a_cursor_is_made_on_first_use_and_only_ever_moves_forward(engine):
    """advance_cursor says where the cursor is after it: an older moment leaves it."""
    assert read_cursor(engine, "orders") is None
    assert advance_cursor(engine, "orders", T0 + MINUTE) == T0 + MINUTE
    assert advance_cursor(engine, "orders", T0) == T0 + MINUTE
    assert advance_cursor(engine, "orders", T0 + MINUTE) == T0 + MINUTE
    assert advance_cursor(engine, "orders", T0 + 2 * MINUTE) == T0 + 2 * MINUTE
    assert read_cursor(engine, "orders") == T0 + 2 * MINUTE
    assert read_cursor(engine, "products") is None


def test_a_run_writes_the_cursor_only_for_pages_that_move_it(engine, shop, ports):
    """A page whose newest change the cursor already passed commits nothing of its own: a
    re-run over an unchanged shop leaves the cursor unwritten, a newer order moves it."""
    from sqlalchemy import event

    for n in range(6):
        shop.place(851 + n, [("MENTOR-1H", 1)], T0 + n * MINUTE)
    assert run_job("orders", ports, RunOptions(full=True)).status == "ok"
    assert read_cursor(engine, "orders") == T0 + 5 * MINUTE
    cursor_writes: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "sync_cursor" in statement and not statement.lstrip().upper().startswith("SELECT"):
            cursor_writes.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert run_job("orders", ports, RunOptions(full=True)).status == "ok"
        assert cursor_writes == []
        shop.place(857, [("MENTOR-1H", 1)], T0 + 6 * MINUTE)
        assert run_job("orders", ports, RunOptions(full=True)).status == "ok"
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert cursor_writes  # the last page moved it
    assert read_cursor(engine, "orders") == T0 + 6 * MINUTE


def test_a_duplicate_webhook_payload_is_skipped_without_a_write(engine, settings, catalogue, shop):
    """The same order payload applied twice writes only the first time."""
    order = shop.place(811, [("MENTOR-1H", 1)], T0)
    assert process_order(engine, order, catalogue=catalogue, settings=settings).events
    writes = _writes_during(
        engine, lambda: process_order(engine, order, catalogue=catalogue, settings=settings)
    )
    assert writes == []
    assert grants_of(engine, 811) == 1


def test_an_unchanged_order_is_applied_again_once_its_product_maps_to_an_offer(
    engine, settings, catalogue, shop
):
    """A catalogue change is part of what an order depends on: the same payload then applies."""
    order = shop.place(821, [("MENTOR-1H", 1)], T0)
    offers = {sku: offer for sku, offer in catalogue.offers.items() if sku != "MENTOR-1H"}
    unmapped = dataclasses.replace(catalogue, offers=offers)
    assert process_order(engine, order, catalogue=unmapped, settings=settings).unmapped
    assert grants_of(engine, 821) == 0
    outcome = process_order(engine, order, catalogue=catalogue, settings=settings)
    # The mentor hour, and the complimentary call an order of only unmapped lines did not earn.
    assert outcome.count("credit_granted") == 2
    assert grants_of(engine, 821) == 1
