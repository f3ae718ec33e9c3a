"""Entitlement rules: an order's current state decides what it confers (pure, no database)."""

from __future__ import annotations

import json

import pytest

from bridge.rules.entitlements import (
    OrderPayloadError,
    needs_refund_lookup,
    order_entitlements,
    refunded_quantities,
)
from tests.support.paths import REAL, load_json
from tests.support.sample_shop import make_order, sample_catalogue

PAID = ("processing", "completed")


def keys(result) -> list[str]:
    return sorted(e.key for e in result.entitlements)


def credits(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    for e in result.entitlements:
        if e.kind == "credit":
            totals[e.credit_type] = totals.get(e.credit_type, 0) + e.amount
    return totals


def test_real_paid_order_confers_two_packs_and_a_project():
    """The real order 28 (2 x 3 h pack + project) confers 2 x 180 + 60 minutes and 6 weeks."""
    order = json.loads((REAL / "deliveries" / "0030-order.created.body").read_bytes())
    result = order_entitlements(order, sample_catalogue(), paid_statuses=PAID)
    assert credits(result) == {"mentor_minutes": 420}
    project = [e for e in result.entitlements if e.kind == "access"]
    assert [(p.access_kind, (p.ends_at - p.starts_at).days) for p in project] == [("project", 42)]
    assert "order:28:line:6:unit:1:credit:mentor_minutes" in keys(result)


def test_real_partial_refund_leaves_one_pack():
    """The real partial refund of one 3 h pack (refund meta _refunded_item_id 6) leaves one."""
    order = json.loads((REAL / "deliveries" / "0057-order.updated.body").read_bytes())
    refunds = load_json("woocommerce-real/rest/4d-order-b-refunds.json")
    assert needs_refund_lookup(order, PAID)
    assert refunded_quantities(refunds) == {6: 1}
    result = order_entitlements(order, sample_catalogue(), paid_statuses=PAID, refunds=refunds)
    pack_units = {e.unit for e in result.entitlements if e.offer_sku == "MENTOR-PACK-3H"}
    assert pack_units == {0}
    assert credits(result) == {"mentor_minutes": 240}


@pytest.mark.parametrize(
    "status", ["pending", "on-hold", "checkout-draft", "refunded", "cancelled", "failed", "trash"]
)
def test_unpaid_and_ended_statuses_confer_nothing(status):
    """Only paid statuses confer; waiting and ended statuses confer nothing."""
    order = make_order(1, [("MENTOR-1H", 1)], status=status)
    assert order_entitlements(order, sample_catalogue(), paid_statuses=PAID).entitlements == ()


def test_refunded_order_needs_no_refund_lookup():
    """A refunded or cancelled order confers nothing, so its refunds are never fetched."""
    refunds = [{"id": 1, "total": "-60.00"}]
    assert not needs_refund_lookup(
        make_order(1, [("MENTOR-1H", 1)], status="refunded", refunds=refunds), PAID
    )
    assert needs_refund_lookup(make_order(1, [("MENTOR-1H", 1)], refunds=refunds), PAID)


def test_quantity_three_confers_three_units_with_distinct_keys():
    """Quantity N confers N units, each keyed by its unit index."""
    result = order_entitlements(
        make_order(5, [("COHORT-DV-2027-01", 3)]), sample_catalogue(), paid_statuses=PAID
    )
    assert keys(result) == [f"order:5:line:500:unit:{n}:seat" for n in range(3)]


def test_bundle_confers_its_own_credits_and_each_included_offer():
    """The bundle gives 120 minutes plus what the project and the assessment confer."""
    result = order_entitlements(
        make_order(6, [("BUNDLE-DV-STACK", 1)]), sample_catalogue(), paid_statuses=PAID
    )
    assert credits(result) == {"mentor_minutes": 180}
    access = sorted((e.access_kind, e.key) for e in result.entitlements if e.kind == "access")
    assert access == [
        ("assessment", "order:6:line:600:unit:0:ASSESS-DV:access:assessment"),
        ("project", "order:6:line:600:unit:0:PROJ-DATAVIZ:access:project"),
    ]


def test_free_preview_order_confers_preview_access():
    """A free preview order (total 0) confers access to the cohort preview."""
    order = make_order(7, [("PREVIEW-DV", 1)], total="0.00", paid=None)
    result = order_entitlements(order, sample_catalogue(), paid_statuses=PAID)
    assert [(e.access_kind, e.cohort) for e in result.entitlements] == [("preview", "DV-2027-01")]


def test_variation_lines_map_by_variation_id():
    """A variation line maps through its variation id (5 h pack), not its parent product."""
    order = make_order(8, [("MENTOR-PACK-5H", 1)])
    order["line_items"][0]["sku"] = ""
    result = order_entitlements(order, sample_catalogue(), paid_statuses=PAID)
    assert credits(result) == {"mentor_minutes": 300}


def test_unknown_product_lines_are_reported_not_granted():
    """A line that sells no micro-SKU is reported as unmapped and confers nothing."""
    order = make_order(9, [("T-SHIRT", 1), ("MENTOR-1H", 1)])
    result = order_entitlements(order, sample_catalogue(), paid_statuses=PAID)
    assert [u.sku for u in result.unmapped] == ["T-SHIRT"]
    assert credits(result) == {"mentor_minutes": 60}


def test_order_without_status_is_rejected_naming_the_field():
    """A payload missing a needed field is rejected with the field named."""
    order = make_order(10, [("MENTOR-1H", 1)])
    del order["status"]
    with pytest.raises(OrderPayloadError, match="'status'"):
        order_entitlements(order, sample_catalogue(), paid_statuses=PAID)


def test_renewal_meta_is_parsed_from_a_string():
    """The real renewal order carries _subscription_renewal as a string id."""
    order = json.loads((REAL / "deliveries" / "0074-order.created.body").read_bytes())
    result = order_entitlements(order, sample_catalogue(), paid_statuses=PAID)
    assert result.facts.renewal_of == (39,)
    assert credits(result) == {"mentor_minutes": 60, "portfolio_reviews": 1}


def test_entitlements_made_quickly_equal_those_the_dataclass_makes():
    """``_entitlement`` skips the frozen dataclass's __init__, not what it checks or sets."""
    from datetime import UTC, datetime

    from bridge.rules.entitlements import Entitlement, _entitlement

    values = {
        "key": "order:1:line:2:unit:0:access:project",
        "kind": "access",
        "order_id": 1,
        "line_item_id": 2,
        "unit": 0,
        "offer_sku": "P",
        "access_kind": "project",
        "starts_at": datetime(2026, 1, 1, tzinfo=UTC),
        "details": {"badge": "b"},
    }
    made = _entitlement(dict(values))
    assert made == Entitlement(**values)
    assert repr(made) == repr(Entitlement(**values))
    bare = {k: v for k, v in values.items() if k != "details"}
    assert _entitlement(dict(bare)).details == {}
    assert _entitlement(dict(bare)).details is not _entitlement(dict(bare)).details
    with pytest.raises(TypeError):
        _entitlement({k: v for k, v in values.items() if k != "unit"})
    with pytest.raises(TypeError):
        _entitlement(dict(values, colour="red"))


def test_order_facts_made_quickly_equal_those_the_dataclass_makes():
    """``_frozen`` sets every field at once; given a field too few or too many, the dataclass
    itself is called (and says what is wrong)."""
    import dataclasses

    from bridge.rules.entitlements import OrderFacts, _frozen, order_facts

    facts = order_facts(make_order(42, [("MH-1", 2)], status="completed"))
    values = dataclasses.asdict(facts)
    values["refund_ids"] = tuple(values["refund_ids"])
    assert facts == OrderFacts(**values)
    assert repr(facts) == repr(OrderFacts(**values))
    assert _frozen(OrderFacts, dict(values)) == facts
    with pytest.raises(TypeError):
        _frozen(OrderFacts, {k: v for k, v in values.items() if k != "order_id"})
    with pytest.raises(TypeError):
        _frozen(OrderFacts, dict(values, colour="red"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.status = "x"  # type: ignore[misc]
