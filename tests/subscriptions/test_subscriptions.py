"""Subscriptions: stored from payloads, one period of credits per paid order, perks by status."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import Offer
from bridge.rules.entitlements import order_entitlements
from bridge.rules.periods import DEFAULT_POLICY, BillingPeriod, parse_billing_period
from bridge.services.inbox import Delivery, record_delivery
from bridge.services.ledger import active_perks, balances, expire_credits, find_learner
from bridge.services.orders import build_handlers, process_order
from bridge.services.subscriptions import (
    learner_subscriptions,
    process_subscription,
    reconcile_subscriptions,
    subscription_policy,
)
from bridge.services.subscriptions.subscriptions import SubscriptionPayloadError, parse_subscription
from bridge.settings import Settings, load_settings
from bridge.shop.protocol import Page
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, Subscription
from tests.support.paths import REAL, load_json, real_delivery
from tests.support.sample_shop import BINDINGS, OFFERS, PRODUCT_IDS, make_order, sample_catalogue

PLUS = Offer(
    "SUB-MENTOR-PLUS",
    "subscription",
    "Mentor subscription plus",
    {"mentor_minutes": 120, "portfolio_reviews": 2},
    perks=("priority job intros", "portfolio spotlight"),
)
PRIORITY = ["priority job intros"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def catalogue():
    base = sample_catalogue()
    return dataclasses.replace(
        base, offers={**OFFERS, PLUS.sku: PLUS}, bindings={**BINDINGS, 27: PLUS.sku}
    )


def real_body(name: str) -> dict:
    return json.loads((REAL / "deliveries" / f"{name}.body").read_bytes())


def subscription(
    sub_id: int,
    *,
    status: str = "active",
    parent: int | None = None,
    modified: str = "2027-01-10T09:00:00",
    period: str = "month",
    interval: object = "1",
    next_payment: str = "",
    end: str = "",
    sku: str = "SUB-MENTOR-MONTHLY",
    email: str = "alice@example.com",
    customer_id: int = 2,
) -> dict:
    """The real subscription 39 (delivery 0071) with its identity, state and plan replaced."""
    payload = real_body("0071-subscription.updated")
    payload.update(
        id=sub_id,
        status=status,
        parent_id=parent or 0,
        date_modified_gmt=modified,
        billing_period=period,
        billing_interval=interval,
        next_payment_date_gmt=next_payment,
        end_date_gmt=end,
        customer_id=customer_id,
    )
    payload["billing"]["email"] = email
    payload["line_items"][0].update(sku=sku, product_id=PRODUCT_IDS.get(sku, 27))
    return payload


def sub_order(
    order_id: int,
    paid: str,
    *,
    renewal_of: int | None = None,
    switch_of: int | None = None,
    status: str = "processing",
    modified: str | None = None,
    sku: str = "SUB-MENTOR-MONTHLY",
    email: str = "alice@example.com",
    customer_id: int = 2,
) -> dict:
    """A parent, renewal or switch order for one unit of a subscription SKU."""
    meta = []
    if renewal_of is not None:
        meta.append({"id": 1, "key": "_subscription_renewal", "value": str(renewal_of)})
    if switch_of is not None:
        meta.append({"id": 2, "key": "_subscription_switch", "value": str(switch_of)})
    order = make_order(
        order_id,
        [(sku, 1)],
        status=status,
        paid=paid,
        modified=modified or paid,
        meta=meta,
        email=email,
        customer_id=customer_id,
    )
    if sku == PLUS.sku:
        order["line_items"][0]["product_id"] = 27
    return order


def order(engine, config, catalogue, payload):
    return process_order(engine, payload, catalogue=catalogue, settings=config)


def sub(engine, config, catalogue, payload, **kwargs):
    return process_subscription(engine, payload, catalogue, settings=config, **kwargs)


def learner_id(engine, email="alice@example.com") -> int:
    with unit_of_work(engine) as session:
        learner = find_learner(session, email)
        assert learner is not None
        return learner.id


def balance(engine, email="alice@example.com") -> dict[str, int]:
    with unit_of_work(engine) as session:
        return balances(session, learner_id(engine, email))


def held(engine, order_id: int) -> list[tuple[str, int, datetime | None]]:
    """Grants an order holds now: (credit type, amount, expires_at), by credit type."""
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(LedgerEntry).where(LedgerEntry.order_id == order_id).order_by(LedgerEntry.id)
        ).all()
    reversed_ids = {row.reverses_id for row in rows}
    return sorted(
        (row.credit_type, row.amount, row.expires_at)
        for row in rows
        if row.reason == "grant" and row.id not in reversed_ids
    )


def perks(engine, catalogue=None, now=None, email="alice@example.com") -> list[str]:
    with unit_of_work(engine) as session:
        return active_perks(session, learner_id(engine, email), catalogue=catalogue, now=now)


def views(engine, now=None, email="alice@example.com") -> list[dict]:
    with unit_of_work(engine) as session:
        return learner_subscriptions(session, learner_id(engine, email), now=now)


def stored(engine, sub_id: int) -> Subscription:
    with unit_of_work(engine) as session:
        row = session.get(Subscription, sub_id)
        assert row is not None
        return row


def test_real_renewal_order_grants_one_period_expiring_by_credit_type(engine, config, catalogue):
    """Delivery 0074 (renewal of 39) grants 60 minutes and a review for one month, plus rollover."""
    outcome = order(engine, config, catalogue, real_body("0074-order.created"))
    assert outcome.count("credit_granted") == 3  # two period credits and the complimentary call
    assert balance(engine) == {"mentor_minutes": 60 + 30, "portfolio_reviews": 1}
    assert held(engine, 40) == [
        ("mentor_minutes", 60, at("2027-01-28T15:57:46")),
        ("portfolio_reviews", 1, at("2026-12-28T15:57:46")),
    ]


def test_real_subscription_payloads_parse(catalogue):
    """0071, the REST subscription, its listing and the docs example parse; "" dates are None."""
    updated = parse_subscription(real_body("0071-subscription.updated"), catalogue)
    assert (updated.subscription_id, updated.status, updated.parent_order_id) == (39, "active", 38)
    assert updated.period == BillingPeriod("month", 1)
    assert updated.next_payment_gmt is None and updated.end_gmt is None
    assert updated.start_gmt == at("2026-11-28T15:57:18")
    assert updated.offer_skus == ("SUB-MENTOR-MONTHLY",) and updated.customer_id == 2
    final = parse_subscription(
        load_json("woocommerce-real/rest/4h-subscription-get-final.json"), catalogue
    )
    assert (final.status, final.order_ids) == ("cancelled", (40,))
    listed = [
        parse_subscription(item, catalogue)
        for item in load_json("woocommerce-real/rest/5-subscriptions.json")
    ]
    assert [(s.subscription_id, s.status, s.offer_skus) for s in listed] == [
        (39, "cancelled", ("SUB-MENTOR-MONTHLY",)),
        (15, "on-hold", ()),
    ]
    assert [line.sku for line in listed[1].unmapped] == ["WCREAL-SUB-1"]
    docs = parse_subscription(load_json("woocommerce/subscription_1300_v3.json"), catalogue)
    assert docs.period == BillingPeriod("week", 1)
    assert docs.next_payment_gmt == at("2021-04-29T10:44:41")
    assert parse_billing_period("month", 1) == parse_billing_period("month", "1")
    with pytest.raises(SubscriptionPayloadError, match="fortnight"):
        parse_subscription(
            {**real_body("0071-subscription.updated"), "billing_period": "fortnight"}, catalogue
        )


def test_real_parent_and_renewal_orders_grant_a_period_each(engine, config, catalogue):
    """The orders listed for subscription 39 (parent 38, renewal 40) grant two periods."""
    sub(engine, config, catalogue, real_body("0071-subscription.updated"))
    for payload in load_json("woocommerce-real/rest/4h-subscription-orders-final.json"):
        order(engine, config, catalogue, payload)
    assert balance(engine) == {"mentor_minutes": 2 * 60 + 30, "portfolio_reviews": 2}
    assert [expiry for _, _, expiry in held(engine, 38)] == [
        at("2027-01-28T15:57:11"),
        at("2026-12-28T15:57:11"),
    ]
    assert perks(engine) == PRIORITY


def test_initial_order_then_three_renewals_grant_four_periods(engine, config, catalogue):
    """A parent order and three monthly renewals grant four periods, each expiring on its own."""
    sub(engine, config, catalogue, subscription(70, parent=700, next_payment="2027-05-10T09:00:00"))
    paid = [
        "2027-01-10T09:00:00",
        "2027-02-10T09:00:00",
        "2027-03-10T09:00:00",
        "2027-04-10T09:00:00",
    ]
    order(engine, config, catalogue, sub_order(700, paid[0]))
    for number, when in enumerate(paid[1:], start=1):
        order(engine, config, catalogue, sub_order(700 + number, when, renewal_of=70))
    assert balance(engine) == {"mentor_minutes": 4 * 60 + 30, "portfolio_reviews": 4}
    assert held(engine, 703) == [
        ("mentor_minutes", 60, at("2027-06-10T09:00:00")),
        ("portfolio_reviews", 1, at("2027-05-10T09:00:00")),
    ]
    [view] = views(engine, now=at("2027-04-20T00:00:00"))
    assert view["current_period"] == {
        "order_id": 703,
        "starts_at": "2027-04-10T09:00:00+00:00",
        "ends_at": "2027-05-10T09:00:00+00:00",
        "current": True,
        "granted": {"mentor_minutes": 60, "portfolio_reviews": 1},
    }
    assert view["next_grant"] == {
        "at": "2027-05-10T09:00:00+00:00",
        "awaiting_payment": False,
        "credits": {"mentor_minutes": 60, "portfolio_reviews": 1},
    }
    assert view["perks"] == PRIORITY and view["period"] == "1 month"


def test_failed_renewal_suspends_perks_until_it_is_paid(engine, config, catalogue):
    """On hold with a failed renewal: no perks and no period; once paid, both come back."""
    sub(engine, config, catalogue, subscription(71, parent=710))
    order(engine, config, catalogue, sub_order(710, "2027-01-10T09:00:00"))
    sub(
        engine,
        config,
        catalogue,
        subscription(71, status="on-hold", parent=710, modified="2027-02-10T09:05:00"),
    )
    order(
        engine,
        config,
        catalogue,
        sub_order(711, None, renewal_of=71, status="failed", modified="2027-02-10T09:05:00"),
    )
    assert perks(engine) == [] and held(engine, 711) == []
    assert views(engine)[0]["next_grant"]["awaiting_payment"] is True
    order(
        engine,
        config,
        catalogue,
        sub_order(711, "2027-02-12T10:00:00", renewal_of=71, modified="2027-02-12T10:00:00"),
    )
    sub(engine, config, catalogue, subscription(71, parent=710, modified="2027-02-12T10:00:05"))
    assert perks(engine) == PRIORITY
    assert held(engine, 711) == [
        ("mentor_minutes", 60, at("2027-04-12T10:00:00")),
        ("portfolio_reviews", 1, at("2027-03-12T10:00:00")),
    ]


def test_cancellation_ends_perks_and_keeps_paid_credits_until_they_expire(
    engine, config, catalogue
):
    """Cancelled: perks end, the paid periods' credits and their expiry stay as they were."""
    sub(engine, config, catalogue, subscription(72, parent=720))
    order(engine, config, catalogue, sub_order(720, "2027-01-10T09:00:00"))
    before = held(engine, 720)
    outcome = sub(
        engine,
        config,
        catalogue,
        subscription(72, status="cancelled", parent=720, modified="2027-01-20T09:00:00"),
    )
    assert (outcome.previous_status, outcome.perks_changed) == ("active", True)
    assert perks(engine) == [] and held(engine, 720) == before
    assert views(engine)[0]["next_grant"] is None


