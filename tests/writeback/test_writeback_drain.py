"""Draining the outbox into a WooCommerce shop faked over HTTP: batched, once, and no more."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import responses

from bridge.services.orders import process_order
from bridge.services.writeback import drain_outbox, retry_outbox
from bridge.services.writeback.outbox import CLAIM_LEASE
from bridge.services.writeback.plan import enqueue_cohort_stock
from bridge.store.db import unit_of_work
from bridge.store.models import Cohort
from tests.support.paths import load_json
from tests.support.sample_shop import make_order
from tests.support.writeback import outbox, shop_catalogue, shop_client, store_shop

NOW = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)


def queue_stock(engine, catalogue, codes=None) -> list[str]:
    with unit_of_work(engine) as session:
        keys = enqueue_cohort_stock(session, catalogue, codes)
        session.commit()
    return keys


def set_capacity(engine, capacity: int, code: str = "DV-2027-01") -> None:
    with unit_of_work(engine) as session:
        cohort = session.get(Cohort, code)
        cohort.capacity = capacity
        session.add(cohort)
        session.commit()


def test_250_stock_changes_go_out_as_three_batch_calls(engine, shop_settings, shop):
    """A cohort sold through 250 products: 100 + 100 + 50 items, three requests in all."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    bindings = {1000 + n: "COHORT-DV-2027-01" for n in range(250)}
    catalogue = replace(catalogue, bindings=bindings)
    assert len(queue_stock(engine, catalogue)) == 250
    client = shop_client(shop_settings)
    summary = drain_outbox(engine, client, shop_settings, now=NOW)
    sizes = [len(body["update"]) for body in shop.sent("POST", "products/batch")]
    assert sizes == [100, 100, 50]
    assert client.request_counts == {("POST", "products/batch"): 3}
    assert (summary.sent, summary.http_requests) == (250, 3)
    ids = [item["id"] for body in shop.sent("POST", "products/batch") for item in body["update"]]
    assert sorted(ids) == sorted(bindings)
    assert {row.status for row in outbox(engine)} == {"sent"}


def test_an_unchanged_value_sends_nothing(engine, shop_settings, shop):
    """Stock equal to what was last written is not queued, nor sent when it comes back to it."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    queue_stock(engine, catalogue)
    client = shop_client(shop_settings)
    drain_outbox(engine, client, shop_settings, now=NOW)
    assert client.total_requests() == 1
    assert queue_stock(engine, catalogue) == []  # same seats left: nothing to queue
    set_capacity(engine, 2)
    assert queue_stock(engine, catalogue) == ["product:22:stock"]
    set_capacity(engine, 3)
    queue_stock(engine, catalogue)  # back to what the shop has, before any drain
    summary = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (summary.unchanged, summary.sent, summary.http_requests) == (1, 0, 0)
    assert client.total_requests() == 1
    assert [row.status for row in outbox(engine)] == ["sent", "unchanged"]


def test_a_503_then_success_delivers_each_change_exactly_once(engine, shop_settings, shop):
    """503s, within a call and then for a whole drain: every change reaches the shop once."""
    catalogue = shop_catalogue(coupons=False)
    store_shop(engine, catalogue)
    process_order(
        engine,
        make_order(200, [("COHORT-DV-2027-01", 1), ("MENTOR-1H", 1)]),
        catalogue=catalogue,
        settings=shop_settings,
    )
    shop.outages["POST products/batch"] = 1  # the client's own retry gets through
    shop.outages["POST orders/batch"] = shop_settings.http.max_attempts  # the client gives up
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    assert first.stopped.startswith("shop shop.example.com is unavailable")
    assert (first.sent, first.retrying) == (1, 1)
    [meta] = outbox(engine, target_key="order:200:meta")
    assert (meta.status, meta.attempts) == ("pending", 1)
    assert meta.next_attempt_at == NOW + timedelta(seconds=30)
    # The rows the stopped drain never tried go next time; the failed one after its backoff.
    drain_outbox(engine, client, shop_settings, now=NOW)
    assert outbox(engine, target_key="order:200:meta")[0].status == "pending"
    later = drain_outbox(engine, client, shop_settings, now=NOW + timedelta(minutes=1))
    assert (later.sent, later.http_requests) == (1, 1)
    assert {row.status for row in outbox(engine)} == {"sent"}
    delivered = [
        (path, item.get("id"))
        for _, path, body in shop.accepted
        if path.endswith("/batch")
        for item in body["update"]
    ]
    assert sorted(delivered) == [
        ("customers/batch", 2),
        ("orders/batch", 200),
        ("products/batch", 22),
    ]
    notes = [body["note"] for _, path, body in shop.accepted if path == "orders/200/notes"]
    assert len(notes) == len(set(notes)) == len(outbox(engine, resource="order_note"))
    assert (
        drain_outbox(engine, client, shop_settings, now=NOW + timedelta(hours=1)).http_requests == 0
    )


def _one_refused(error: dict[str, object]) -> dict[str, object]:
    """The real answer of a batch with one unknown product id, that item's error replaced."""
    answer = load_json("woocommerce-real/rest/5-products-batch-one-invalid.json")
    for item in answer["update"]:
        if "error" in item:
            item["error"] = {**item["error"], **error}
    return answer


