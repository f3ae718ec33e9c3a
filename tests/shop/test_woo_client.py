"""The WooCommerce client, against a shop faked at the HTTP level with real captured answers."""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
import responses
import urllib3.exceptions
import woocommerce
import woocommerce.api
from responses import matchers
from woocommerce.oauth import OAuth

from bridge import __version__
from bridge.errors import PermanentError, RetryableError
from bridge.logs import ContextFormatter
from bridge.services.operations import run_checks
from bridge.settings import Settings
from bridge.shop.client import WooClient
from bridge.shop.errors import ShopRequestError, ShopUnavailable
from bridge.shop.protocol import BatchItemError, parse_retry_after, resource_of
from tests.support.paths import FIXTURES

REST = FIXTURES / "woocommerce-real" / "rest"
DELIVERIES = FIXTURES / "woocommerce-real" / "deliveries"

SHOP = "https://shop.example.com"
API = f"{SHOP}/wp-json/wc/v3"
KEY = "ck_4f1d2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
# Fake credentials of the fake shop; the tests check they never leak.
SECRET = "cs_0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"  # noqa: S105
WEBHOOK_SECRET = "whsec-wcreal-test"  # noqa: S105
READ_ONLY = {
    "code": "woocommerce_rest_authentication_error",
    "message": "The API key provided does not have write permissions.",
    "data": {"status": 401},
}


def rest(name: str) -> Any:
    """A captured REST answer body (a fresh copy each call)."""
    return json.loads((REST / f"{name}.json").read_bytes())


def rest_meta(name: str) -> dict[str, Any]:
    return json.loads((REST / f"{name}.meta.json").read_bytes())


def delivery(name: str) -> Any:
    return json.loads((DELIVERIES / f"{name}.body").read_bytes())


def shop_settings(**changes: Mapping[str, Any]) -> Settings:
    """The captured shop's settings; ``changes`` as Settings.replace takes them, by group."""
    return (
        Settings()
        .replace(
            shop={
                "url": SHOP,
                "consumer_key": KEY,
                "consumer_secret": SECRET,
                "webhook_secret": WEBHOOK_SECRET,
            },
            http={"max_attempts": 5, "retry_budget_seconds": 60},
        )
        .replace(**changes)
    )


class FakeTime:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Any]:
    """Build clients on fake time; all are closed after the test."""
    built: list[WooClient] = []

    def make(**changes: Mapping[str, Any]) -> WooClient:
        client = WooClient(
            shop_settings(**changes),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            rng=random.Random(3),
        )
        built.append(client)
        return client

    yield make
    for client in built:
        client.close()


@pytest.fixture
def client(make_client: Any) -> WooClient:
    return make_client()


def mock() -> responses.RequestsMock:
    return responses.RequestsMock(assert_all_requests_are_fired=True)


def test_requests_carry_basic_auth_both_timeouts_and_the_bridge_user_agent(
    client: WooClient,
) -> None:
    """Over https the keys go in a Basic Authorization header, with (connect, read) timeouts."""
    with mock() as rsps:
        rsps.get(f"{API}/orders/28", json=rest("4d-order-b-after-partial-refund"))
        order = client.get_order(28)
        calls = list(rsps.calls)
    sent = calls[0].request
    expected = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert sent.headers["User-Agent"] == f"creator-bridge/{__version__}"
    assert sent.req_kwargs["timeout"] == (5.0, 30.0)
    assert urlsplit(sent.url).query == ""
    assert order["id"] == 28
    assert client.request_counts == {("GET", "orders"): 1}