def test_revoke_on_cancel_expires_unspent_credits_whatever_the_order_of_arrival(
    engine, database_url, catalogue
):
    """With the revoke setting, credits paid before the cancellation expire at it, even late."""
    config = Settings().replace(
        database={"url": database_url},
        subscriptions={"revoke_on_cancel": True},
    )
    sub(engine, config, catalogue, subscription(73, parent=730))
    order(engine, config, catalogue, sub_order(730, "2027-01-10T09:00:00"))
    sub(
        engine,
        config,
        catalogue,
        subscription(
            73,
            status="cancelled",
            parent=730,
            end="2027-02-25T00:00:00",
            modified="2027-02-25T00:00:00",
        ),
    )
    # The February renewal, paid before the cancellation, is delivered after it.
    order(engine, config, catalogue, sub_order(731, "2027-02-10T09:00:00", renewal_of=73))
    cancelled = at("2027-02-25T00:00:00")
    assert held(engine, 730) == [
        ("mentor_minutes", 60, cancelled),
        ("portfolio_reviews", 1, at("2027-02-10T09:00:00")),
    ]
    assert held(engine, 731) == [
        ("mentor_minutes", 60, cancelled),
        ("portfolio_reviews", 1, cancelled),
    ]
    expire_credits(engine, now=at("2027-02-26T00:00:00"))
    assert balance(engine) == {"mentor_minutes": 30, "portfolio_reviews": 0}


