"""Shared by the write-back tests: the sample shop with its stack and prices, and a fake shop.

The fake shop answers the write-back endpoints as WooCommerce REST v3 does (batch answers in
the order sent, per-item errors inside an HTTP 200, notes shaped like the documented answer)
and records every request, so a test can count them and read their bodies.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from sqlalchemy import Engine
from sqlmodel import col, select

from bridge.rules.catalogue.catalog import Catalogue, CouponRule, StackRule
from bridge.settings import Settings
from bridge.shop.client import WooClient
from bridge.store.db import unit_of_work
from bridge.store.models import OutboxItem, ProductBinding
from tests.support.paths import load_json
from tests.support.sample_shop import BINDINGS, sample_catalogue, store_cohorts

API = "https://shop.example.com/wp-json/wc/v3"

STACK = StackRule(
    name="data-viz-practitioner",
    title="Data-viz practitioner",
    skus=("PROJ-DATAVIZ", "COHORT-DV-2027-01", "ASSESS-DV"),
    course_price=Decimal("490.00"),
    upsells=("BUNDLE-DV-STACK", "SUB-MENTOR-MONTHLY"),
    coupon_expires_days=30,
)
SUBSCRIBE = CouponRule(
    name="subscribe-after-first-offer",
    when="first_paid_offer",
    offer="SUB-MENTOR-MONTHLY",
    discount_type="percent",
    amount=Decimal("20"),
    expires_days=14,
)


def real_products() -> list[dict[str, Any]]:
    """Products and variations of the real sample shop (prices 149, 390, 49 for the stack)."""
    products = load_json("woocommerce-real/rest/5-products-per_page-100.json")
    variations = load_json("woocommerce-real/rest/5-product-variations.json")
    return [*products, *variations]  # type: ignore[misc]


def shop_catalogue(capacity: int | None = None, *, coupons: bool = True) -> Catalogue:
    """The sample catalogue with the stack of catalog.example.toml and, if asked, its coupon."""
    catalogue = sample_catalogue(capacity)
    return replace(
        catalogue, stacks=(STACK,), coupon_rules=(SUBSCRIBE,) if coupons else (), currency="EUR"
    )


def store_shop(engine: Engine, catalogue: Catalogue) -> None:
    """Cohorts in the database and the real products bound as the catalogue sync binds them."""
    store_cohorts(engine, catalogue)
    with unit_of_work(engine) as session:
        for product in real_products():
            woo_id = product["id"]
            if woo_id not in BINDINGS:
                continue
            session.add(
                ProductBinding(
                    woo_id=woo_id,
                    parent_id=product.get("parent_id") or 0,
                    sku=product["sku"],
                    offer_sku=BINDINGS[woo_id],
                    woo_type=product.get("type", "variation"),
                    name=product.get("name", ""),
                    price=product["price"],
                )
            )
        session.commit()


def outbox(engine: Engine, **where: Any) -> list[OutboxItem]:
    """Outbox rows, oldest first, filtered by column values."""
    with unit_of_work(engine) as session:
        query = select(OutboxItem).order_by(col(OutboxItem.id))
        for name, value in where.items():
            query = query.where(getattr(OutboxItem, name) == value)
        return list(session.exec(query).all())


def shop_client(settings: Settings) -> WooClient:
    """A client that does not sleep between retries."""
    return WooClient(settings, sleep=lambda _seconds: None)


class FakeShop:
    """The write-back endpoints of a WooCommerce shop, faked over ``responses``.

    ``refuse`` maps a batch path to item ids it answers with WooCommerce's invalid-id error;
    ``outages`` maps "METHOD path" to how many 503s come before the real answer.
    """

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.requests: list[tuple[str, str, Any]] = []
        self.accepted: list[tuple[str, str, Any]] = []  # the requests answered with a 2xx
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.coupons: dict[str, dict[str, Any]] = {}
        self.outages: dict[str, int] = {}
        self.timeouts: dict[str, int] = {}  # requests that get no answer in time
        # Requests the shop carries out but answers too late (the client's read timeout): the
        # note or coupon exists in the shop, the bridge never heard.
        self.late: Callable[[str, str, Any], bool] = lambda _method, _path, _body: False
        self.refuse: dict[str, set[int]] = {}
        self.refuse_coupons = 0  # coupon creates to refuse inside the batch answer
        self.on_note: Callable[[dict[str, Any]], None] | None = None
        self._products = {p["id"]: p for p in real_products()}
        pattern = re.compile(re.escape(API) + r"/.*")
        for method in ("GET", "POST"):
            rsps.add_callback(method, pattern, callback=self._answer)

    def stock(self, product_id: int) -> Any:
        """A product's stock as the shop holds it now."""
        return self._products[product_id].get("stock_quantity")

    def adjust_stock(self, product_id: int, change: int) -> None:
        """What WooCommerce does by itself: reduce stock on an order, restock on a refund."""
        product = self._products[product_id]
        product["manage_stock"] = True
        product["stock_quantity"] = int(product.get("stock_quantity") or 0) + change

    def sent(self, method: str, path: str) -> list[Any]:
        """Bodies of the requests sent to one path (retries included)."""
        return [body for m, p, body in self.requests if (m, p) == (method, path)]

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = request.path_url.split("/wp-json/wc/v3/", 1)[1].split("?", 1)[0]
        body = json.loads(request.body) if request.body else None
        self.requests.append((request.method, path, body))
        key = f"{request.method} {path}"
        if self.timeouts.get(key):
            self.timeouts[key] -= 1
            raise requests.ReadTimeout("no answer")  # before the shop stores anything
        if self.outages.get(key):
            self.outages[key] -= 1
            return 503, {}, json.dumps({"code": "service_unavailable", "message": "Busy"})
        if request.method == "POST":
            self.accepted.append((request.method, path, body))
        answer = self._carry_out(request, path, body)
        if self.late(request.method, path, body):
            raise requests.ReadTimeout("answered too late")  # after the shop stored it
        return answer

    def _carry_out(self, request: Any, path: str, body: Any) -> tuple[int, dict[str, str], str]:
        if path.endswith("/batch"):
            return 200, {}, json.dumps(self._batch(path, body))
        match = re.fullmatch(r"orders/(\d+)/notes", path)
        if match and request.method == "POST":
            return 201, {}, json.dumps(self._create_note(int(match.group(1)), body))
        if match:
            return 200, {}, json.dumps(self.notes.get(int(match.group(1)), []))
        if path == "coupons" and request.method == "GET":
            code = parse_qs(urlsplit(request.url).query).get("code", [""])[-1].lower()
            found = [{**c, "code": code} for k, c in self.coupons.items() if k.lower() == code]
            return 200, {}, json.dumps(found)
        return 404, {}, json.dumps({"code": "rest_no_route", "message": "No route."})

    def _batch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        refused = self.refuse.get(path, set())
        for item in body.get("update", []):
            if item["id"] in refused:
                answer.setdefault("update", []).append(
                    {
                        "id": item["id"],
                        "error": {
                            "code": "woocommerce_rest_product_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 400},
                        },
                    }
                )
                continue
            current = copy.deepcopy(self._products.get(item["id"], {"id": item["id"]}))
            current.update(item)
            if path.startswith("products"):
                self._products[item["id"]] = copy.deepcopy(current)  # the shop keeps it
            answer.setdefault("update", []).append(current)
        for item in body.get("create", []):
            if self.refuse_coupons:
                self.refuse_coupons -= 1
                answer.setdefault("create", []).append(
                    {
                        "id": 0,
                        "error": {
                            "code": "woocommerce_rest_cannot_create",
                            "message": "Try again later.",
                            "data": {"status": 500},
                        },
                    }
                )
                continue
            if item["code"] in self.coupons:
                answer.setdefault("create", []).append(
                    {
                        "id": 0,
                        "error": {
                            "code": "woocommerce_rest_coupon_code_already_exists",
                            "message": "The coupon code already exists",
                            "data": {"status": 400},
                        },
                    }
                )
                continue
            coupon = {"id": 700 + len(self.coupons), **item}
            self.coupons[item["code"]] = coupon
            answer.setdefault("create", []).append(coupon)
        return answer

    def _create_note(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        note: dict[str, Any] = load_json("woocommerce/order_note_create_response_v3.json")  # type: ignore[assignment]
        note.update(
            id=281 + sum(len(n) for n in self.notes.values()),
            note=body["note"],
            customer_note=bool(body.get("customer_note")),
        )
        self.notes.setdefault(order_id, []).append(note)
        if self.on_note is not None:
            self.on_note(note)
        return note
