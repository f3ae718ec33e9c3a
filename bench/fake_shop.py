"""A local WooCommerce REST v3 shop for the benchmarks: N generated orders, counted requests.

Loopback only (127.0.0.1). Order ``i`` (1..N) is a pure function of ``i``: built from the
bridge's own simulated-order shape (``bridge.services.operations.order_payload``, itself a
captured WooCommerce 11 order) with SKUs and WooCommerce ids of ``catalog.example.toml``'s
sample shop, so nothing is kept in memory per order and 100,000 orders cost what 1,000 do.
Products and variations are the ones captured from the real sample shop
(tests/fixtures/woocommerce-real/rest/).

Served under /wp-json/wc/v3/:
  GET  orders                 per_page (1..100), page, orderby (modified, date, id), order,
                              modified_after / modified_before (strict, with dates_are_gmt),
                              _fields; X-WP-Total, X-WP-TotalPages and Link headers as WordPress
  GET  orders/<id>, orders/<id>/refunds, orders/<id>/notes;  POST orders/<id>/notes
  GET  products (same paging and filters, and status: "any" leaves out trash),
       products/<id>, products/<id>/variations
  POST products/batch, products/<id>/variations/batch, orders/batch, customers/batch,
       coupons/batch: per-item results inside HTTP 200, 413 above 100 items
  GET  coupons (code=): the coupons created through coupons/batch, which refuses a code it has
  GET  subscriptions -> 404 rest_no_route (no WooCommerce Subscriptions); GET webhooks -> []
Bench control (not counted): GET /__bench/stats, POST /__bench/reset.

Every request is counted by method and route (ids shown as <id>). ``--latency-ms`` is added to
every answer, ``--page-ms`` to each listing page (per 100 items asked for), as a slow shop takes.
The server stops by itself after --max-seconds.

    python -m bench.fake_shop --orders 10000 --port 0
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bridge.services.operations import Line, order_payload

API_PREFIX = "/wp-json/wc/v3/"
REPO = Path(__file__).resolve().parents[1]
REAL_REST = REPO / "tests" / "fixtures" / "woocommerce-real" / "rest"

# The timeline: order i was created at BASE + i * STEP - 2 min and last modified at BASE + i * STEP.
# One order a minute (100,000 orders span ten weeks): the sync's 300 s overlap window then holds
# a handful of orders, as it would on a busy real shop.
BASE = datetime(2026, 1, 1)
STEP_SECONDS = 60
ORDER_ID_OFFSET = 1000
REFUND_ID_OFFSET = 10_000_000
CUSTOMER_ID_OFFSET = 5000

# SKU -> (product id, variation id) in the captured sample shop.
WOO_IDS = {
    "MENTOR-1H": (17, 0),
    "MENTOR-PACK-3H": (18, 19),
    "MENTOR-PACK-5H": (18, 20),
    "PROJ-DATAVIZ": (21, 0),
    "COHORT-DV-2027-01": (22, 0),
    "ASSESS-DV": (23, 0),
    "PREVIEW-DV": (24, 0),
    "SUB-MENTOR-MONTHLY": (25, 0),
    "BUNDLE-DV-STACK": (26, 0),
}
PRICES = {
    "MENTOR-1H": 60.0,
    "MENTOR-PACK-3H": 170.0,
    "MENTOR-PACK-5H": 260.0,
    "PROJ-DATAVIZ": 149.0,
    "COHORT-DV-2027-01": 390.0,
    "ASSESS-DV": 49.0,
    "PREVIEW-DV": 0.0,
    "BUNDLE-DV-STACK": 399.0,
}
# What people buy, one basket per shape: single micro-offers mostly, a few mixed baskets.
BASKETS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("MENTOR-1H", 1),),
    (("MENTOR-PACK-3H", 1),),
    (("MENTOR-PACK-5H", 1),),
    (("PROJ-DATAVIZ", 1),),
    (("ASSESS-DV", 1),),
    (("PREVIEW-DV", 1),),
    (("BUNDLE-DV-STACK", 1),),
    (("MENTOR-PACK-3H", 2), ("PROJ-DATAVIZ", 1)),
    (("MENTOR-1H", 3),),
    (("ASSESS-DV", 1), ("MENTOR-1H", 1)),
)
COHORT_BASKET = (("COHORT-DV-2027-01", 1),)
PAID = ("completed", "processing")
# Learner n's name: a first and a last name, then a middle initial once the pairs run out, so
# no two learners share one (rosters and learner pages read like a real shop's).
FIRST_NAMES = (
    "Ann",
    "Bo",
    "Chidi",
    "Dana",
    "Emil",
    "Farah",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tove",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Lindqvist",
    "Okafor",
    "Moreau",
    "Nakamura",
    "Haddad",
    "Kowalski",
    "Silva",
    "Jensen",
    "Novak",
    "Rossi",
    "Park",
    "Ibrahim",
    "Schmidt",
    "Costa",
    "Murphy",
    "Tanaka",
    "Berg",
    "Duarte",
    "Fischer",
    "Gupta",
    "Horvat",
    "Eriksen",
    "Vargas",
    "Weber",
    "Yilmaz",
    "Andersen",
)


def _mix(i: int, salt: int) -> int:
    """A cheap, well-spread deterministic hash of an order number."""
    x = (i * 0x9E3779B1 + salt * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


def _status(i: int) -> str:
    roll = _mix(i, 2) % 100
    for limit, status in (
        (60, "completed"),
        (85, "processing"),
        (90, "pending"),
        (94, "refunded"),
        (97, "cancelled"),
        (99, "failed"),
    ):
        if roll < limit:
            return status
    return "on-hold"


def learner_name(n: int) -> tuple[str, str]:
    """Learner n's first and last name, distinct for every n."""
    pairs = len(FIRST_NAMES) * len(LAST_NAMES)
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    last = LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]
    initials, cycle = "", n // pairs
    while cycle:  # 1 -> A, 26 -> Z, 27 -> AA: bijective base 26
        cycle, letter = divmod(cycle - 1, 26)
        initials = chr(ord("A") + letter) + initials
    return first, (f"{initials}. {last}" if initials else last)