def test_pending_cancel_keeps_perks_until_its_end_date(engine, config, catalogue):
    """Pending-cancel is paid up to its end: perks hold until then, not after."""
    sub(
        engine,
        config,
        catalogue,
        subscription(74, status="pending-cancel", parent=740, end="2027-02-10T09:00:00"),
    )
    order(engine, config, catalogue, sub_order(740, "2027-01-10T09:00:00"))
    assert perks(engine, now=at("2027-02-01T00:00:00")) == PRIORITY
    assert perks(engine, now=at("2027-02-10T09:00:00")) == []
    assert views(engine)[0]["next_grant"] is None
    assert balance(engine) == {"mentor_minutes": 90, "portfolio_reviews": 1}


def test_switch_moves_the_learner_to_the_new_plan_from_the_switch_order_on(
    engine, config, catalogue
):
    """The switch order grants the new plan's period; the switched subscription's perks end."""
    sub(engine, config, catalogue, subscription(75, parent=750))
    order(engine, config, catalogue, sub_order(750, "2027-01-10T09:00:00"))
    # The switch order arrives before the new yearly subscription it is the parent of.
    order(
        engine, config, catalogue, sub_order(751, "2027-01-20T09:00:00", switch_of=75, sku=PLUS.sku)
    )
    sub(
        engine,
        config,
        catalogue,
        subscription(76, parent=751, sku=PLUS.sku, period="year", modified="2027-01-20T09:00:05"),
    )
    sub(
        engine,
        config,
        catalogue,
        subscription(75, status="switched", parent=750, modified="2027-01-20T09:00:06"),
    )
    assert perks(engine) == ["portfolio spotlight", "priority job intros"]
    assert balance(engine) == {"mentor_minutes": 60 + 120 + 30, "portfolio_reviews": 1 + 2}
    assert held(engine, 751) == [
        ("mentor_minutes", 120, at("2029-01-20T09:00:00")),
        ("portfolio_reviews", 2, at("2028-01-20T09:00:00")),
    ]
    assert held(engine, 750)[0][2] == at("2027-03-10T09:00:00")  # the old plan's stay
    assert [(v["id"], v["status"], v["perks"]) for v in views(engine)] == [
        (75, "switched", []),
        (76, "active", ["priority job intros", "portfolio spotlight"]),
    ]


