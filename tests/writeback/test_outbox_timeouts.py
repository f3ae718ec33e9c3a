"""A write-back the shop does not answer in time holds back only its own rows: the rest of the
drain goes on, and the row is looked for in the shop before it is sent again, so a note or a
coupon the shop made while the answer was lost is never made twice. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses

from bridge.services.orders import process_order
from bridge.services.writeback import drain_outbox
from bridge.services.writeback.outbox import TIMEOUTS_IN_A_ROW
from bridge.settings import Settings
from bridge.shop.errors import ShopUnavailable
from tests.support.sample_shop import make_order
from tests.support.writeback import FakeShop, outbox, shop_catalogue, shop_client, store_shop

NOW = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def orders(
    engine: Any, settings: Settings, ids: range, sku: str = "MENTOR-1H", coupons: bool = False
) -> None:
    catalogue = shop_catalogue(coupons=coupons)
    store_shop(engine, catalogue)
    for order_id in ids:
        process_order(
            engine,
            make_order(
                order_id, [(sku, 1)], customer_id=order_id, email=f"learner{order_id}@example.com"
            ),
            catalogue=catalogue,
            settings=settings,
        )


def note_posts(shop: FakeShop, order_id: int) -> list[str]:
    return [body["note"] for body in shop.sent("POST", f"orders/{order_id}/notes")]


def test_a_late_note_holds_back_only_its_row_and_is_found_not_posted_again(
    engine: Any,
    shop_settings: Settings,
    shop: FakeShop,
) -> None:
    """Ten orders' notes: the shop stores the fourth but answers too late. The other nine go
    in the same drain; the fourth is retried later, found among the order's notes and
    adopted: the learner has one note, the shop got one POST."""
    orders(engine, shop_settings, range(300, 310))
    shop.late = lambda method, path, _body: (method, path) == ("POST", "orders/303/notes")
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (first.stopped, first.timed_out, first.retrying) == ("", 1, 1)
    assert {order_id for order_id in range(300, 310) if shop.notes.get(order_id)} == set(
        range(300, 310)
    )  # the fourth too: the shop made it, the answer was lost
    [late] = outbox(engine, resource="order_note", target_id=303)
    assert (late.status, late.in_doubt, late.attempts) == ("pending", True, 1)
    assert "did not answer" in late.last_error
    assert {row.status for row in outbox(engine) if row.id != late.id} == {"sent"}
    shop.late = lambda *_: False
    second = drain_outbox(engine, client, shop_settings, now=LATER)
    assert (second.sent, second.adopted, second.http_requests) == (1, 1, 1)  # one GET
    assert shop.sent("GET", "orders/303/notes") == [None, None]  # looked at, each drain
    assert len(note_posts(shop, 303)) == 1
    assert [n["note"] for n in shop.notes[303]] == [late.payload["data"]["note"]]
    assert {row.status for row in outbox(engine)} == {"sent"}


def test_late_coupons_are_looked_for_by_code_before_they_are_created_again(
    engine: Any,
    shop_settings: Settings,
    shop: FakeShop,
) -> None:
    """The coupons' batch create is carried out but answered too late: the rest of the drain
    goes on (the note naming them waits); the next drain asks the shop for each code first,
    adopts what it finds, creates nothing twice, and then sends the note."""
    orders(engine, shop_settings, range(320, 321), sku="ASSESS-DV", coupons=True)
    shop.late = lambda method, path, _body: (method, path) == ("POST", "coupons/batch")
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (first.stopped, first.timed_out, first.deferred) == ("", 2, 1)
    assert len(shop.coupons) == 2  # made by the shop, the bridge does not know
    assert shop.sent("POST", "orders/batch") and shop.sent("POST", "customers/batch")
    coupons = outbox(engine, resource="coupon")
    assert {(c.status, c.in_doubt) for c in coupons} == {("pending", True)}
    shop.late = lambda *_: False
    second = drain_outbox(engine, client, shop_settings, now=LATER)
    assert (second.adopted, second.timed_out, second.stopped) == (2, 0, "")
    assert len(shop.sent("POST", "coupons/batch")) == 1  # never created again
    lookups = [(m, p) for m, p, _ in shop.requests if (m, p) == ("GET", "coupons")]
    assert len(lookups) == 2
    assert len(shop.coupons) == 2
    [note] = outbox(engine, resource="order_note")
    assert note.status == "sent" and all(
        code in note.payload["data"]["note"] for code in shop.coupons
    )
    assert {row.status for row in outbox(engine)} == {"sent"}


def test_an_update_batch_that_times_out_holds_back_only_its_targets(
    engine: Any,
    shop_settings: Settings,
    shop: FakeShop,
) -> None:
    """Order meta that times out on every try: customers' meta and the notes still go; the
    order meta follows in a later drain (an update is sent again as is: latest value wins)."""
    orders(engine, shop_settings, range(330, 333))
    shop.timeouts["POST orders/batch"] = shop_settings.http.max_attempts  # the client gives up
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    assert (first.stopped, first.timed_out) == ("", 3)
    assert shop.sent("POST", "customers/batch") and all(
        shop.notes.get(order_id) for order_id in range(330, 333)
    )
    assert {row.status for row in outbox(engine, resource="order")} == {"pending"}
    second = drain_outbox(engine, client, shop_settings, now=LATER)
    assert second.sent == 3
    assert {row.status for row in outbox(engine)} == {"sent"}


def test_a_shop_that_answers_nothing_in_time_stops_the_drain(
    engine: Any,
    shop_settings: Settings,
    shop: FakeShop,
) -> None:
    """Every note times out (nothing stored): after TIMEOUTS_IN_A_ROW the drain stops and
    leaves the rest untried, instead of waiting out a timeout for each row."""
    orders(engine, shop_settings, range(340, 348))
    for order_id in range(340, 348):
        shop.timeouts[f"POST orders/{order_id}/notes"] = 1
    summary = drain_outbox(engine, shop_client(shop_settings), shop_settings, now=NOW)
    assert summary.timed_out == TIMEOUTS_IN_A_ROW
    assert summary.stopped.startswith(f"the shop answered none of the last {TIMEOUTS_IN_A_ROW}")
    assert summary.left == 8 - TIMEOUTS_IN_A_ROW
    assert (
        len(
            shop.sent("POST", "orders/340/notes")
            + shop.sent("POST", "orders/341/notes")
            + shop.sent("POST", "orders/342/notes")
        )
        == TIMEOUTS_IN_A_ROW
    )
    assert shop.sent("POST", "orders/343/notes") == []
    shop.timeouts.clear()  # the shop answers again
    later = drain_outbox(
        engine, shop_client(shop_settings), shop_settings, now=NOW + timedelta(minutes=5)
    )
    assert later.stopped == "" and {row.status for row in outbox(engine)} == {"sent"}
    for order_id in range(340, 348):
        assert len(shop.notes[order_id]) == 1


def test_a_dry_run_names_the_lookup_of_a_coupon_in_doubt(
    engine: Any,
    shop_settings: Settings,
    shop: FakeShop,
) -> None:
    """The dry run shows that a coupon whose create may have arrived is looked for first."""
    orders(engine, shop_settings, range(350, 351), sku="ASSESS-DV", coupons=True)
    shop.late = lambda method, path, _body: (method, path) == ("POST", "coupons/batch")
    drain_outbox(engine, shop_client(shop_settings), shop_settings, now=NOW)
    planned = drain_outbox(engine, None, shop_settings, now=LATER, dry_run=True)
    gets = [r for r in planned.requests if r.method == "GET" and r.path.startswith("coupons?")]
    assert len(gets) == 2 and all("looked for first" in r.condition for r in gets)


def test_a_drain_waits_out_only_so_many_timeouts(
    engine: Any,
    shop_settings: Settings,
    shop: FakeShop,
) -> None:
    """Every other note answered late: the drain goes on past each, but stops once the
    timeouts would have kept it waiting a third of its claim's lease (10 at a 30 s read
    timeout); what is left goes with the next drain, and no note is posted twice."""
    orders(engine, shop_settings, range(360, 390))
    late_orders = {f"orders/{order_id}/notes" for order_id in range(360, 390, 2)}
    shop.late = lambda method, path, _body: method == "POST" and path in late_orders
    client = shop_client(shop_settings)
    first = drain_outbox(engine, client, shop_settings, now=NOW)
    assert first.timed_out == 10
    assert first.stopped.startswith("10 requests were not answered in time in this drain")
    assert first.left == 11  # 360..378 tried (10 late, 9 answered), 379..389 not
    shop.late = lambda *_: False
    drain_outbox(engine, client, shop_settings, now=LATER)
    assert {row.status for row in outbox(engine)} == {"sent"}
    for order_id in range(360, 390):
        assert len(shop.notes[order_id]) == 1 and len(note_posts(shop, order_id)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_client_says_which_failures_are_timeouts(shop_settings: Settings) -> None:
    """A read timeout and a 504 reached the shop without an answer (timed out); a 503 says
    the shop is down."""
    url = "https://shop.example.com/wp-json/wc/v3/orders/1/notes"
    outcomes: dict[str, Any] = {
        "timeout": requests.ReadTimeout("no answer"),
        "504": 504,
        "503": 503,
    }
    seen: dict[str, bool] = {}
    for name, answer in outcomes.items():
        with responses.RequestsMock() as mock:
            if isinstance(answer, int):
                mock.post(url, status=answer, json={"code": "x", "message": "y"})
            else:
                mock.post(url, body=answer)
            with pytest.raises(ShopUnavailable) as caught:
                shop_client(shop_settings.replace(http={"max_attempts": 1})).post(
                    "orders/1/notes", {"note": "hi"}
                )
        seen[name] = caught.value.timed_out
    assert seen == {"timeout": True, "504": True, "503": False}