def test_iter_pages_follows_x_wp_total_pages_across_three_pages_one_page_at_a_time(
    make_client: Any,
) -> None:
    """With one connection, pages 1..3 (per_page=100) are fetched one request at a time: the
    next two pages while the caller works on the one it has, never three ahead."""
    client = make_client(http={"connections": 1})
    bodies = [
        rest("5-orders-modified-after-page1"),
        rest("5-orders-modified-after-page2"),
        [delivery("0074-order.created")],
    ]
    with mock() as rsps:
        for number, body in enumerate(bodies, start=1):
            rsps.get(
                f"{API}/orders",
                match=[
                    matchers.query_param_matcher({"status": "any", "per_page": 100, "page": number})
                ],
                json=body,
                headers={"X-WP-Total": "5", "X-WP-TotalPages": "3"},
            )
        pages = client.iter_pages("orders", {"status": "any"})
        first = next(pages)
        deadline = time.monotonic() + 5
        while len(rsps.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert len(rsps.calls) == 3  # pages 2 and 3 read, in turn, while page 1 is worked on
        rest_of_pages = list(pages)
    assert [page.number for page in [first, *rest_of_pages]] == [1, 2, 3]
    assert {(page.total, page.total_pages) for page in [first, *rest_of_pages]} == {(5, 3)}
    ids = [item["id"] for page in [first, *rest_of_pages] for item in page.items]
    assert ids == [29, 30, 31, 28, bodies[2][0]["id"]]
    assert client.request_counts[("GET", "orders")] == 3


def _numbered_pages(rsps: responses.RequestsMock, count: int, **extra: Any) -> None:
    for number in range(1, count + 1):
        rsps.get(
            f"{API}/orders",
            match=[matchers.query_param_matcher({"per_page": 100, "page": number})],
            json=[{"id": number * 10 + i} for i in range(2)],
            headers={"X-WP-Total": str(2 * count), "X-WP-TotalPages": str(count)},
            **extra,
        )


def test_pages_are_read_ahead_on_a_few_connections_and_handed_back_in_order(
    make_client: Any,
) -> None:
    """With three connections, at most six pages are read ahead (three at once, three more as
    connections come free while the caller holds its page), and they arrive in order."""
    client = make_client(http={"connections": 3})
    with mock() as rsps:
        _numbered_pages(rsps, 9)
        pages = client.iter_pages("orders")
        first = next(pages)
        deadline = time.monotonic() + 5
        while len(rsps.calls) < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert len(rsps.calls) == 7  # page 1, and pages 2-7 read while page 1 is worked on
        second = next(pages)
        while len(rsps.calls) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert len(rsps.calls) == 8  # page 8 once page 2 was taken; page 9 not yet
        numbers = [first.number, second.number] + [page.number for page in pages]
    assert numbers == list(range(1, 10))
    assert client.request_counts == {("GET", "orders"): 9}


def test_a_429_while_reading_ahead_pauses_every_connection_for_the_time_asked(
    make_client: Any,
    fake_time: FakeTime,
) -> None:
    """A page turned away with 429 and Retry-After is read again after the wait; none is lost."""
    client = make_client(http={"connections": 2})
    with mock() as rsps:
        rsps.get(
            f"{API}/orders",
            match=[matchers.query_param_matcher({"per_page": 100, "page": 2})],
            status=429,
            headers={"Retry-After": "7"},
            body="Too Many Requests",
        )
        _numbered_pages(rsps, 3)
        numbers = [page.number for page in client.iter_pages("orders")]
    assert numbers == [1, 2, 3]
    assert 7.0 in fake_time.sleeps
    assert client.request_counts == {("GET", "orders"): 4}


def test_a_caller_that_stops_early_leaves_no_thread_behind(make_client: Any) -> None:
    """Closing the page iterator after the first page ends its read-ahead threads."""
    client = make_client(http={"connections": 4})
    before = threading.active_count()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _numbered_pages(rsps, 6)
        pages = client.iter_pages("orders")
        next(pages)
        pages.close()
    assert threading.active_count() == before


def test_an_answer_the_fast_json_parser_refuses_is_read_as_before(client: WooClient) -> None:
    """Answers are parsed with orjson; one it refuses (not UTF-8, an integer past 64 bits) is
    read by the standard library, in the charset the answer names."""
    text = '{"id": 28, "big": 123456789012345678901234567890, "name": "Zoë"}'
    with mock() as rsps:
        rsps.get(
            f"{API}/orders/28",
            body=text.encode("latin-1"),
            content_type="application/json; charset=ISO-8859-1",
        )
        order = client.get_order(28)
    assert order == {"id": 28, "big": 123456789012345678901234567890, "name": "Zoë"}


def test_iter_collection_yields_every_item_of_every_page(client: WooClient) -> None:
    """iter_collection flattens the pages into items."""
    with mock() as rsps:
        rsps.get(
            f"{API}/products",
            match=[matchers.query_param_matcher({"per_page": 100, "page": 1})],
            json=rest("5-products-per_page-100"),
            headers={"X-WP-Total": "10", "X-WP-TotalPages": "1"},
        )
        skus = [product["sku"] for product in client.iter_collection("products")]
    assert len(skus) == 10 and "MENTOR-1H" in skus


def test_iter_modified_asks_for_changes_after_the_cursor_in_utc_oldest_first(
    client: WooClient,
) -> None:
    """modified_after goes out as naive UTC with dates_are_gmt=true, oldest change first."""
    cursor = datetime(2026, 11, 28, 16, 54, 3, 250_000, tzinfo=timezone(timedelta(hours=1)))
    with mock() as rsps:
        rsps.get(
            f"{API}/orders",
            match=[
                matchers.query_param_matcher(
                    {
                        "per_page": 100,
                        "page": 1,
                        "orderby": "modified",
                        "order": "asc",
                        "modified_after": "2026-11-28T15:54:03",
                        "dates_are_gmt": "true",
                    }
                )
            ],
            json=rest("5-orders-modified-after-page1"),
            headers={"X-WP-Total": "11", "X-WP-TotalPages": "6"},
        )
        page = next(client.iter_modified("orders", cursor))
    assert [order["id"] for order in page.items] == [29, 30]
    assert (page.total, page.total_pages) == (11, 6)


def test_iter_modified_without_a_cursor_still_reads_oldest_change_first(
    client: WooClient,
) -> None:
    """With no cursor, everything is read, ordered by modification time ascending."""
    params = {"status": "any"}
    with mock() as rsps:
        rsps.get(
            f"{API}/orders",
            match=[
                matchers.query_param_matcher(
                    {
                        "status": "any",
                        "orderby": "modified",
                        "order": "asc",
                        "per_page": 100,
                        "page": 1,
                    }
                )
            ],
            json=[],
            headers={"X-WP-Total": "0", "X-WP-TotalPages": "0"},
        )
        pages = list(client.iter_modified("orders", None, params))
    assert [page.items for page in pages] == [[]]
    assert params == {"status": "any"}


def test_a_429_with_retry_after_waits_as_long_as_asked_then_succeeds(
    client: WooClient, fake_time: FakeTime
) -> None:
    """A 429 is retried after exactly the Retry-After the host asked for."""
    with mock() as rsps:
        rsps.get(
            f"{API}/orders/28/refunds",
            status=429,
            headers={"Retry-After": "7"},
            body="Too Many Requests",
        )
        rsps.get(
            f"{API}/orders/28/refunds",
            json=rest("4d-order-b-refunds"),
            headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"},
        )
        refunds = client.order_refunds(28)
    assert fake_time.sleeps == [7.0]
    assert refunds[0]["id"] == 33
    assert client.request_counts == {("GET", "orders/refunds"): 2}


def test_a_503_storm_gives_up_with_a_retryable_error_within_the_retry_budget(
    make_client: Any, fake_time: FakeTime
) -> None:
    """Backoff grows exponentially with jitter and stops before the time budget is spent."""
    client = make_client(http={"max_attempts": 50, "retry_budget_seconds": 10})
    with mock() as rsps:
        rsps.get(f"{API}/orders", status=503, body="<html>Service Unavailable</html>")
        with pytest.raises(RetryableError) as caught:
            client.get("orders")
        calls = list(rsps.calls)
    error = caught.value
    assert isinstance(error, ShopUnavailable)
    assert fake_time.now - 1000.0 == pytest.approx(sum(fake_time.sleeps))
    assert sum(fake_time.sleeps) <= 10
    assert len(calls) == error.attempts == len(fake_time.sleeps) + 1 < 50
    for number, slept in enumerate(fake_time.sleeps):
        ceiling = 0.5 * 2**number
        assert ceiling / 2 <= slept <= ceiling
    assert error.status == 503
    assert "shop.example.com" in str(error) and "\n" not in str(error)


def test_retries_stop_at_http_max_attempts(make_client: Any, fake_time: FakeTime) -> None:
    """No more attempts are made than BRIDGE_HTTP_MAX_ATTEMPTS allows."""
    client = make_client(http={"max_attempts": 3})
    with mock() as rsps:
        rsps.get(f"{API}/orders", status=502)
        with pytest.raises(ShopUnavailable):
            client.get("orders")
        assert len(rsps.calls) == 3 and len(fake_time.sleeps) == 2


def test_a_retry_after_beyond_the_budget_gives_up_at_once_and_passes_the_wait_on(
    client: WooClient, fake_time: FakeTime
) -> None:
    """The client does not sleep longer than its budget; the caller learns how long to wait."""
    with mock() as rsps:
        rsps.get(f"{API}/orders", status=429, headers={"Retry-After": "600"})
        with pytest.raises(ShopUnavailable) as caught:
            client.get("orders")
    assert fake_time.sleeps == []
    assert caught.value.retry_after == 600.0
    assert "600s" in str(caught.value)


def test_other_4xx_are_never_retried(client: WooClient, fake_time: FakeTime) -> None:
    """A 404 for an unknown id is permanent: one request, no sleep."""
    with mock() as rsps:
        rsps.get(f"{API}/orders/999999", status=404, json=rest("5-error-404-order-invalid-id"))
        with pytest.raises(PermanentError) as caught:
            client.get_order(999999)
        assert len(rsps.calls) == 1
    assert fake_time.sleeps == []
    assert isinstance(caught.value, ShopRequestError)
    assert caught.value.code == "woocommerce_rest_shop_order_invalid_id"
    assert "Invalid ID." in caught.value.hint


def test_a_create_is_not_resent_when_the_shop_may_have_acted_on_it(client: WooClient) -> None:
    """A POST answered 502 may have created the object, so it is reported, not resent."""
    with mock() as rsps:
        rsps.post(f"{API}/orders/28/notes", status=502)
        with pytest.raises(ShopUnavailable) as caught:
            client.post("orders/28/notes", {"note": "Seat confirmed.", "customer_note": True})
        assert len(rsps.calls) == 1
    assert "not resent" in str(caught.value)


def test_a_create_turned_away_with_503_is_resent(client: WooClient) -> None:
    """A 503 means the request never ran, so even a create is safe to resend."""
    with mock() as rsps:
        rsps.post(f"{API}/webhooks", status=503)
        rsps.post(f"{API}/webhooks", status=201, json=rest("webhook-create-order-created"))
        webhook = client.create_webhook(rest_meta("webhook-create-order-created")["request_body"])
        assert len(rsps.calls) == 2
    assert webhook["id"] == 5


def test_a_refused_connection_is_one_human_line_naming_the_shop(
    make_client: Any,
) -> None:
    """The error says which shop could not be reached, without traceback, URL or chained cause."""
    client = make_client(shop={"auth": "query"}, http={"max_attempts": 2})
    leaky_url = f"/wp-json/wc/v3/orders?consumer_key={KEY}&consumer_secret={SECRET}"
    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None,  # type: ignore[arg-type]
            leaky_url,
            urllib3.exceptions.NewConnectionError(
                None,  # type: ignore[arg-type]
                "Failed to establish a new connection: [Errno 111] Connection refused",
            ),
        )
    )
    with mock() as rsps:
        rsps.get(f"{API}/orders", body=refused)
        with pytest.raises(ShopUnavailable) as caught:
            client.get("orders")
    message = str(caught.value)
    assert message == (
        "shop shop.example.com is unavailable: refused the connection "
        "(GET orders, 2 attempts in 0s); try again later"
    )
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_250_updates_go_out_as_100_100_50_and_the_invalid_item_is_surfaced(
    client: WooClient,
) -> None:
    """Batches are chunked at 100 items, and a per-item error inside HTTP 200 names its item."""
    captured = rest("5-products-batch-one-invalid")["update"]
    product, invalid = captured[0], captured[1]
    updates = [{"id": 1000 + n, "regular_price": "10.00"} for n in range(250)]
    updates[150] = {"id": 999999, "regular_price": "10.00"}
    with mock() as rsps:
        for start, end in ((0, 100), (100, 200), (200, 250)):
            chunk = updates[start:end]
            answer = [
                invalid if item["id"] == 999999 else {**product, "id": item["id"]} for item in chunk
            ]
            rsps.post(
                f"{API}/products/batch",
                match=[matchers.json_params_matcher({"update": chunk})],
                json={"update": answer},
            )
        result = client.batch("products", update=updates)
    assert not result.ok
    assert result.failed == [
        BatchItemError(
            action="update",
            item={"id": 999999, "regular_price": "10.00"},
            id=999999,
            code="woocommerce_rest_product_invalid_id",
            message="Invalid ID.",
        )
    ]
    assert len(result.succeeded) == 249
    assert client.request_counts == {("POST", "products/batch"): 3}