def test_refunded_renewal_reverses_its_period_only(engine, config, catalogue):
    """Refunding one renewal reverses that period's credits; the other periods stay."""
    sub(engine, config, catalogue, subscription(77, parent=770))
    order(engine, config, catalogue, sub_order(770, "2027-01-10T09:00:00"))
    order(engine, config, catalogue, sub_order(771, "2027-02-10T09:00:00", renewal_of=77))
    outcome = order(
        engine,
        config,
        catalogue,
        sub_order(
            771,
            "2027-02-10T09:00:00",
            renewal_of=77,
            status="refunded",
            modified="2027-02-11T09:00:00",
        ),
    )
    assert outcome.count("credit_reversed") == 2
    assert held(engine, 771) == [] and len(held(engine, 770)) == 2
    assert balance(engine) == {"mentor_minutes": 90, "portfolio_reviews": 1}


def test_rollover_and_expiry_across_period_boundaries(engine, config, catalogue):
    """Mentor minutes roll over one period, reviews none; the expiry job writes off the rest."""
    sub(engine, config, catalogue, subscription(78, parent=780))
    order(engine, config, catalogue, sub_order(780, "2027-01-31T09:00:00"))
    order(engine, config, catalogue, sub_order(781, "2027-02-28T09:00:00", renewal_of=78))
    # A month from January 31 ends on the last day of February, as WooCommerce counts it.
    assert held(engine, 780) == [
        ("mentor_minutes", 60, at("2027-03-31T09:00:00")),
        ("portfolio_reviews", 1, at("2027-02-28T09:00:00")),
    ]
    expire_credits(engine, now=at("2027-03-01T00:00:00"))
    assert balance(engine) == {"mentor_minutes": 2 * 60 + 30, "portfolio_reviews": 1}
    expire_credits(engine, now=at("2027-04-01T00:00:00"))
    assert balance(engine) == {"mentor_minutes": 60 + 30, "portfolio_reviews": 0}
    expire_credits(engine, now=at("2027-04-28T09:00:00"))
    assert balance(engine) == {"mentor_minutes": 30, "portfolio_reviews": 0}


