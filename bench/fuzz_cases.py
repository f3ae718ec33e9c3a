"""A seeded generator of hostile requests for the receiver, the API and the pages.

Shared by bench/fuzz.py (10,000 against a real server) and tests/web/test_fuzz.py (a few hundred
cases in CI), which imports it from here: bench/ imports nothing from tests/. The same seed gives
the same requests. Each case says what it is, whether it is
signed, and whether it is poisoned: a signed delivery that must end ``rejected`` (or refused
with 400), never processed, never retried forever.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bridge.rules.inbound.signatures import sign
from bridge.services.operations import Line, order_payload
from bridge.services.operations.simulation import php_json

RECEIVER = "/webhooks/woocommerce"
# SKUs of catalog.example.toml (and of tests/support/sample_shop.py).
SKUS = ("MENTOR-1H", "MENTOR-PACK-3H", "PROJ-DATAVIZ", "COHORT-DV-2027-01", "BUNDLE-DV-STACK")


@dataclass
class Case:
    """One request: method, path, headers, body; ``signed`` when it carries a valid signature."""

    kind: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    signed: bool = False
    # A signed delivery the bridge must refuse to process (stored rejected, or 400).
    poisoned: bool = False


def _order(rng: random.Random, order_id: int) -> dict[str, Any]:
    lines = [Line(rng.choice(SKUS), rng.randint(1, 3), 10.0) for _ in range(rng.randint(1, 3))]
    return order_payload(
        order_id,
        lines,
        email=f"fuzz{order_id}@example.com",
        status=rng.choice(("processing", "completed", "on-hold")),
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )


def _headers(topic: str, body: bytes, secret: str, rng: random.Random) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/11.0.1 Hookshot (WordPress/7.1) fuzz",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(body, secret),
        "X-WC-Webhook-ID": str(rng.randint(1, 99)),
        "X-WC-Webhook-Delivery-ID": f"{rng.getrandbits(128):032x}",
    }


def _poison_order(rng: random.Random, order: dict[str, Any]) -> tuple[str, Any]:
    """One of the payload shapes seen to wedge or crash the bridge."""
    line = order["line_items"][0]
    choice = rng.randrange(14)
    if choice == 0:
        line["quantity"] = int("9" * 400)
        return "quantity 9*400", order
    if choice == 1:
        line["quantity"] = 10**20
        return "quantity 10**20", order
    if choice == 2:
        line["quantity"] = float("inf")
        return "quantity 1e400", order
    if choice == 3:
        line["total"] = "1e308"
        return "line total 1e308", order
    if choice == 4:
        order["billing"] = "x"
        return "billing 'x'", order
    if choice == 5:
        order["id"] = -rng.randint(1, 10**6)
        return "negative order id", order
    if choice == 6:
        order["id"] = 2**63 + rng.randint(0, 10**6)
        return "order id >= 2^63", order
    if choice == 7:
        line["quantity"] = rng.choice((-1, 1001, 5000, 2.5, "3", [], {}))
        return "odd quantity", order
    if choice == 8:
        order["line_items"] = rng.choice(("x", {"0": line}, [1, 2], 7))
        return "line_items not a list of objects", order
    if choice == 9:
        order["customer_id"] = rng.choice((-3, 2**64, "7", 1.5, []))
        return "odd customer id", order
    if choice == 10:
        line["id"] = rng.choice((0, -1, 2**63, "x"))
        return "odd line id", order
    if choice == 11:
        order["status"] = rng.choice((None, 7, ["processing"], "x" * 500))
        return "odd status", order
    if choice == 12:
        order["refunds"] = [{"id": rng.choice((-1, "r", 2**70)), "total": "-1.00"}]
        return "odd refund", order
    order["meta_data"] = rng.choice(("x", [1], [{"key": ["k"]}]))
    return "odd meta_data", order


def _deep(depth: int) -> bytes:
    return b'{"id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"


def receiver_case(rng: random.Random, secret: str, order_id: int) -> Case:
    """A request to the WooCommerce receiver: valid, poisoned, malformed or unsigned."""
    roll = rng.random()
    if roll < 0.15:
        topic = rng.choice(("order.created", "order.updated"))
        body = php_json(_order(rng, order_id))
        return Case(
            "valid order", "POST", RECEIVER, _headers(topic, body, secret, rng), body, signed=True
        )
    if roll < 0.45:
        what, payload = _poison_order(rng, _order(rng, order_id))
        body = json.dumps(payload, allow_nan=True).encode()
        return Case(
            f"poisoned: {what}",
            "POST",
            RECEIVER,
            _headers("order.updated", body, secret, rng),
            body,
            signed=True,
            poisoned=True,
        )
    if roll < 0.55:
        raw = rng.choice(
            (
                _deep(rng.choice((100, 1000, 50_000))),
                b'{"id": 5, "total": NaN}',
                b"\xef\xbb\xbf" + php_json({"id": order_id, "status": "processing"}),
                b'{"id": ' + b"9" * rng.choice((30, 5000)) + b"}",
                b"\xff\xfe{}",
                b"not json at all",
                b"",
            )
        )
        return Case(
            "signed malformed body",
            "POST",
            RECEIVER,
            _headers("order.updated", raw, secret, rng),
            raw,
            signed=True,
            poisoned=True,
        )
    if roll < 0.62:
        body = php_json(_order(rng, order_id))
        topic = rng.choice(
            (
                "order.exploded",
                "coupon.created",
                "action.woocommerce_x",
                "",
                "order",
                ".updated",
                "x" * 300,
                "subscription.updated",
            )
        )
        payload_body = body if topic != "subscription.updated" else b"[]"
        return Case(
            "unknown topic",
            "POST",
            RECEIVER,
            _headers(topic, payload_body, secret, rng),
            payload_body,
            signed=True,
        )
    if roll < 0.72:
        body = rng.choice(
            (
                b"webhook_id=" + b"9" * rng.choice((1, 20, 5000)),
                b"webhook_id=-5",
                b"webhook_id=\xc2\xb9",
                b"webhook_id=",
                b"webhook_id=12&x=1",
            )
        )
        return Case(
            "ping", "POST", RECEIVER, {"Content-Type": "application/x-www-form-urlencoded"}, body
        )
    if roll < 0.85:
        body = php_json(_order(rng, order_id))
        headers = _headers("order.updated", body, secret, rng)
        variant = rng.randrange(4)
        if variant == 0:
            del headers["X-WC-Webhook-Signature"]
        elif variant == 1:
            headers["X-WC-Webhook-Signature"] = rng.choice(("x", "", "=" * 90, "é", "A" * 44))
        elif variant == 2:
            body = body[:-1] + b" "
        else:
            headers["X-WC-Webhook-Signature"] = sign(body, secret + "x")
        return Case("unsigned", "POST", RECEIVER, headers, body)
    method = rng.choice(("GET", "PUT", "DELETE", "PATCH"))
    return Case("wrong method", method, RECEIVER)


def _text(rng: random.Random) -> str:
    pool = (
        "0",
        "00",
        "-1",
        "¹",
        "%C2%B9",
        "٣",
        "9" * 30,
        "9" * 5000,
        "a@b.c",
        "x" * 300,
        "%00",
        "%2F",
        "..",
        "%FF",
        "a%40example.com",
        "1e5",
        " 7",
        "7 ",
        "\u202e",
    )
    return rng.choice(pool)


def api_case(rng: random.Random, token: str) -> Case:
    """A request to /api/v1 or a page: odd paths, ids, bodies, tokens and content types."""
    auth = {"Authorization": f"Bearer {token}"} if rng.random() < 0.8 else {}
    roll = rng.randrange(9)
    if roll == 0:
        return Case("learner", "GET", f"/api/v1/learners/{_text(rng)}", auth)
    if roll == 1:
        return Case(
            "redemption id",
            rng.choice(("DELETE", "GET")),
            f"/api/v1/redemptions/{_text(rng)}",
            auth,
        )
    if roll == 2:
        body = rng.choice(
            (
                {"learner": _text(rng), "credit_type": "mentor_minutes", "amount": 30},
                {"learner": 2**64, "credit_type": "mentor_minutes", "amount": 2**70},
                {"learner": "a@b.c", "credit_type": ["x"], "amount": 1.5},
                [1, 2],
                "x",
                None,
                {"amount": float("nan")},
            )
        )
        raw = json.dumps(body).encode() if rng.random() < 0.8 else _deep(5000)
        headers = {
            **auth,
            "Content-Type": rng.choice(("application/json", "text/plain", "application/xml")),
            "Idempotency-Key": rng.choice(("k1", "é", "x" * 300, "")),
        }
        return Case("redeem", "POST", "/api/v1/redemptions", headers, raw)
    if roll == 3:
        return Case(
            "events",
            rng.choice(("POST", "GET")),
            "/api/v1/events",
            {**auth, "Content-Type": "application/json"},
            rng.choice((b"{}", b"[]", b'{"kind": 7}', _deep(3000), b"\xff")),
        )
    if roll == 4:
        query = rng.choice(
            (
                "from=2026-13-01",
                "from=" + "9" * 5000,
                "to=x&from=y",
                "tz=Mars/Olympus",
                "month=%FF",
                "format=csv&from=-1",
            )
        )
        return Case("report page", "GET", f"/report?{query}", {})
    if roll == 5:
        return Case("health", "GET", rng.choice(("/healthz", "/readyz", "/api/v1/openapi.json")))
    if roll == 6:
        return Case(
            "unknown path",
            rng.choice(("GET", "POST")),
            rng.choice(("/nope", "/api/v1/", "/api/v1/learners", "/%FF", "/" + "a" * 9000)),
        )
    if roll == 7:
        return Case(
            "wrong method",
            rng.choice(("PUT", "PATCH")),
            rng.choice(("/api/v1/redemptions", "/healthz", "/report")),
            auth,
        )
    bad = {
        "Authorization": rng.choice(
            ("Bearer", "Bearer " + "x" * 5000, "Basic Zm9v", "Bearer é", "bearer  ")
        )
    }
    return Case("bad token", "GET", "/api/v1/learners/a@b.c", bad)


def cases(
    seed: int, count: int, *, secret: str, token: str, first_order_id: int = 10_000
) -> Iterator[Case]:
    """``count`` cases, the same for the same seed: about 70 % receiver, 30 % API and pages."""
    rng = random.Random(seed)
    for index in range(count):
        if rng.random() < 0.7:
            yield receiver_case(rng, secret, first_order_id + index)
        else:
            yield api_case(rng, token)