def _wc(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")  # naive UTC: "2026-01-01T00:01:00"


def _parse_time(text: str) -> datetime:
    """WordPress accepts ISO 8601 with or without offset; dates_are_gmt=true means UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


class Orders:
    """N orders, each a pure function of its number; nothing per order is kept in memory."""

    def __init__(
        self,
        count: int,
        *,
        refund_every: int = 0,
        cohort_every: int = 0,
        learners: int | None = None,
        base: datetime = BASE,
        step_seconds: int = STEP_SECONDS,
    ) -> None:
        self.count = count
        self.base = base  # a shop with history: --start 2025-01-01 --step-seconds 100000
        self.step = step_seconds
        self.refund_every = refund_every
        self.cohort_every = cohort_every
        self.learners = learners or max(1, count // 3)
        self._shapes: dict[tuple[int, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    # what order i is

    def basket(self, i: int) -> tuple[tuple[str, int], ...]:
        if self.cohort_every and i % self.cohort_every == 0:
            return COHORT_BASKET
        return BASKETS[_mix(i, 1) % len(BASKETS)]

    def basket_index(self, i: int) -> int:
        if self.cohort_every and i % self.cohort_every == 0:
            return -1
        return _mix(i, 1) % len(BASKETS)

    def status(self, i: int) -> str:
        return _status(i)

    def partially_refunded(self, i: int) -> bool:
        return bool(self.refund_every) and i % self.refund_every == 0 and self.status(i) in PAID

    def learner(self, i: int) -> int:
        return _mix(i, 3) % self.learners

    def modified(self, i: int) -> datetime:
        return self.base + timedelta(seconds=i * self.step)

    def order_id(self, i: int) -> int:
        return ORDER_ID_OFFSET + i

    def index_of(self, order_id: int) -> int | None:
        i = order_id - ORDER_ID_OFFSET
        return i if 1 <= i <= self.count else None

    def _lines(self, i: int) -> list[Line]:
        return [Line(sku, qty, PRICES[sku]) for sku, qty in self.basket(i)]

    def reference(self, i: int) -> dict[str, Any]:
        """Order i built from scratch with order_payload (slow; ``order`` must equal it)."""
        learner = self.learner(i)
        modified = self.modified(i)
        order = order_payload(
            self.order_id(i),
            self._lines(i),
            email=f"learner{learner}@example.com",
            status=self.status(i),
            now=modified,
            created=modified - timedelta(minutes=2),
            customer_id=0 if learner % 3 == 0 else CUSTOMER_ID_OFFSET + learner,
            name=" ".join(learner_name(learner)),
        )
        return self._finish(i, order)

    def _finish(self, i: int, order: dict[str, Any]) -> dict[str, Any]:
        """What order_payload leaves out: WooCommerce ids of the products, refunds, names."""
        for line, (sku, _qty) in zip(order["line_items"], self.basket(i), strict=True):
            product_id, variation_id = WOO_IDS[sku]
            line["product_id"] = product_id
            line["variation_id"] = variation_id
        order["customer_note"] = ""
        if self.status(i) == "refunded":
            order["refunds"] = [
                {
                    "id": REFUND_ID_OFFSET + i,
                    "reason": "",
                    "total": f"-{order['total']}",
                    "total_tax": "0.00",
                }
            ]
        elif self.partially_refunded(i):
            first = order["line_items"][0]
            order["refunds"] = [
                {
                    "id": REFUND_ID_OFFSET + i,
                    "reason": "changed their mind",
                    "total": f"-{first['price']:.2f}",
                    "total_tax": "0.00",
                }
            ]
        else:
            order["refunds"] = []
        return order

    def _shape(self, i: int) -> dict[str, Any]:
        key = (self.basket_index(i), self.status(i))
        shape = self._shapes.get(key)
        if shape is None:
            shape = order_payload(0, self._lines(i), email="", status=key[1], now=BASE)
            with self._lock:
                self._shapes[key] = shape
        return shape

    def order(self, i: int) -> dict[str, Any]:
        """Order i, fast: the cached shape of its basket and status, with its own fields.

        Nested objects of the shape are shared between orders (they are only serialised).
        """
        shape = self._shape(i)
        order_id = self.order_id(i)
        learner = self.learner(i)
        modified = self.modified(i)
        created = modified - timedelta(minutes=2)
        status = self.status(i)
        paid = status in ("processing", "completed", "refunded")
        order = dict(shape)
        order.update(
            id=order_id,
            number=str(order_id),
            customer_id=0 if learner % 3 == 0 else CUSTOMER_ID_OFFSET + learner,
            date_created=_wc(created),
            date_created_gmt=_wc(created),
            date_modified=_wc(modified),
            date_modified_gmt=_wc(modified),
            date_paid=_wc(created) if paid else None,
            date_paid_gmt=_wc(created) if paid else None,
            order_key=f"wc_order_sim{order_id}",
        )
        billing = dict(shape["billing"])
        billing["email"] = f"learner{learner}@example.com"
        billing["first_name"], billing["last_name"] = learner_name(learner)
        order["billing"] = billing
        order["line_items"] = [
            dict(line, id=order_id * 10 + index) for index, line in enumerate(shape["line_items"])
        ]
        return self._finish(i, order)

    def refunds(self, i: int) -> list[dict[str, Any]]:
        """GET orders/<id>/refunds: which line a refund took back is only said here."""
        if self.status(i) == "refunded" or self.partially_refunded(i):
            order = self.order(i)
            lines = order["line_items"] if self.status(i) == "refunded" else order["line_items"][:1]
            created = _wc(self.modified(i))
            return [
                {
                    "id": REFUND_ID_OFFSET + i,
                    "date_created": created,
                    "date_created_gmt": created,
                    "amount": order["refunds"][0]["total"].lstrip("-"),
                    "reason": order["refunds"][0]["reason"],
                    "refunded_by": 1,
                    "refunded_payment": False,
                    "meta_data": [
                        {
                            "id": 1,
                            "key": "_refund_type",
                            "value": "full" if self.status(i) == "refunded" else "partial",
                        }
                    ],
                    "line_items": [
                        {
                            "id": line["id"] + 5,
                            "name": line["name"],
                            "product_id": line["product_id"],
                            "variation_id": line["variation_id"],
                            "quantity": -(line["quantity"] if self.status(i) == "refunded" else 1),
                            "tax_class": "",
                            "subtotal": f"-{line['price']:.2f}",
                            "subtotal_tax": "0.00",
                            "total": f"-{line['price']:.2f}",
                            "total_tax": "0.00",
                            "taxes": [],
                            "meta_data": [
                                {
                                    "id": 2,
                                    "key": "_refunded_item_id",
                                    "value": str(line["id"]),
                                    "display_key": "_refunded_item_id",
                                    "display_value": str(line["id"]),
                                }
                            ],
                            "sku": line["sku"],
                            "price": -line["price"],
                        }
                        for line in lines
                    ],
                }
            ]
        return []

    # which orders a query selects: always a contiguous range of numbers

    def window(
        self, modified_after: datetime | None, modified_before: datetime | None
    ) -> tuple[int, int]:
        lo, hi = 1, self.count
        if modified_after is not None:
            seconds = (modified_after - self.base).total_seconds()
            lo = max(lo, math.floor(seconds / self.step) + 1)
        if modified_before is not None:
            seconds = (modified_before - self.base).total_seconds()
            hi = min(hi, math.ceil(seconds / self.step) - 1)
        return lo, hi


def _load(name: str) -> Any:
    return json.loads((REAL_REST / name).read_text("utf-8"))


class Shop:
    """The shop's state: generated orders, captured products, what was written, the counters."""

    def __init__(self, orders: Orders, *, latency_ms: float = 0.0, page_ms: float = 0.0) -> None:
        self.orders = orders
        self.latency = latency_ms / 1000
        # A page of a listing takes this long per 100 items asked for (a small shop: ~500 ms).
        self.page_seconds = page_ms / 1000
        self.products: dict[int, dict[str, Any]] = {
            p["id"]: p for p in _load("5-products-per_page-100.json")
        }
        self.variations: dict[int, dict[str, Any]] = {
            v["id"]: v for v in _load("5-product-variations.json")
        }
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.items: Counter[str] = Counter()  # objects sent to batch endpoints, per route
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.coupons: dict[str, dict[str, Any]] = {}  # code -> the coupon as created
        self.next_id = 900_000
        self.started = time.monotonic()

    def count(self, method: str, path: str) -> None:
        route = re.sub(r"/\d+(?=/|$)", "/<id>", path.strip("/"))
        with self.lock:
            self.counts[f"{method} {route}"] += 1

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    def stats(self) -> dict[str, Any]:
        with self.lock:
            notes = [n for kept in self.notes.values() for n in kept]
            return {
                "requests": dict(self.counts),
                "total": sum(self.counts.values()),
                "batch_items": dict(self.items),
                "notes": len(notes),
                "customer_notes": sum(1 for n in notes if n["customer_note"]),
                "customers_emailed": len(
                    {o for o, kept in self.notes.items() if any(n["customer_note"] for n in kept)}
                ),
                "coupons": len(self.coupons),
                "orders": self.orders.count,
            }

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.items.clear()


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


NO_ROUTE = Refusal(404, "rest_no_route", "No route was found matching the URL and request method.")


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[-1] if values else default


def _fields(objects: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    wanted = _one(query, "_fields")
    if not wanted:
        return objects
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    return [{name: obj[name] for name in names if name in obj} for obj in objects]


def _paging(query: dict[str, list[str]]) -> tuple[int, int]:
    try:
        per_page = int(_one(query, "per_page", "10") or 10)
        page = int(_one(query, "page", "1") or 1)
    except ValueError:
        raise Refusal(400, "rest_invalid_param", "Invalid parameter(s): per_page") from None
    if not 1 <= per_page <= 100:
        raise Refusal(
            400,
            "rest_invalid_param",
            "Invalid parameter(s): per_page (per_page must be between 1 (inclusive) "
            "and 100 (inclusive))",
        )
    if page < 1:
        raise Refusal(400, "rest_invalid_param", "Invalid parameter(s): page")
    return per_page, page


def _window_params(query: dict[str, list[str]]) -> tuple[datetime | None, datetime | None]:
    try:
        after = _one(query, "modified_after")
        before = _one(query, "modified_before")
        return (_parse_time(after) if after else None, _parse_time(before) if before else None)
    except ValueError:
        raise Refusal(
            400, "rest_invalid_param", "Invalid parameter(s): modified_after, modified_before"
        ) from None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    shop: Shop  # set on the subclass made by serve()

    def version_string(self) -> str:
        return "nginx/1.22.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    # plumbing

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise Refusal(400, "rest_invalid_json", "Invalid JSON body passed.") from None

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        try:
            if path.startswith("/__bench/"):
                self._control(method, path)
                return
            if not path.startswith(API_PREFIX):
                raise Refusal(404, "", "Not Found")
            route = path[len(API_PREFIX) :].strip("/")
            self.shop.count(method, route)
            if self.shop.latency:
                time.sleep(self.shop.latency)
            body = self._body() if method in ("POST", "PUT") else None
            self._route(method, route, query, body)
        except Refusal as refusal:
            self._send(
                refusal.status,
                {
                    "code": refusal.code,
                    "message": refusal.message,
                    "data": {"status": refusal.status},
                },
            )

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _control(self, method: str, path: str) -> None:
        if method == "GET" and path == "/__bench/stats":
            self._send(200, self.shop.stats())
        elif method == "POST" and path == "/__bench/reset":
            self._body()
            self.shop.reset()
            self._send(200, {"reset": True})
        else:
            raise Refusal(404, "", "Not Found")

    # the REST API

    def _route(self, method: str, route: str, query: dict[str, list[str]], body: Any) -> None:
        parts = route.split("/")
        shop = self.shop
        if parts == ["orders"] and method == "GET":
            self._list_orders(route, query)
        elif len(parts) == 2 and parts[0] == "orders" and parts[1].isdigit() and method == "GET":
            i = self._order_index(int(parts[1]))
            self._send(200, shop.orders.order(i))
        elif (
            len(parts) == 3
            and parts[0] == "orders"
            and parts[2] == "refunds"
            and parts[1].isdigit()
            and method == "GET"
        ):
            i = self._order_index(int(parts[1]))
            refunds = shop.orders.refunds(i)
            self._send(200, refunds, {"X-WP-Total": str(len(refunds)), "X-WP-TotalPages": "1"})
        elif (
            len(parts) == 3 and parts[0] == "orders" and parts[2] == "notes" and parts[1].isdigit()
        ):
            self._notes(method, int(parts[1]), body)
        elif parts == ["products"] and method == "GET":
            self._list_products(route, query)
        elif len(parts) == 2 and parts[0] == "products" and parts[1].isdigit() and method == "GET":
            product = shop.products.get(int(parts[1]))
            if product is None:
                raise Refusal(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            self._send(200, product)
        elif (
            len(parts) == 3
            and parts[0] == "products"
            and parts[2] == "variations"
            and method == "GET"
        ):
            found = [v for v in shop.variations.values() if str(v["parent_id"]) == parts[1]]
            self._send(
                200, _fields(found, query), {"X-WP-Total": str(len(found)), "X-WP-TotalPages": "1"}
            )
        elif parts == ["coupons"] and method == "GET":
            code = (_one(query, "code", "") or "").lower()
            with shop.lock:
                found = [c for c in shop.coupons.values() if not code or c["code"] == code]
            self._send(200, found, {"X-WP-Total": str(len(found)), "X-WP-TotalPages": "1"})
        elif parts[-1] == "batch" and method == "POST":
            self._batch(route, body)
        elif parts == ["subscriptions"]:
            raise NO_ROUTE
        elif parts == ["webhooks"] and method == "GET":
            self._send(200, [], {"X-WP-Total": "0", "X-WP-TotalPages": "0"})
        else:
            raise NO_ROUTE

    def _order_index(self, order_id: int) -> int:
        i = self.shop.orders.index_of(order_id)
        if i is None:
            raise Refusal(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return i

    def _paged_headers(
        self, route: str, query: dict[str, list[str]], total: int, per_page: int, page: int
    ) -> dict[str, str]:
        pages = math.ceil(total / per_page) if total else 0
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        host = self.headers.get("Host") or "127.0.0.1"
        flat = [(k, v) for k, values in query.items() if k != "page" for v in values]
        links = []
        if page > 1 and pages:
            prev = min(page - 1, pages)
            links.append(
                f"<http://{host}{API_PREFIX}{route}?"
                f'{urlencode([*flat, ("page", prev)])}>; rel="prev"'
            )
        if page < pages:
            links.append(
                f"<http://{host}{API_PREFIX}{route}?"
                f'{urlencode([*flat, ("page", page + 1)])}>; rel="next"'
            )
        if links:
            headers["Link"] = ", ".join(links)
        return headers

    def _list_orders(self, route: str, query: dict[str, list[str]]) -> None:
        per_page, page = _paging(query)
        after, before = _window_params(query)
        orders = self.shop.orders
        if (_one(query, "status", "any") or "any") != "any":
            # Not needed by the bridge's jobs; refused loudly rather than answered wrongly.
            raise Refusal(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): status (the bench shop lists all orders)",
            )
        lo, hi = orders.window(after, before)
        total = max(0, hi - lo + 1)
        orderby = _one(query, "orderby", "date")
        order = _one(query, "order", "desc")
        if orderby not in ("date", "modified", "id", "include", "title", "slug"):
            raise Refusal(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        # Numbers, creation and modification times all grow together here.
        start = (page - 1) * per_page
        if order == "asc":
            numbers = range(lo + start, min(hi, lo + start + per_page - 1) + 1)
        else:
            numbers = range(hi - start, max(lo, hi - start - per_page + 1) - 1, -1)
        items = [orders.order(i) for i in numbers] if start < total else []
        self._page_delay(per_page)
        self._send(
            200, _fields(items, query), self._paged_headers(route, query, total, per_page, page)
        )

    def _page_delay(self, per_page: int) -> None:
        """--page-ms: a listing page costs the shop time in proportion to the items asked."""
        if self.shop.page_seconds:
            time.sleep(self.shop.page_seconds * per_page / 100)

    def _list_products(self, route: str, query: dict[str, list[str]]) -> None:
        per_page, page = _paging(query)
        self._page_delay(per_page)
        after, before = _window_params(query)
        products = list(self.shop.products.values())
        # WordPress: status "any" (the default) leaves out trashed products; one status a query.
        status = _one(query, "status", "any") or "any"
        if status == "any":
            products = [p for p in products if p["status"] != "trash"]
        else:
            products = [p for p in products if p["status"] == status]

        def modified(p: dict[str, Any]) -> datetime:
            return _parse_time(p["date_modified_gmt"])

        if after is not None:
            products = [p for p in products if modified(p) > after]
        if before is not None:
            products = [p for p in products if modified(p) < before]
        key = {"modified": modified, "id": lambda p: p["id"]}.get(
            _one(query, "orderby", "date") or "date", lambda p: p["date_created_gmt"]
        )
        products.sort(key=key, reverse=_one(query, "order", "desc") != "asc")
        start = (page - 1) * per_page
        self._send(
            200,
            _fields(products[start : start + per_page], query),
            self._paged_headers(route, query, len(products), per_page, page),
        )

    def _notes(self, method: str, order_id: int, body: Any) -> None:
        self._order_index(order_id)
        shop = self.shop
        if method == "GET":
            with shop.lock:
                notes = list(shop.notes.get(order_id, []))
            self._send(200, notes)
            return
        if method != "POST":
            raise NO_ROUTE
        if not isinstance(body, dict) or not body.get("note"):
            raise Refusal(400, "rest_missing_callback_param", "Missing parameter(s): note")
        now = _wc(datetime.now(UTC).replace(tzinfo=None))
        note = {
            "id": shop.new_id(),
            "author": "WooCommerce",
            "date_created": now,
            "date_created_gmt": now,
            "note": str(body["note"]),
            "customer_note": bool(body.get("customer_note")),
        }
        with shop.lock:
            shop.notes.setdefault(order_id, []).append(note)
        self._send(201, note)

    def _batch(self, route: str, body: Any) -> None:
        shop = self.shop
        if not isinstance(body, dict):
            raise Refusal(400, "rest_invalid_json", "Invalid JSON body passed.")
        actions = {name: body.get(name) or [] for name in ("create", "update", "delete")}
        size = sum(len(items) for items in actions.values())
        if size > 100:
            raise Refusal(
                413,
                "woocommerce_rest_request_entity_too_large",
                "Unable to accept more than 100 items for this request.",
            )
        parts = route.split("/")
        resource = parts[0] if len(parts) == 2 else "variations"
        with shop.lock:
            shop.items[re.sub(r"/\d+(?=/|$)", "/<id>", route)] += size
        answer: dict[str, list[Any]] = {}
        for action, items in actions.items():
            if not items and action not in body:
                continue
            results = []
            for item in items:
                results.append(self._batch_item(resource, action, item))
            answer[action] = results
        self._send(200, answer)

    def _batch_item(self, resource: str, action: str, item: Any) -> dict[str, Any]:
        shop = self.shop
        invalid = {
            "orders": "woocommerce_rest_shop_order_invalid_id",
            "products": "woocommerce_rest_product_invalid_id",
            "variations": "woocommerce_rest_product_variation_invalid_id",
            "customers": "woocommerce_rest_invalid_id",
            "coupons": "woocommerce_rest_shop_coupon_invalid_id",
        }[resource]
        if action == "create":
            if resource == "coupons":
                code = str(item.get("code") or "").lower()
                with shop.lock:
                    exists = code in shop.coupons
                if exists:
                    return {
                        "id": 0,
                        "error": {
                            "code": "woocommerce_rest_coupon_code_already_exists",
                            "message": f"The coupon code {code} already exists",
                            "data": {"status": 400},
                        },
                    }
                created = {**item, "id": shop.new_id(), "code": code}
                with shop.lock:
                    shop.coupons[code] = created
                return created
            return {**item, "id": shop.new_id()}
        target = item if action == "delete" else (item or {}).get("id")
        valid = {
            "orders": lambda t: shop.orders.index_of(t) is not None,
            "products": lambda t: t in shop.products,
            "variations": lambda t: t in shop.variations,
            "customers": lambda t: t > 0,
            "coupons": lambda t: any(c["id"] == t for c in shop.coupons.values()),
        }[resource]
        if not isinstance(target, int) or not valid(target):
            return {
                "id": target if isinstance(target, int) else 0,
                "error": {"code": invalid, "message": "Invalid ID.", "data": {"status": 400}},
            }
        if action == "delete":
            return {"id": target}
        return {**item, "id": target}


def serve(shop: Shop, port: int = 0) -> ThreadingHTTPServer:
    """Start the shop on 127.0.0.1 in a background thread; returns the server."""
    handler = type("ShopHandler", (Handler,), {"shop": shop})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="fake-shop").start()
    return server


def self_check(orders: Orders, sample: int = 200) -> None:
    """The fast orders equal order_payload's, field for field (a wrong shape would lie)."""
    step = max(1, orders.count // sample)
    for i in range(1, orders.count + 1, step):
        fast = json.dumps(orders.order(i), sort_keys=True)
        slow = json.dumps(orders.reference(i), sort_keys=True)
        if fast != slow:
            raise SystemExit(f"order {i}: the fast order differs from order_payload's")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--refund-every",
        type=int,
        default=0,
        help="every K-th paid order has a partial refund (0: none)",
    )
    parser.add_argument(
        "--cohort-every", type=int, default=0, help="every K-th order buys a cohort seat (0: none)"
    )
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=BASE,
        help="when order 1 was placed (UTC), e.g. 2025-01-01 for a shop with a year of history",
    )
    parser.add_argument(
        "--step-seconds",
        type=int,
        default=STEP_SECONDS,
        help="seconds between two orders (100000: 300 orders span 2025)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="added to every API answer (a real shop takes 50-300 ms)",
    )
    parser.add_argument(
        "--page-ms",
        type=float,
        default=0.0,
        help="added to each page of orders or products, per 100 items asked for (a small "
        "real shop answers a page of 100 orders in about 500 ms)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=3600.0,
        help="the server stops by itself after this long",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="compare generated orders with order_payload's and exit",
    )
    args = parser.parse_args(argv)
    orders = Orders(
        args.orders,
        refund_every=args.refund_every,
        cohort_every=args.cohort_every,
        base=args.start,
        step_seconds=args.step_seconds,
    )
    if args.self_check:
        self_check(orders)
        print(f"ok: {args.orders} orders match order_payload")
        return 0
    server = serve(Shop(orders, latency_ms=args.latency_ms, page_ms=args.page_ms), args.port)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    deadline = time.monotonic() + args.max_seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