def test_billing_periods_add_days_weeks_months_and_years():
    """Periods follow the calendar; the month end is clamped and leap days respected."""
    start = at("2028-01-31T12:00:00")
    assert BillingPeriod("day", 3).after(start) == at("2028-02-03T12:00:00")
    assert BillingPeriod("week", 2).after(start) == at("2028-02-14T12:00:00")
    assert BillingPeriod("month", 1).after(start) == at("2028-02-29T12:00:00")
    assert BillingPeriod("month", 1).after(start, 2) == at("2028-03-31T12:00:00")
    assert BillingPeriod("year", 1).after(at("2028-02-29T00:00:00")) == at("2029-02-28T00:00:00")
    with pytest.raises(ValueError, match="interval"):
        parse_billing_period("month", "0")


def test_duplicated_renewal_delivery_grants_once(engine, config, catalogue):
    """The same renewal delivered three times, then updated unchanged, grants one period."""
    sub(engine, config, catalogue, subscription(79, parent=790))
    renewal = sub_order(791, "2027-02-10T09:00:00", renewal_of=79)
    for _ in range(3):
        order(engine, config, catalogue, copy.deepcopy(renewal))
    order(engine, config, catalogue, {**renewal, "date_modified_gmt": "2027-02-10T09:01:00"})
    assert len(held(engine, 791)) == 2
    assert balance(engine) == {"mentor_minutes": 90, "portfolio_reviews": 1}


def test_subscription_updated_before_created_keeps_the_newer_state(engine, config, catalogue):
    """0071 (updated) arrives first; the older created payload is skipped as stale."""
    assert sub(engine, config, catalogue, real_body("0071-subscription.updated")).applied
    created = real_body("0071-subscription.updated")
    created.update(status="pending", date_modified_gmt="2026-11-28T15:57:17")
    outcome = sub(engine, config, catalogue, created)
    assert (outcome.applied, outcome.note) == (False, "stale")
    assert stored(engine, 39).status == "active"
    again = sub(engine, config, catalogue, real_body("0071-subscription.updated"))
    assert again.applied and again.previous_status == "active" and not again.perks_changed