def test_a_batch_counts_creates_updates_and_deletes_together_toward_the_limit(
    client: WooClient,
) -> None:
    """60 creates, 60 updates and 5 deletes make two calls: 60+40, then 20+5."""
    creates = [{"code": f"MENTOR-{n}", "amount": "10"} for n in range(60)]
    updates = [{"id": n, "amount": "15"} for n in range(1, 61)]
    deletes = [101, 102, 103, 104, 105]
    with mock() as rsps:
        rsps.post(
            f"{API}/coupons/batch",
            match=[matchers.json_params_matcher({"create": creates, "update": updates[:40]})],
            json={
                "create": [{"id": 500 + n} for n in range(60)],
                "update": [{"id": n} for n in range(1, 41)],
            },
        )
        rsps.post(
            f"{API}/coupons/batch",
            match=[matchers.json_params_matcher({"update": updates[40:], "delete": deletes})],
            json={
                "update": [{"id": n} for n in range(41, 61)],
                "delete": [{"id": n} for n in deletes],
            },
        )
        result = client.batch("coupons", create=creates, update=updates, delete=deletes)
    assert result.ok and len(result.succeeded) == 125


def test_an_empty_batch_sends_nothing(client: WooClient) -> None:
    """Nothing to write means no request."""
    with mock():
        assert client.batch("products").ok
    assert client.total_requests() == 0


