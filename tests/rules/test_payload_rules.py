"""The payload rules at the edge: strict JSON, known topics, ids, quantities, amounts, shapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.rules.inbound.payloads import (
    BodyRefused,
    PayloadRejected,
    check_payload,
    classify,
    handled_topic,
    parse_json_body,
    sorted_json,
)
from tests.support.paths import FIXTURES, REAL, load_json

HANDLED = frozenset({"order", "customer", "product", "subscription"})


def test_every_captured_delivery_and_rest_object_passes_the_rules():
    """Real WooCommerce 11 bodies and REST pages are never rejected."""
    for path in sorted((REAL / "deliveries").glob("*.body")):
        body = path.read_bytes()
        if body.startswith(b"webhook_id="):
            continue
        topic = json.loads(path.with_name(path.name.replace(".body", ".headers.json")).read_text())[
            "headers"
        ]
        topic = dict(topic)["X-WC-Webhook-Topic"]
        status, reason = classify(topic, parse_json_body(body), HANDLED)
        assert status in ("received", "ignored"), (path.name, reason)
    pages = {
        "order": ["5-orders-modified-after-page1", "5-orders-modified-after-page2"],
        "product": ["5-products-per_page-100", "5-product-variations"],
        "subscription": ["5-subscriptions", "4h-subscription-orders-final"],
    }
    for resource, names in pages.items():
        for name in names:
            for item in load_json(f"woocommerce-real/rest/{name}.json"):
                check_payload("order" if "orders" in name else resource, item)
    for name, resource in (
        ("order_727_v3", "order"),
        ("product_794_v3", "product"),
        ("subscription_1300_v3", "subscription"),
    ):
        check_payload(
            resource, json.loads((FIXTURES / "woocommerce" / f"{name}.json").read_bytes())
        )


ORDER = load_json("woocommerce/order_727_v3.json")


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda o: o.update(id=-5), "id"),
        (lambda o: o.update(id=0), "id"),
        (lambda o: o.update(id=2**63), "id"),
        (lambda o: o.update(id=True), "id"),
        (lambda o: o.update(billing="x"), "billing"),
        (lambda o: o.update(customer_id="7"), "customer_id"),
        (lambda o: o.update(status=None), "status"),
        (lambda o: o.update(line_items={"0": {}}), "line_items"),
        (lambda o: o.update(refunds=[{"id": "r"}]), "refunds[0].id"),
        (lambda o: o.update(total="1e308"), "total"),
        (lambda o: o["line_items"][0].update(quantity=10**20), "quantity"),
        (lambda o: o["line_items"][0].update(quantity=1001), "quantity"),
        (lambda o: o["line_items"][0].update(quantity=-1), "quantity"),
        (lambda o: o["line_items"][0].update(quantity=2.5), "quantity"),
        (lambda o: o["line_items"][0].update(quantity=float("inf")), "quantity"),
        (lambda o: o["line_items"][0].update(total="NaN"), "total"),
        (lambda o: o["line_items"][0].update(price=float("nan")), "price"),
        (lambda o: o["line_items"][0].update(id=2**64), "line_items[0].id"),
        (lambda o: o["line_items"][0].update(sku="a\x00b"), "NUL"),
        (lambda o: o.update(meta_data=[{"key": ["k"]}]), "meta_data[0].key"),
        (lambda o: o.update(date_modified_gmt={"x": 1}), "date_modified_gmt"),
    ],
)
def test_an_order_breaking_a_rule_is_rejected_naming_the_field(change, field):
    """The reason names the first field that is wrong, never the whole value."""
    order = copy.deepcopy(ORDER)
    change(order)
    with pytest.raises(PayloadRejected) as caught:
        check_payload("order", order)
    assert field in str(caught.value)
    assert len(str(caught.value)) < 200


def test_the_quantity_bound_is_configurable():
    """1,000 units pass by default; a lower bound refuses them."""
    order = copy.deepcopy(ORDER)
    order["line_items"][0]["quantity"] = 1000
    check_payload("order", order)
    with pytest.raises(PayloadRejected, match="between 0 and 10"):
        check_payload("order", order, max_quantity=10)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a": NaN}', "NaN"),
        (b"[1, -Infinity]", "-Infinity"),
        (b"[" * 65 + b"]" * 65, "nested deeper than 64"),
        (b"[" * 100_000, "nested deeper"),
        (b"\xff", "not UTF-8"),
        (b'{"a": ' + b"9" * 5000 + b"}", "digits"),
        (b"", "not JSON"),
    ],
)
def test_a_body_that_is_not_strict_json_is_refused(body, reason):
    """Only what WooCommerce sends parses: UTF-8, no BOM, no NaN, not absurdly deep."""
    with pytest.raises(BodyRefused, match=reason):
        parse_json_body(body)


def test_only_known_topics_are_processed_and_empty_bodies_ignored():
    """order.exploded and action.* are ignored; the literal [] is ignored, not rejected."""
    assert handled_topic("order.updated") and handled_topic("subscription.switched")
    assert not handled_topic("order.exploded") and not handled_topic("action.woocommerce_x")
    assert classify("order.exploded", ORDER, HANDLED)[0] == "ignored"
    assert classify("subscription.updated", [], HANDLED)[0] == "ignored"
    assert classify("order.updated", "x", HANDLED)[0] == "rejected"
    assert classify("order.deleted", {"id": 5}, HANDLED) == ("received", "")


@given(
    st.recursive(
        st.text(alphabet='\\u0\x00ab"') | st.integers() | st.none(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(alphabet="\\u0\x00k", max_size=4), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_nul_is_found_in_the_json_text_exactly_where_a_walk_of_the_tree_finds_it(value):
    """The fast search (over json.dumps) and the plain walk agree, backslashes and all."""
    from bridge.rules.inbound.payloads import _has_nul, _walk_has_nul

    assert _has_nul(value) == _walk_has_nul(value)


def test_captured_orders_take_the_quick_path():
    """Real orders pass the quick check and their text shows no NUL or surrogate, so the walk
    that names a field runs only for an order that breaks a rule."""
    from bridge.rules.inbound.payloads import _order_like_ok, payload_text

    orders = [
        *load_json("woocommerce-real/rest/5-orders-modified-after-page1.json"),
        *load_json("woocommerce-real/rest/5-orders-modified-after-page2.json"),
        ORDER,
    ]
    for order in orders:
        assert _order_like_ok(order, 1000), order["id"]
        assert payload_text(order).plain, order["id"]


_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet='\\u0\x00\ud800é😀ab".-1', max_size=45)
    | st.sampled_from(["", "1.00", "-2.5", "1e5", " 3 ", "x" * 65, [], {}, [{"key": 1}]])
)
_FIELDS = [
    "id",
    "customer_id",
    "parent_id",
    "status",
    "currency",
    "total",
    "cart_tax",
    "billing",
    "shipping",
    "meta_data",
    "line_items",
    "refunds",
    "fee_lines",
    "date_paid_gmt",
    "date_x",
    "x_date",
    "_links",
]
_LINE_FIELDS = [
    "id",
    "product_id",
    "variation_id",
    "quantity",
    "sku",
    "name",
    "total",
    "price",
    "meta_data",
]


@given(
    st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=3),
    st.dictionaries(st.sampled_from(_LINE_FIELDS), _VALUES, max_size=3),
    st.dictionaries(st.sampled_from(["email", "first_name"]), _VALUES, max_size=2),
)
def test_the_quick_path_and_the_walk_give_the_same_answer(changes, line_changes, billing):
    """Whatever breaks a rule is named exactly as the walk names it, with or without the text
    the fingerprint was made of."""
    from bridge.rules.inbound.payloads import _Check, _check_storable, payload_text

    order = copy.deepcopy(ORDER)
    order.update(changes)
    lines = order.get("line_items")
    if isinstance(lines, list) and lines and isinstance(lines[0], dict):
        lines[0].update(line_changes)
    if isinstance(order.get("billing"), dict):
        order["billing"].update(billing)

    def walked() -> str:
        try:
            _Check("order", 1000).id(order, "id", "", required=True, zero=False)
            _check_storable("order", order)
            if set(order) != {"id"}:
                _Check("order", 1000).order_like(order)
        except PayloadRejected as exc:
            return str(exc)
        return ""

    def checked(**kw: Any) -> str:
        try:
            check_payload("order", order, **kw)
        except PayloadRejected as exc:
            return str(exc)
        return ""

    expected = walked()
    assert checked() == expected
    assert checked(text=payload_text(order)) == expected


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(_JSON_VALUES)
def test_sorted_json_is_the_standard_librarys_text(value):
    """orjson's text, made to match: every stored fingerprint keeps its value."""
    assert sorted_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_sorted_json_matches_on_what_orjson_writes_otherwise():
    class Text(str):
        pass

    for value in (
        {"é": "€ 😀 \x7f \u2028", "a": [1e-05, 1e16, 0.1, -0.0]},
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},  # not JSON: the standard library refuses it
        {"x": Text("kept")},
        {1: "a non-text key"},
        {"big": 2**80},
    ):
        try:
            expected = json.dumps(value, sort_keys=True, separators=(",", ":"))
        except TypeError:
            with pytest.raises(TypeError):
                sorted_json(value)
            continue
        assert sorted_json(value) == expected
    # The one difference, which WooCommerce (PHP's json_encode) never sends.
    assert sorted_json({"a": float("nan")}) == '{"a":null}'