def test_a_per_item_batch_error_is_retried_alone(engine, shop_settings, http):
    """WooCommerce refuses one item of three inside a 200: only that one goes again, alone."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    catalogue = replace(
        catalogue,
        bindings={23: "COHORT-DV-2027-01", 999999: "COHORT-DV-2027-01", 26: "COHORT-DV-2027-01"},
    )
    queue_stock(engine, catalogue)
    answer = _one_refused(
        {
            "code": "woocommerce_rest_cannot_edit",
            "message": "Sorry, you are not allowed to edit this resource.",
        }
    )
    url = "https://shop.example.com/wp-json/wc/v3/products/batch"
    http.add(responses.POST, url, json=answer)
    client = shop_client(shop_settings)
    summary = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (summary.sent, summary.retrying) == (2, 1)
    [refused] = [row for row in outbox(engine) if row.status != "sent"]
    assert (refused.target_id, refused.status, refused.send_alone) == (999999, "pending", True)
    assert refused.last_error == (
        "woocommerce_rest_cannot_edit: Sorry, you are not allowed to edit this resource."
    )
    retry = http.add(responses.POST, url, json={"update": [{"id": 999999, "stock_quantity": 3}]})
    drain_outbox(engine, client, shop_settings, now=NOW + timedelta(minutes=1))
    assert retry.call_count == 1
    assert [item["id"] for item in json.loads(http.calls[-1].request.body)["update"]] == [999999]
    assert client.request_counts == {("POST", "products/batch"): 2}
    assert {row.status for row in outbox(engine)} == {"sent"}


def test_an_unknown_id_is_final_for_meta_and_stock_as_for_a_note(engine, shop_settings, http):
    """WooCommerce's "Invalid ID." for one item of a batch (the real answer): the shop has no
    such product or order, so the row is dead at once, not retried for hours; the rest sent."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    catalogue = replace(
        catalogue,
        bindings={23: "COHORT-DV-2027-01", 999999: "COHORT-DV-2027-01", 26: "COHORT-DV-2027-01"},
    )
    queue_stock(engine, catalogue)
    answer = load_json("woocommerce-real/rest/5-products-batch-one-invalid.json")
    url = "https://shop.example.com/wp-json/wc/v3/products/batch"
    call = http.add(responses.POST, url, json=answer)
    client = shop_client(shop_settings)
    summary = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (summary.sent, summary.retrying, summary.dead) == (2, 0, 1)
    [refused] = [row for row in outbox(engine) if row.status != "sent"]
    assert (refused.target_id, refused.status, refused.attempts) == (999999, "dead", 1)
    assert refused.last_error == "woocommerce_rest_product_invalid_id: Invalid ID."
    later = drain_outbox(engine, client, shop_settings, now=NOW + timedelta(hours=7))
    assert (later.http_requests, call.call_count) == (0, 1)


