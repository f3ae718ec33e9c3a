"""Realistic, correctly signed WooCommerce deliveries, to try the bridge without buying anything.

The order template is a real WooCommerce 11 order delivery; bodies are serialised the way PHP
does (``\\/`` and ``\\uXXXX``) so the receiver verifies exactly what a shop would send.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from bridge.rules.entitlements import SIMULATED_META, OrderStatus
from bridge.rules.inbound.signatures import sign

USER_AGENT = "WooCommerce/11.0.1 Hookshot (WordPress/7.1) creator-bridge-simulate"


def _template() -> dict[str, Any]:
    text = resources.files("bridge").joinpath("data/order_template.json").read_text("utf-8")
    return json.loads(text)


def php_json(payload: Any) -> bytes:
    """JSON as WordPress's wp_json_encode writes it: compact, ``/`` escaped, ASCII only."""
    return (
        json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
        .replace("/", "\\/")
        .encode("ascii")
    )


def wc_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int = 1
    price: float = 0.0


def name_from_email(email: str) -> tuple[str, str]:
    """A billing first and last name that follows the e-mail, as a shop's customer would have:
    ``bo.lindqvist@example.com`` is Bo Lindqvist, ``ann@example.com`` is Ann."""
    local = email.strip().partition("@")[0].partition("+")[0]
    words = [word.capitalize() for word in re.split(r"[._\-\s]+", local) if word]
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


def order_payload(
    order_id: int,
    lines: list[Line],
    *,
    email: str,
    status: str,
    now: datetime,
    customer_id: int = 0,
    renewal_of: int | None = None,
    created: datetime | None = None,
    name: str | None = None,
    simulated: bool = False,
) -> dict[str, Any]:
    """An order in WooCommerce's REST v3 shape, as a webhook delivers it.

    The billing name is ``name`` (first word the first name, the rest the last name) or,
    without it, follows the e-mail (``name_from_email``). A ``simulated`` order carries the
    meta ``_bridge_simulated``: the bridge then writes nothing about it to a shop.
    """
    order = _template()
    line_template = order["line_items"][1]
    order["line_items"] = []
    total = 0.0
    for index, line in enumerate(lines):
        item = copy.deepcopy(line_template)
        amount = line.price * line.quantity
        total += amount
        item.update(
            id=order_id * 10 + index,
            name=line.sku,
            sku=line.sku,
            quantity=line.quantity,
            price=line.price,
            product_id=0,
            variation_id=0,
            subtotal=f"{amount:.2f}",
            total=f"{amount:.2f}",
        )
        order["line_items"].append(item)
    paid = status in (OrderStatus.PROCESSING, OrderStatus.COMPLETED, OrderStatus.REFUNDED)
    created_at = created or now
    order.update(
        id=order_id,
        number=str(order_id),
        status=status,
        customer_id=customer_id,
        total=f"{total:.2f}",
        created_via="simulate",
        date_created=wc_time(created_at),
        date_created_gmt=wc_time(created_at),
        date_modified=wc_time(now),
        date_modified_gmt=wc_time(now),
        date_paid=wc_time(created_at) if paid else None,
        date_paid_gmt=wc_time(created_at) if paid else None,
        meta_data=[{"id": 1, "key": "_subscription_renewal", "value": str(renewal_of)}]
        if renewal_of
        else [],
        order_key=f"wc_order_sim{order_id}",
    )
    if simulated:
        order["meta_data"].append({"id": 2, "key": SIMULATED_META, "value": "yes"})
    order["billing"]["email"] = email
    if name is not None:
        first, _, last = " ".join(name.split()).partition(" ")
    else:
        first, last = name_from_email(email)
    order["billing"].update(first_name=first, last_name=last)
    order["payment_url"] = ""
    order["_links"] = {}
    return order


@dataclass(frozen=True)
class SignedDelivery:
    topic: str
    headers: dict[str, str]
    body: bytes


def signed_delivery(
    topic: str,
    payload: Any,
    secret: str,
    *,
    webhook_id: int = 1,
    source: str = "https://shop.example.com/",
) -> SignedDelivery:
    """Headers and body exactly as WooCommerce's webhook delivery sends them."""
    body = php_json(payload)
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }
    return SignedDelivery(topic, headers, body)


def subscription_payload(
    subscription_id: int,
    lines: list[Line],
    *,
    email: str,
    status: str,
    now: datetime,
    start: datetime,
    parent_order_id: int,
    customer_id: int = 0,
    order_ids: list[int] | None = None,
    billing_period: str = "month",
) -> dict[str, Any]:
    """A subscription in WooCommerce Subscriptions' REST v3 shape (``subscription.*`` bodies).

    It is the order shape plus the schedule: billing period and interval, start, next payment.
    """
    payload = order_payload(
        subscription_id,
        lines,
        email=email,
        status=status,
        now=now,
        created=start,
        customer_id=customer_id,
    )
    next_payment = start + timedelta(days=30)
    payload.update(
        parent_id=parent_order_id,
        created_via="checkout",
        billing_period=billing_period,
        billing_interval="1",
        start_date_gmt=wc_time(start),
        trial_end_date_gmt="",
        next_payment_date_gmt=wc_time(next_payment),
        last_payment_date_gmt=wc_time(start),
        cancelled_date_gmt="",
        end_date_gmt="",
        resubscribed_from="",
        resubscribed_subscription="",
        removed_line_items=[],
        date_paid=None,
        date_paid_gmt=None,
    )
    payload["meta_data"] = [
        {"id": 2, "key": "_subscription_renewal_order_ids_cache", "value": list(order_ids or [])}
    ]
    return payload


def example_catalogue_text() -> str:
    """The commented example catalogue shipped in the package (bridge/data)."""
    return resources.files("bridge").joinpath("data/catalog.example.toml").read_text("utf-8")


def example_catalogue_path() -> Path:
    """A filesystem path of the example catalogue (installed packages are plain files)."""
    return Path(str(resources.files("bridge").joinpath("data/catalog.example.toml")))


def sample_products() -> list[dict[str, Any]]:
    """The sample shop's products and variations, as WooCommerce's REST v3 lists them."""
    text = resources.files("bridge").joinpath("data/sample_products.json").read_text("utf-8")
    return list(json.loads(text))


class SampleShop:
    """The sample shop's catalogue, read the way the catalogue sync reads a real shop."""

    def __init__(self) -> None:
        self.products = sample_products()

    def iter_modified(
        self, path: str, modified_after: datetime | None, params: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        trash = dict(params or {}).get("status") == "trash"
        items = [
            p
            for p in self.products
            if p["type"] != "variation" and (p["status"] == "trash") == trash
        ]
        yield SamplePage(items=items, number=1, total_pages=1, total=len(items))

    def iter_collection(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        parent = int(path.split("/")[1])
        yield from (p for p in self.products if p.get("parent_id") == parent)


@dataclass(frozen=True)
class SamplePage:
    """One page of the sample shop's products (the shape of the shop client's pages)."""

    items: list[dict[str, Any]]
    number: int
    total_pages: int
    total: int