def test_expiry_is_the_same_whether_the_order_or_the_subscription_arrives_first(
    engine, config, catalogue
):
    """A weekly plan: the parent order before or after its subscription expires alike."""
    order(engine, config, catalogue, sub_order(800, "2027-01-10T09:00:00"))
    assert held(engine, 800)[1][2] == at("2027-02-10T09:00:00")  # a month, until it is known
    moved = sub(engine, config, catalogue, subscription(80, parent=800, period="week"))
    bob = {"email": "bob@example.com", "customer_id": 3}
    sub(engine, config, catalogue, subscription(81, parent=810, period="week", **bob))
    order(engine, config, catalogue, sub_order(810, "2027-01-10T09:00:00", **bob))
    assert moved.expiries_moved == 2
    assert (
        held(engine, 800)
        == held(engine, 810)
        == [
            ("mentor_minutes", 60, at("2027-01-24T09:00:00")),
            ("portfolio_reviews", 1, at("2027-01-17T09:00:00")),
        ]
    )


def test_empty_body_and_non_subscriptions_are_ignored(engine, config, catalogue):
    """The literal [] WooCommerce sends is stored as ignored; handed over, it changes nothing."""
    headers, body = real_delivery("0088-subscription.updated")
    delivery = Delivery(
        topic="subscription.updated",
        webhook_id="15",
        delivery_id="d-88",
        headers=headers,
        body=body,
        payload=json.loads(body),
    )
    handlers = build_handlers(engine, config, catalogue=lambda: catalogue, shop=lambda: None)
    assert record_delivery(engine, delivery, handled=frozenset(handlers)).status == "ignored"
    assert handlers["subscription"]([[]]) == ["subscription: not a subscription, ignored"]
    with unit_of_work(engine) as session:
        assert session.exec(select(Subscription)).all() == []


def test_handler_stores_the_real_subscription_delivery(engine, config, catalogue):
    """The subscription handler applies 0071 and reports the status."""
    handlers = build_handlers(engine, config, catalogue=lambda: catalogue, shop=lambda: None)
    [result] = handlers["subscription"]([real_body("0071-subscription.updated")])
    assert result == "subscription 39: active, 0 expiries moved"
    row = stored(engine, 39)
    assert (row.billing_period, row.billing_interval, row.parent_order_id) == ("month", 1, 38)
    assert row.perks == PRIORITY and row.next_payment_gmt is None
    assert handlers["subscription"]([subscription(83)]) == [
        "subscription 83: active, 0 expiries moved"
    ]


class NotFound(PermanentError):
    status = 404


class FakeShop:
    """Subscriptions by id, as GET /subscriptions/<id> answers; unknown ones are 404."""

    def __init__(self, subscriptions=None, pages=None, available=True):
        self.subscriptions = subscriptions or {}
        self.pages = pages or []
        self.available = available
        self.asked: list[tuple[str, object]] = []

    def get(self, path, params=None):
        self.asked.append(("get", path))
        sub_id = int(path.rsplit("/", 1)[1])
        if sub_id not in self.subscriptions:
            raise NotFound(f"{path} not found")
        return self.subscriptions[sub_id]

    def has_subscriptions(self):
        return self.available

    def iter_modified(self, path, modified_after, params=None):
        self.asked.append((path, modified_after))
        return iter(self.pages)


def test_deleted_subscription_is_trashed_when_the_shop_no_longer_has_it(engine, config, catalogue):
    """{"id": N} is looked up; a 404 trashes it (no perks), a restored one is applied."""
    sub(engine, config, catalogue, subscription(82, parent=820))
    order(engine, config, catalogue, sub_order(820, "2027-01-10T09:00:00"))
    outcome = sub(engine, config, catalogue, {"id": 82}, shop=FakeShop())
    assert (outcome.status, outcome.perks_after) == ("trash", [])
    assert perks(engine) == [] and balance(engine)["portfolio_reviews"] == 1
    restored = subscription(82, parent=820, modified="2027-01-11T09:00:00")
    sub(engine, config, catalogue, {"id": 82}, shop=FakeShop({82: restored}))
    assert perks(engine) == PRIORITY