class Crash(BaseException):
    """The process dies: nothing after this point runs, no handler catches it."""


def test_a_note_is_not_duplicated_after_a_crash_between_send_and_commit(
    engine, shop_settings, shop
):
    """The shop stores the note, the drain dies before recording it; the next drain finds it.

    It recognises the note by its exact text among the order's notes: no marker is shown.
    """
    catalogue = shop_catalogue(coupons=False)
    store_shop(engine, catalogue)
    process_order(
        engine,
        make_order(201, [("COHORT-DV-2027-01", 1)]),
        catalogue=catalogue,
        settings=shop_settings,
    )
    # The seat and the complimentary call are worded together in the order's one note.
    [seat_note] = [
        row
        for row in outbox(engine, resource="order_note")
        if "seat_active" in row.payload.get("events", [row.payload["event"]])
    ]

    text = seat_note.payload["data"]["note"]
    assert "bridge" not in text and "[" not in text

    def crash_after_storing(note):
        if note["note"] == text:
            raise Crash

    shop.on_note = crash_after_storing
    client = shop_client(shop_settings)
    with pytest.raises(Crash):
        drain_outbox(engine, client, shop_settings, now=NOW)
    [row] = outbox(engine, id=seat_note.id)
    assert row.status == "sending"  # claimed, never recorded
    shop.on_note = None
    assert drain_outbox(engine, client, shop_settings, now=NOW).http_requests == 0  # leased
    summary = drain_outbox(engine, client, shop_settings, now=NOW + CLAIM_LEASE)
    assert summary.sent >= 1
    assert [n["note"] for n in shop.notes[201]].count(text) == 1
    # Each drain reads the order's notes once before posting.
    assert shop.sent("GET", "orders/201/notes") == [None, None]
    assert [b["note"] for b in shop.sent("POST", "orders/201/notes")].count(text) == 1
    [row] = outbox(engine, id=seat_note.id)
    assert (row.status, row.attempts, row.in_doubt) == ("sent", 1, False)


def test_a_note_in_doubt_but_absent_is_sent_once(engine, shop_settings, shop):
    """A note whose answer timed out is looked for first and, not found, created once."""
    catalogue = shop_catalogue(coupons=False)
    store_shop(engine, catalogue)
    process_order(
        engine, make_order(202, [("MENTOR-1H", 1)]), catalogue=catalogue, settings=shop_settings
    )
    shop.timeouts["POST orders/202/notes"] = 1
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (first.stopped, first.timed_out) == ("", 1)  # only this note waits
    [row] = outbox(engine, resource="order_note")  # the hour and the first call, in one note
    assert (row.status, row.in_doubt, row.attempts) == ("pending", True, 1)
    drain_outbox(engine, client, shop_settings, now=NOW + timedelta(minutes=1))
    assert shop.sent("GET", "orders/202/notes") == [None, None]
    assert [n["note"] for n in shop.notes[202]].count(row.payload["data"]["note"]) == 1
    assert {r.status for r in outbox(engine)} == {"sent"}