def test_oauth_signature_of_a_plain_http_request_equals_the_woocommerce_packages(
    monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    """auto auth signs http requests with OAuth 1.0a exactly as woocommerce.API does."""
    monkeypatch.setattr(OAuth, "generate_nonce", staticmethod(lambda: "f1e2d3c4b5a6"))
    monkeypatch.setattr(woocommerce.api, "time", lambda: 1795881346)
    url = "http://127.0.0.1:8080"
    params = {
        "per_page": 100,
        "page": 2,
        "orderby": "modified",
        "order": "asc",
        "modified_after": "2026-11-28T15:54:03",
        "dates_are_gmt": "true",
    }
    ours = WooClient(
        shop_settings(shop={"url": url}),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        wall_clock=lambda: 1795881346.7,
    )
    with mock() as rsps:
        rsps.get(f"{url}/wp-json/wc/v3/orders", json=[])
        woocommerce.API(url=url, consumer_key=KEY, consumer_secret=SECRET, version="wc/v3").get(
            "orders", params=dict(params)
        )
        ours.get("orders", params)
        calls = list(rsps.calls)
    ours.close()
    theirs_sent, ours_sent = (parse_qs(urlsplit(call.request.url).query) for call in calls)
    assert ours.auth_mode == "oauth"
    assert "Authorization" not in calls[1].request.headers
    assert ours_sent["oauth_signature"] == theirs_sent["oauth_signature"]
    assert ours_sent["oauth_consumer_key"] == [KEY]
    assert ours_sent["oauth_timestamp"] == ["1795881346"]
    assert ours_sent["oauth_signature_method"] == ["HMAC-SHA256"]


def test_an_oauth_post_is_signed_for_post_and_resigned_on_retry(make_client: Any) -> None:
    """Each attempt carries a fresh nonce and a POST signature the package would compute."""
    client = make_client(shop={"url": "http://127.0.0.1:8080"})
    with mock() as rsps:
        rsps.put("http://127.0.0.1:8080/wp-json/wc/v3/webhooks/5", status=503)
        rsps.put(
            "http://127.0.0.1:8080/wp-json/wc/v3/webhooks/5",
            match=[matchers.json_params_matcher({"status": "active"})],
            json=rest("webhook-create-order-created"),
        )
        client.update_webhook(5, {"status": "active"})
        calls = list(rsps.calls)
    sent = [dict(parse_qsl(urlsplit(call.request.url).query)) for call in calls]
    assert sent[0]["oauth_nonce"] != sent[1]["oauth_nonce"]
    for params in sent:
        signature = params.pop("oauth_signature")
        recomputed = OAuth(
            url="", consumer_key=KEY, consumer_secret=SECRET, version="wc/v3", method="PUT"
        ).generate_oauth_signature(params, "http://127.0.0.1:8080/wp-json/wc/v3/webhooks/5")
        assert signature == recomputed


def test_query_string_auth_sends_the_keys_without_touching_the_callers_params(
    make_client: Any,
) -> None:
    """With woo_auth=query the keys ride in the query string; the caller's dict is unchanged."""
    client = make_client(shop={"auth": "query"})
    params = {"status": "all"}
    with mock() as rsps:
        rsps.get(
            f"{API}/webhooks",
            match=[
                matchers.query_param_matcher(
                    {
                        "status": "all",
                        "per_page": 100,
                        "page": 1,
                        "consumer_key": KEY,
                        "consumer_secret": SECRET,
                    }
                )
            ],
            json=rest("5-webhooks-status-all-per_page-100"),
            headers={"X-WP-Total": "17", "X-WP-TotalPages": "1"},
        )
        rsps.get(
            f"{API}/orders",
            match=[
                matchers.query_param_matcher(
                    {"status": "all", "consumer_key": KEY, "consumer_secret": SECRET}
                )
            ],
            json=[],
        )
        webhooks = client.list_webhooks()
        client.get("orders", params)
        calls = list(rsps.calls)
    assert params == {"status": "all"}
    assert len(webhooks) == 17
    assert all("Authorization" not in call.request.headers for call in calls)


def test_no_secret_reaches_a_log_line_an_error_or_a_repr(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys and the webhook secret stay out of DEBUG logs, error texts and the client's repr."""
    caplog.set_level(logging.DEBUG)
    client = make_client(shop={"auth": "query"})
    redirect = f"https://www.shop.example.com/wp-json/wc/v3/orders?consumer_key={KEY}&consumer_secret={SECRET}"
    errors: list[BaseException] = []
    with mock() as rsps:
        rsps.get(f"{API}/orders", status=503)
        rsps.get(f"{API}/orders", body=requests.ConnectionError(f"failed: {redirect}"))
        rsps.get(f"{API}/orders", status=401, json=rest("5-error-401-wrong-secret-https"))
        rsps.get(f"{API}/products", status=301, headers={"Location": redirect})
        rsps.post(
            f"{API}/webhooks",
            status=400,
            json={
                "code": "rest_invalid_param",
                "message": f"Invalid parameter(s): {WEBHOOK_SECRET}",
                "data": {"status": 400},
            },
        )
        for call in (
            lambda: client.get("orders"),
            lambda: client.get("products"),
            lambda: client.create_webhook({"secret": WEBHOOK_SECRET}),
        ):
            with pytest.raises(ShopRequestError) as caught:
                call()
            errors.append(caught.value)
    formatter = ContextFormatter("%(levelname)s %(name)s: %(message)s")
    texts = [formatter.format(record) for record in caplog.records]
    texts += [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [error.hint for error in errors] + [repr(client), repr(client.request_counts)]
    assert len(caplog.records) >= 4
    for text in texts:
        for secret in (KEY, SECRET, WEBHOOK_SECRET):
            assert secret not in text
    assert "https://www.shop.example.com" in errors[1].hint


@pytest.mark.parametrize(
    ("fixture", "changes", "expected"),
    [
        ("5-error-401-wrong-secret-https", {}, "WOOCOMMERCE_CONSUMER_SECRET does not belong"),
        (
            "5-error-401-basic-over-http",
            {"shop": {"url": "http://127.0.0.1:8080", "auth": "basic"}},
            "use an https WOOCOMMERCE_URL",
        ),
        ("5-error-401-basic-over-http", {}, "may not detect HTTPS"),
        ("5-error-404-rest_no_route", {}, "WooCommerce is not active"),
        (
            "5-error-400-rest_invalid_param-order-status",
            {},
            "WooCommerce says: Invalid parameter(s): status (status is not one of auto-draft",
        ),
        ("5-error-413-batch-101", {}, "at most 100 items"),
    ],
)
def test_refusals_carry_woocommerces_code_and_a_human_hint(
    make_client: Any, fixture: str, changes: dict[str, Any], expected: str
) -> None:
    """Each captured refusal becomes a permanent error with status, code and a fitting hint."""
    client = make_client(**changes)
    meta = rest_meta(fixture)
    base = changes.get("shop", {}).get("url", SHOP)
    path = meta["url"].removeprefix("/wp-json/wc/v3/")
    body = meta["request_body"]
    with mock() as rsps:
        rsps.add(
            meta["method"],
            f"{base}/wp-json/wc/v3/{path}",
            status=meta["status_code"],
            json=rest(fixture),
        )
        with pytest.raises(ShopRequestError) as caught:
            if body is None:
                client.get(path)
            else:
                client.post(path, body)
    error = caught.value
    assert (error.status, error.code) == (meta["status_code"], rest(fixture)["code"])
    assert expected in error.hint
    assert error.detail == rest(fixture)["message"]
    assert "\n" not in str(error) and error.hint in str(error)


def test_the_401_hint_names_wrong_key_read_only_key_and_undetected_https(
    client: WooClient,
) -> None:
    """An unexplained 401 over https lists the three usual causes."""
    with mock() as rsps:
        rsps.get(f"{API}/orders", status=401, json=rest("5-error-401-basic-over-http"))
        with pytest.raises(ShopRequestError) as caught:
            client.get("orders")
    hint = caught.value.hint
    assert "WOOCOMMERCE_CONSUMER_KEY" in hint and "Read/Write" in hint
    assert "HTTPS" in hint and "BRIDGE_WOO_AUTH=query" in hint


def test_an_html_answer_points_at_the_url_and_permalinks(client: WooClient) -> None:
    """A 404 page that is not a REST answer means WOOCOMMERCE_URL or permalinks are wrong."""
    with mock() as rsps:
        rsps.get(
            f"{API}/orders",
            status=404,
            body="<html>Page not found</html>",
            content_type="text/html",
        )
        with pytest.raises(ShopRequestError) as caught:
            client.get("orders")
    assert "permalinks" in caught.value.hint


def test_subscriptions_are_detected_once_per_client(make_client: Any) -> None:
    """A rest_no_route 404 on subscriptions means the plugin is absent; the answer is cached."""
    without, with_plugin = make_client(), make_client()
    with mock() as rsps:
        rsps.get(
            f"{API}/subscriptions",
            status=404,
            json=rest("5-error-404-rest_no_route"),
            match=[matchers.query_param_matcher({"per_page": 1, "_fields": "id"})],
        )
        assert without.has_subscriptions() is False
        assert without.has_subscriptions() is False
    with mock() as rsps:
        rsps.get(f"{API}/subscriptions", json=rest("5-subscriptions")[:1])
        assert with_plugin.has_subscriptions() is True
    assert without.total_requests() == 1 and with_plugin.total_requests() == 1


def test_webhooks_are_created_and_reenabled_with_the_bodies_given(client: WooClient) -> None:
    """create_webhook POSTs the webhook as given; update_webhook PUTs to its id."""
    request_body = rest_meta("webhook-create-order-created")["request_body"]
    with mock() as rsps:
        rsps.post(
            f"{API}/webhooks",
            status=201,
            json=rest("webhook-create-order-created"),
            match=[matchers.json_params_matcher(request_body)],
        )
        rsps.put(
            f"{API}/webhooks/5",
            json=rest("webhook-create-order-created"),
            match=[matchers.json_params_matcher({"status": "active"})],
        )
        created = client.create_webhook(request_body)
        client.update_webhook(created["id"], {"status": "active"})
    assert client.request_counts == {("POST", "webhooks"): 1, ("PUT", "webhooks"): 1}


def test_a_redirect_is_reported_not_followed(client: WooClient) -> None:
    """A shop that redirects its API is misconfigured in WOOCOMMERCE_URL; the hint names where."""
    with mock() as rsps:
        rsps.get(
            f"{API}/orders",
            status=301,
            headers={"Location": "https://www.shop.example.com/wp-json/wc/v3/orders"},
        )
        with pytest.raises(ShopRequestError) as caught:
            client.get("orders")
        assert len(rsps.calls) == 1
    assert "WOOCOMMERCE_URL" in caught.value.hint
    assert "https://www.shop.example.com" in caught.value.hint


def _access_requests(rsps: responses.RequestsMock, write_status: int, write_body: Any) -> None:
    rsps.get(
        f"{API}/products",
        json=[{"id": 26}],
        match=[matchers.query_param_matcher({"per_page": 1, "_fields": "id"})],
    )
    rsps.get(
        f"{API}/orders",
        json=[{"id": 31}],
        match=[matchers.query_param_matcher({"per_page": 1, "_fields": "id"})],
    )
    rsps.post(
        f"{API}/products/batch",
        status=write_status,
        json=write_body,
        match=[matchers.json_params_matcher({})],
    )


def test_check_access_passes_for_a_read_write_key(client: WooClient) -> None:
    """A working key passes the shop api, read and write checks."""
    with mock() as rsps:
        _access_requests(rsps, 200, [])
        checks = client.check_access()
    assert [(check.name, check.ok) for check in checks] == [
        ("shop api", True),
        ("read", True),
        ("write", True),
    ]


def test_check_access_names_a_wrong_secret_without_raising(client: WooClient) -> None:
    """A wrong secret fails the first check with the fix; the others are marked not checked."""
    with mock() as rsps:
        rsps.get(f"{API}/products", status=401, json=rest("5-error-401-wrong-secret-https"))
        checks = client.check_access()
    assert [(check.name, check.ok) for check in checks] == [
        ("shop api", False),
        ("read", False),
        ("write", False),
    ]
    assert "Consumer secret is invalid." in checks[0].detail
    assert "WOOCOMMERCE_CONSUMER_SECRET" in checks[0].fix
    assert checks[2].detail == "not checked: the shop api check failed"


def test_check_access_names_a_read_only_key(client: WooClient) -> None:
    """A key without write permission passes reading and fails the write check."""
    with mock() as rsps:
        _access_requests(rsps, 401, READ_ONLY)
        checks = client.check_access()
    assert [check.ok for check in checks] == [True, True, False]
    assert "read-only" in checks[2].fix


def test_doctor_reports_a_wrong_secret_as_a_failed_shop_check(tmp_path: Path) -> None:
    """`bridge doctor` turns the real 401 into a failed check with its fix, not an exception."""
    from bridge.store.db import make_engine

    settings = shop_settings(
        database={"url": f"sqlite:///{tmp_path / 'bridge.db'}"},
        catalogue={"file": tmp_path / "catalog.toml"},
    )
    engine = make_engine(settings.database.url)
    try:
        with mock() as rsps:
            rsps.get(f"{API}/products", status=401, json=rest("5-error-401-wrong-secret-https"))
            rows = run_checks(settings, engine)
    finally:
        engine.dispose()
    shop = {row["check"]: row for row in rows}["shop api"]
    assert shop["ok"] is False
    assert "Consumer secret is invalid." in shop["detail"]
    assert "WOOCOMMERCE_CONSUMER_SECRET" in shop["fix"]


def test_resources_are_counted_without_ids() -> None:
    """Request accounting groups paths by resource, leaving ids out."""
    assert resource_of("orders/28/refunds") == "orders/refunds"
    assert resource_of("products/18/variations/20") == "products/variations"
    assert resource_of("/products/batch") == "products/batch"


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    """Retry-After may be a number of seconds or an HTTP date."""
    now = datetime(2026, 11, 28, 16, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after("Sat, 28 Nov 2026 16:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_an_untrusted_certificate_is_permanent_and_says_so(client: WooClient) -> None:
    """A TLS failure is a configuration problem: reported once, with the certificate named."""
    with mock() as rsps:
        rsps.get(f"{API}/orders", body=requests.exceptions.SSLError("certificate verify failed"))
        with pytest.raises(ShopRequestError) as caught:
            client.get("orders")
        assert len(rsps.calls) == 1
    assert "certificate" in caught.value.hint
    assert caught.value.__context__ is None
