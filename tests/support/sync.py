"""A WooCommerce shop faked at the HTTP level for the sync jobs, and ports to run them with."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from click.testing import CliRunner, Result

from bridge.cli.main import main
from bridge.rules.catalogue.catalog import Catalogue
from bridge.settings import Settings
from bridge.shop.client import WooClient
from sync.context import SyncPorts
from tests.support.paths import EXAMPLE_CATALOGUE, REAL, load_json
from tests.support.sample_shop import make_order

API = "https://shop.example.com/wp-json/wc/v3"
REAL_PAGES = (
    "woocommerce-real/rest/5-orders-modified-after-page1.json",
    "woocommerce-real/rest/5-orders-modified-after-page2.json",
)


def _captured_headers() -> list[tuple[str, str]]:
    """The headers of the captured orders page, minus the ones that describe that body."""
    meta = json.loads((REAL / "rest" / "5-orders-modified-after-page1.meta.json").read_text())
    skip = {"x-wp-total", "x-wp-totalpages", "link", "transfer-encoding", "content-type"}
    return [(name, value) for name, value in meta["headers"] if name.lower() not in skip]


def real_orders() -> list[dict[str, Any]]:
    """Orders 29, 30, 31 (a cohort seat each) and 28 (two packs, one refunded, a project)."""
    return [order for page in REAL_PAGES for order in load_json(page)]  # type: ignore[union-attr]


def wc_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _gmt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class HttpShop:
    """Orders, refunds and webhooks answered as WooCommerce REST v3 does, over ``responses``.

    Lists honour per_page, page, orderby=modified, order=asc, modified_after and
    modified_before (strict, GMT) and send X-WP-Total / X-WP-TotalPages. Writes are recorded
    and answered, so a test can assert that none were sent.
    """

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self.refunds: dict[int, list[dict[str, Any]]] = {
            28: load_json("woocommerce-real/rest/4d-order-b-refunds.json"),  # type: ignore[dict-item]
        }
        self.webhooks: list[dict[str, Any]] = load_json(
            "woocommerce-real/rest/5-webhooks-status-all-per_page-100.json"
        )  # type: ignore[assignment]
        # None: the shop has no WooCommerce Subscriptions (the route answers 404 rest_no_route).
        self.subscriptions: list[dict[str, Any]] | None = None
        self.unavailable_refunds: set[int] = set()
        # Called with the page number before each orders page is answered (to change the shop
        # in the middle of a run).
        self.before_orders_page: Callable[[int], None] | None = None
        self.headers = _captured_headers()
        self.writes: list[tuple[str, str]] = []
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/orders/(\d+)/refunds"),
            callback=self._refunds,
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/orders/(\d+)(\?.*)?$"),
            callback=self._order,
        )
        rsps.add_callback(
            responses.GET, re.compile(rf"{re.escape(API)}/orders(\?.*)?$"), callback=self._orders
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/products(\?.*)?$"),
            callback=self._empty_list,
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/webhooks(\?.*)?$"),
            callback=self._webhooks,
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{re.escape(API)}/subscriptions(\?.*)?$"),
            callback=self._subscriptions,
        )
        for method in (responses.POST, responses.PUT, responses.DELETE):
            rsps.add_callback(method, re.compile(rf"{re.escape(API)}/.*"), callback=self._write)

    def add(self, *orders: dict[str, Any]) -> None:
        for order in orders:
            self.orders[order["id"]] = order

    def place(
        self, order_id: int, lines: list[tuple[str, int]], modified: datetime, **fields: Any
    ) -> dict[str, Any]:
        """A new paid order, modified (and paid) at ``modified``."""
        paid = fields.pop("paid", wc_time(modified))
        order = make_order(
            order_id,
            lines,
            modified=wc_time(modified),
            paid=paid,
            email=fields.pop("email", f"learner{order_id}@example.com"),
            customer_id=fields.pop("customer_id", order_id),
            **fields,
        )
        self.add(order)
        return order

    def touch(self, order_id: int, modified: datetime, **changes: Any) -> None:
        """Change an order: WooCommerce stamps date_modified_gmt."""
        self.orders[order_id].update(changes, date_modified_gmt=wc_time(modified))

    def _answer(
        self, status: int, body: Any, extra: list[tuple[str, str]] | None = None
    ) -> tuple[int, dict[str, str], str]:
        headers = dict(self.headers)
        headers["Content-Type"] = "application/json; charset=UTF-8"
        headers.update(extra or [])
        return status, headers, json.dumps(body)

    def _orders(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = {key: values[-1] for key, values in parse_qs(urlsplit(request.url).query).items()}
        if self.before_orders_page is not None:
            self.before_orders_page(int(query.get("page", 1)))
        return self._modified_list(query, list(self.orders.values()))

    def _subscriptions(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.subscriptions is None:
            return self._answer(
                404,
                {
                    "code": "rest_no_route",
                    "data": {"status": 404},
                    "message": "No route was found matching the URL and request method.",
                },
            )
        query = {key: values[-1] for key, values in parse_qs(urlsplit(request.url).query).items()}
        if "orderby" not in query:  # has_subscriptions(): one id is enough
            return self._answer(200, [{"id": s["id"]} for s in self.subscriptions[:1]])
        return self._modified_list(query, self.subscriptions)

    def _modified_list(
        self, query: dict[str, str], items: list[dict[str, Any]]
    ) -> tuple[int, dict[str, str], str]:
        per_page = int(query.get("per_page", 10))
        page = int(query.get("page", 1))
        assert query.get("orderby") == "modified" and query.get("order") == "asc", query
        chosen = sorted(items, key=lambda o: (o["date_modified_gmt"], o["id"]))
        if "modified_after" in query:
            assert query.get("dates_are_gmt") == "true"
            after = _gmt(query["modified_after"])
            chosen = [o for o in chosen if _gmt(o["date_modified_gmt"]) > after]
        if "modified_before" in query:
            before = _gmt(query["modified_before"])
            chosen = [o for o in chosen if _gmt(o["date_modified_gmt"]) < before]
        total = len(chosen)
        pages = max(1, -(-total // per_page))
        body = chosen[(page - 1) * per_page : page * per_page]
        return self._answer(
            200, body, [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
        )

    def _order(self, request: Any) -> tuple[int, dict[str, str], str]:
        order_id = int(re.search(r"/orders/(\d+)", request.url).group(1))  # type: ignore[union-attr]
        if order_id not in self.orders:
            return self._answer(
                404,
                {
                    "code": "woocommerce_rest_shop_order_invalid_id",
                    "message": "Invalid ID.",
                    "data": {"status": 404},
                },
            )
        return self._answer(200, self.orders[order_id])

    def _refunds(self, request: Any) -> tuple[int, dict[str, str], str]:
        order_id = int(re.search(r"/orders/(\d+)/", request.url).group(1))  # type: ignore[union-attr]
        if order_id in self.unavailable_refunds:
            return self._answer(503, {"code": "unavailable", "message": "Down for maintenance"})
        refunds = self.refunds.get(order_id, [])
        return self._answer(
            200, refunds, [("X-WP-Total", str(len(refunds))), ("X-WP-TotalPages", "1")]
        )

    def _empty_list(self, _request: Any) -> tuple[int, dict[str, str], str]:
        return self._answer(200, [], [("X-WP-Total", "0"), ("X-WP-TotalPages", "0")])

    def _webhooks(self, _request: Any) -> tuple[int, dict[str, str], str]:
        return self._answer(
            200, self.webhooks, [("X-WP-Total", str(len(self.webhooks))), ("X-WP-TotalPages", "1")]
        )

    def _write(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = urlsplit(request.url).path.removeprefix(urlsplit(API).path + "/")
        self.writes.append((request.method, path))
        body = json.loads(request.body) if request.body else {}
        match = re.fullmatch(r"webhooks/(\d+)", path)
        if request.method == "PUT" and match:
            hook = next(h for h in self.webhooks if h["id"] == int(match.group(1)))
            hook.update(body)
            return self._answer(200, hook)
        return self._answer(200, body)


def make_ports(
    engine: Any, settings: Settings, catalogue: Catalogue, *, page_size: int = 2, **overrides: Any
) -> SyncPorts:
    """Ports on the test database: real WooClients (no sleeping between retries).

    Two orders a page by default, as the captured pages were, so a few orders make many pages.
    """
    ports = SyncPorts(
        engine=engine,
        settings=settings,
        shop=lambda: WooClient(settings, sleep=lambda _seconds: None),
        file_catalogue=lambda: catalogue,
        page_size=page_size,
    )
    for name, value in overrides.items():
        setattr(ports, name, value)
    return ports


def shop_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of `bridge sync` against this fake shop, on the test database."""
    return {
        "DATABASE_URL": database_url,
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
        "BRIDGE_CATALOG_FILE": str(EXAMPLE_CATALOGUE),
        "BRIDGE_HTTP_MAX_ATTEMPTS": "1",
        "BRIDGE_LOG_LEVEL": "ERROR",
        **extra,
    }


def bridge(*args: str, env: dict[str, str]) -> Result:
    """Run `bridge ...` with exactly this environment, 100 columns wide."""
    return CliRunner().invoke(main, list(args), env=env, terminal_width=100)