def test_rows_that_keep_failing_are_dead_lettered_and_can_be_retried(engine, shop_settings, shop):
    """After BRIDGE_OUTBOX_MAX_ATTEMPTS failed drains a row is dead; retry makes it due again."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    queue_stock(engine, catalogue)
    shop.outages["POST products/batch"] = 1000
    client = shop_client(shop_settings)
    moment = NOW
    for _ in range(shop_settings.writeback.outbox_max_attempts):
        summary = drain_outbox(engine, client, shop_settings, now=moment)
        moment += timedelta(hours=7)
    assert summary.dead == 1
    [row] = outbox(engine)
    assert (row.status, row.attempts) == ("dead", 3)
    assert drain_outbox(engine, client, shop_settings, now=moment).http_requests == 0
    assert retry_outbox(engine, all_dead=True, now=moment) == 1
    shop.outages.clear()
    assert drain_outbox(engine, client, shop_settings, now=moment).sent == 1
    assert outbox(engine)[0].status == "sent"


def test_a_dry_run_lists_the_exact_requests_and_writes_nothing(engine, shop_settings, shop):
    """The dry run's requests are the ones the real drain then sends, body for body."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(
        engine, make_order(203, [("PROJ-DATAVIZ", 1)]), catalogue=catalogue, settings=shop_settings
    )
    # A cohort also sold as a variation: its stock goes through the variable product.
    queue_stock(engine, replace(catalogue, bindings={19: "COHORT-DV-2027-01"}))
    before = [(row.id, row.status, row.attempts) for row in outbox(engine)]
    planned = drain_outbox(engine, None, shop_settings, now=NOW, dry_run=True)
    assert [(row.id, row.status, row.attempts) for row in outbox(engine)] == before
    assert shop.requests == []
    paths = [(r.method, r.path) for r in planned.requests]
    assert paths[:4] == [
        ("POST", "coupons/batch"),
        ("POST", "products/18/variations/batch"),
        ("POST", "orders/batch"),
        ("POST", "customers/batch"),
    ]
    assert paths[4] == ("GET", "orders/203/notes")  # look before creating, once per order
    assert set(paths[5:]) == {("POST", "orders/203/notes")}
    assert planned.requests[1].body == {
        "update": [{"id": 19, "manage_stock": True, "stock_quantity": 3, "backorders": "notify"}]
    }
    drain_outbox(engine, shop_client(shop_settings), shop_settings, now=NOW)
    assert [(m, p, b) for m, p, b in shop.requests] == [
        (r.method, r.path, r.body) for r in planned.requests
    ]


def test_a_note_about_a_coupon_waits_until_the_coupon_exists(engine, shop_settings, shop):
    """While the shop refuses the coupons, the notes naming them are deferred, not sent."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(
        engine, make_order(204, [("ASSESS-DV", 1)]), catalogue=catalogue, settings=shop_settings
    )
    shop.refuse_coupons = 2
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    # The order's one note names both coupons: it waits for them.
    assert (first.retrying, first.deferred, first.stopped) == (2, 1, "")
    assert not any("personal coupon" in n["note"] for n in shop.notes.get(204, []))
    second = drain_outbox(engine, client, shop_settings, now=NOW + timedelta(minutes=1))
    assert (second.sent, second.deferred) == (3, 0)
    # Each refused coupon was retried in a batch of its own.
    assert [len(b["create"]) for b in shop.sent("POST", "coupons/batch")] == [2, 1, 1]
    coupon_notes = [n for n in shop.notes[204] if "personal coupon" in n["note"]]
    assert sorted(
        code for code in shop.coupons if any(code in n["note"] for n in coupon_notes)
    ) == sorted(shop.coupons)
    assert all(n["customer_note"] for n in coupon_notes)


def test_a_coupon_created_by_a_lost_answer_is_not_created_again(engine, shop_settings, shop):
    """WooCommerce says the code exists (an earlier answer was lost): the coupon counts as made."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(
        engine, make_order(205, [("ASSESS-DV", 1)]), catalogue=catalogue, settings=shop_settings
    )
    for row in outbox(engine, resource="coupon"):
        shop.coupons[row.payload["data"]["code"]] = {"id": 700}
    summary = drain_outbox(engine, shop_client(shop_settings), shop_settings, now=NOW)
    assert summary.deferred == 0
    assert {row.status for row in outbox(engine)} == {"sent"}
    assert len(shop.coupons) == 2
