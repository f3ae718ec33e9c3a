"""Realistic, correctly signed WooCommerce deliveries, to try the bridge without buying anything.

The order template is a real WooCommerce 11 order delivery; bodies are serialised the way PHP
does (``\\/`` and ``\\uXXXX``) so the receiver verifies exactly what a shop would send.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from bridge.rules.signatures import sign

USER_AGENT = "WooCommerce/11.0.1 Hookshot (WordPress/7.1) creator-bridge-simulate"


def _template() -> dict[str, Any]:
    text = resources.files("bridge").joinpath("data/order_template.json").read_text("utf-8")
    return json.loads(text)


def php_json(payload: Any) -> bytes:
    """JSON as WordPress's wp_json_encode writes it: compact, ``/`` escaped, ASCII only."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace(
        "/", "\\/"
    ).encode("ascii")


def wc_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int = 1
    price: float = 0.0


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
) -> dict[str, Any]:
    """An order in WooCommerce's REST v3 shape, as a webhook delivers it."""
    order = _template()
    line_template = order["line_items"][1]
    order["line_items"] = []
    total = 0.0
    for index, line in enumerate(lines):
        item = copy.deepcopy(line_template)
        amount = line.price * line.quantity
        total += amount
        item.update(id=order_id * 10 + index, name=line.sku, sku=line.sku,
                    quantity=line.quantity, price=line.price, product_id=0, variation_id=0,
                    subtotal=f"{amount:.2f}", total=f"{amount:.2f}")
        order["line_items"].append(item)
    paid = status in ("processing", "completed", "refunded")
    created_at = created or now
    order.update(
        id=order_id, number=str(order_id), status=status, customer_id=customer_id,
        total=f"{total:.2f}", created_via="simulate",
        date_created=wc_time(created_at), date_created_gmt=wc_time(created_at),
        date_modified=wc_time(now), date_modified_gmt=wc_time(now),
        date_paid=wc_time(created_at) if paid else None,
        date_paid_gmt=wc_time(created_at) if paid else None,
        meta_data=[{"id": 1, "key": "_subscription_renewal", "value": str(renewal_of)}]
        if renewal_of else [],
        order_key=f"wc_order_sim{order_id}",
    )
    order["billing"]["email"] = email
    order["payment_url"] = ""
    order["_links"] = {}
    return order


@dataclass(frozen=True)
class SignedDelivery:
    topic: str
    headers: dict[str, str]
    body: bytes


def signed_delivery(topic: str, payload: Any, secret: str, *, webhook_id: int = 1,
                    source: str = "https://shop.example.com/") -> SignedDelivery:
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