def test_reconcile_applies_changed_subscriptions_and_reports_a_cursor(engine, config, catalogue):
    """/subscriptions?modified_after=...: each applied once; a dry run stores nothing."""
    items = load_json("woocommerce-real/rest/5-subscriptions.json")
    shop = FakeShop(pages=[Page(items=items, number=1, total_pages=1, total=2)])
    since = at("2026-11-01T00:00:00")
    dry = reconcile_subscriptions(engine, shop, catalogue, modified_after=since, dry_run=True)
    assert (dry.fetched, dry.applied, dry.changed) == (2, 2, 2)
    with unit_of_work(engine) as session:
        assert session.exec(select(Subscription)).all() == []
    result = reconcile_subscriptions(engine, shop, catalogue, modified_after=since, settings=config)
    assert shop.asked == [("subscriptions", since)] * 2
    assert result.summary() == "2 subscriptions fetched, 2 applied, 0 stale, 2 changed"
    assert result.newest_modified_gmt == at("2026-11-28T15:58:07")
    assert (stored(engine, 39).status, stored(engine, 15).status) == ("cancelled", "on-hold")
    again = reconcile_subscriptions(engine, shop, catalogue, modified_after=since)
    assert (again.applied, again.changed) == (2, 0)


def test_reconcile_without_the_plugin_says_so_once_and_skips(engine, catalogue, caplog):
    """No WooCommerce Subscriptions: a warning the first time, a flag every time."""
    shop = FakeShop(available=False)
    with caplog.at_level(logging.DEBUG, logger="bridge.services.subscriptions.subscriptions"):
        first = reconcile_subscriptions(engine, shop, catalogue)
        second = reconcile_subscriptions(engine, shop, catalogue)
    assert not first.available and not second.available and shop.asked == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no WooCommerce Subscriptions" in warnings[0].getMessage()
    assert first.summary() == "the shop has no WooCommerce Subscriptions: skipped"


def test_rollover_and_revoke_settings_are_read_and_default_to_the_policy():
    """BRIDGE_SUBSCRIPTION_ROLLOVER parses type=periods; the defaults are the rules' defaults."""
    assert subscription_policy(Settings()) == DEFAULT_POLICY
    settings = load_settings(
        environ={
            "BRIDGE_SUBSCRIPTION_ROLLOVER": "mentor_minutes=2",
            "BRIDGE_SUBSCRIPTION_REVOKE_ON_CANCEL": "yes",
        },
        env_file=None,
    )
    policy = subscription_policy(settings)
    assert policy.rollover == {"mentor_minutes": 2} and policy.revoke_on_cancel
    assert settings.masked()["BRIDGE_SUBSCRIPTION_ROLLOVER"] == "mentor_minutes=2"
    assert (
        load_settings(
            environ={"BRIDGE_SUBSCRIPTION_ROLLOVER": "none"}, env_file=None
        ).subscriptions.rollover
        == {}
    )


def test_pure_rules_give_subscription_credits_an_expiry_and_others_none(catalogue):
    """Only subscription credits expire; a mentor pack in the same order does not."""
    payload = sub_order(900, "2027-01-10T09:00:00")
    payload["line_items"].append(
        {**payload["line_items"][0], "id": 90001, "sku": "MENTOR-1H", "product_id": 17}
    )
    result = order_entitlements(payload, catalogue, paid_statuses=("processing",))
    assert sorted((e.offer_sku, e.credit_type, e.expires_at) for e in result.entitlements) == [
        ("MENTOR-1H", "mentor_minutes", None),
        ("SUB-MENTOR-MONTHLY", "mentor_minutes", at("2027-03-10T09:00:00")),
        ("SUB-MENTOR-MONTHLY", "portfolio_reviews", at("2027-02-10T09:00:00")),
    ]
