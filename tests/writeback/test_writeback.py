"""Write-back rules and queueing: what an applied order puts in the outbox, and why."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bridge.rules.writeback.notes import (
    NoteTemplateError,
    discount_text,
    personal_coupon_offers,
    stack_remainder_discount,
    upsell_links,
)
from bridge.services.ledger import active_perks
from bridge.services.ledger.seats import UnknownCohort
from bridge.services.orders import process_order
from bridge.services.writeback import enqueue_customer_meta
from bridge.services.writeback.coupons import enqueue_personal_coupons
from bridge.services.writeback.notes import load_note_templates
from bridge.services.writeback.plan import enqueue_catalogue_upsells
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, OutboxWritten, PersonalCoupon, Subscription
from tests.support.sample_shop import HISTORY_IS_NEWS, make_order
from tests.support.writeback import outbox, shop_catalogue, store_shop

PRICES = {
    "PROJ-DATAVIZ": Decimal("149.00"),
    "COHORT-DV-2027-01": Decimal("390.00"),
    "ASSESS-DV": Decimal("49.00"),
}


@pytest.fixture
def config(database_url: str) -> Settings:
    return Settings().replace(
        database={"url": database_url},
        writeback={"notify_since": HISTORY_IS_NEWS},
    )


def paid_line(order: dict, index: int, total: str) -> dict:
    """The order with one line's total set, as WooCommerce reports what was paid for it."""
    order["line_items"][index]["total"] = total
    return order


def meta_of(row) -> object:
    return row.payload["data"]["meta_data"][0]["value"]


def test_an_order_queues_its_write_backs_in_its_own_transaction(engine, config):
    """One paid order queues order meta, one note per event, cohort stock and customer meta."""
    catalogue = shop_catalogue(coupons=False)
    store_shop(engine, catalogue)
    order = make_order(100, [("PROJ-DATAVIZ", 1), ("COHORT-DV-2027-01", 1), ("MENTOR-1H", 2)])
    process_order(engine, order, catalogue=catalogue, settings=config)

    keys = [row.target_key for row in outbox(engine)]
    assert keys.count("order:100:meta") == 1
    assert "product:22:stock" in keys and "customer:2:meta" in keys
    enrolment = meta_of(outbox(engine, target_key="order:100:meta")[0])
    assert enrolment == [
        {
            "line_item_id": 10000,
            "sku": "PROJ-DATAVIZ",
            "quantity": 1,
            "credits": {"mentor_minutes": 60},
            "access": [{"kind": "project", "ends": "2027-01-09"}],
            "seats": [],
        },
        {
            "line_item_id": 10001,
            "sku": "COHORT-DV-2027-01",
            "quantity": 1,
            "credits": {},
            "access": [],
            "seats": [{"status": "active"}],
            "cohort": "DV-2027-01",
            "cohort_starts": "2027-01-11",
        },
        {
            "line_item_id": 10002,
            "sku": "MENTOR-1H",
            "quantity": 2,
            "credits": {"mentor_minutes": 120},
            "access": [],
            "seats": [],
        },
    ]
    # One note for the order: this application's events worded together, a customer note
    # because the seat confirmation is one. It shows only its worded text: no marker, no hash.
    [note] = outbox(engine, resource="order_note")
    assert note.payload["event"] == "combined"
    assert note.payload["data"]["customer_note"] is True
    lines = note.payload["data"]["note"].split("\n")
    # Two units of one line make one part; the complimentary call has its own.
    assert [line for line in lines if line.startswith("Granted")] == [
        "Granted 60 mentor minutes (Data-viz project).",
        "Granted 120 mentor minutes (Mentor hour).",
        "Granted 30 mentor minutes (complimentary first mentor call).",
    ]
    assert any(
        line.startswith(
            "Your seat in Data-viz cohort, January 2027 is confirmed. "
            "The cohort starts on 2027-01-11."
        )
        for line in lines
    )
    stock = outbox(engine, target_key="product:22:stock")[0].payload["data"]
    assert stock == {"manage_stock": True, "stock_quantity": 2, "backorders": "notify"}
    customer = outbox(engine, target_key="customer:2:meta")[0].payload["data"]["meta_data"]
    assert customer[0] == {"key": "bridge_credits", "value": {"mentor_minutes": 210}}


def test_an_order_and_its_outbox_rows_commit_together(engine, config, tmp_path: Path):
    """A failing apply queues nothing, and a failing enqueue (bad template) stores no grant."""
    catalogue = shop_catalogue()  # cohorts not stored yet
    with pytest.raises(UnknownCohort):
        process_order(
            engine,
            make_order(101, [("MENTOR-1H", 1), ("COHORT-DV-2027-01", 1)]),
            catalogue=catalogue,
            settings=config,
        )
    assert outbox(engine) == []
    store_shop(engine, catalogue)
    broken = tmp_path / "notes.toml"
    broken.write_text("[notes]\ncredit_granted = 'Granted {amout}'\n")
    with pytest.raises(NoteTemplateError, match=r"notes\.credit_granted: unknown placeholder"):
        process_order(
            engine,
            make_order(102, [("MENTOR-1H", 1)]),
            catalogue=catalogue,
            settings=config.replace(writeback={"note_templates_file": broken}),
        )
    assert outbox(engine) == []
    with unit_of_work(engine) as session:
        assert session.exec(select(LedgerEntry)).all() == []


def test_customer_meta_keeps_the_latest_balances_and_active_perks(engine, config):
    """Two orders leave one pending row, newest balance; only an active subscription has perks."""
    catalogue = shop_catalogue(coupons=False)
    store_shop(engine, catalogue)
    process_order(engine, make_order(103, [("MENTOR-1H", 1)]), catalogue=catalogue, settings=config)
    process_order(
        engine, make_order(104, [("MENTOR-PACK-3H", 1)]), catalogue=catalogue, settings=config
    )
    [row] = outbox(engine, target_key="customer:2:meta")
    assert row.payload["data"]["meta_data"][0]["value"] == {"mentor_minutes": 60 + 180 + 30}
    with unit_of_work(engine) as session:
        session.add(
            Subscription(id=1300, learner_id=1, status="active", offer_skus=["SUB-MENTOR-MONTHLY"])
        )
        session.add(
            Subscription(id=1301, learner_id=1, status="cancelled", offer_skus=["BUNDLE-DV-STACK"])
        )
        perks = active_perks(session, 1, catalogue=catalogue)
        assert enqueue_customer_meta(session, 1, perks) == "customer:2:meta"
        session.commit()
    [row] = outbox(engine, target_key="customer:2:meta")
    assert row.payload["data"]["meta_data"] == [
        {"key": "bridge_credits", "value": {"mentor_minutes": 270}},
        {"key": "bridge_perks", "value": ["priority job intros"]},
        {"key": "bridge_coupons", "value": []},
    ]


def test_a_promotion_updates_the_promoted_order_and_every_waitlist_place(engine, config):
    """A refund frees a seat: the first waitlisted order is promoted, the next one moves up."""
    catalogue = shop_catalogue(capacity=1, coupons=False)
    store_shop(engine, catalogue)
    for order_id, email, customer in (
        (105, "a@example.com", 5),
        (106, "b@example.com", 6),
        (107, "c@example.com", 7),
    ):
        process_order(
            engine,
            make_order(order_id, [("COHORT-DV-2027-01", 1)], email=email, customer_id=customer),
            catalogue=catalogue,
            settings=config,
        )
    assert meta_of(outbox(engine, target_key="order:107:meta")[0])[0]["seats"] == [
        {"status": "waitlisted", "position": 2}
    ]
    process_order(
        engine,
        make_order(
            105,
            [("COHORT-DV-2027-01", 1)],
            status="refunded",
            email="a@example.com",
            customer_id=5,
            modified="2026-11-28T17:00:00",
        ),
        catalogue=catalogue,
        settings=config,
    )
    assert meta_of(outbox(engine, target_key="order:106:meta")[0])[0]["seats"] == [
        {"status": "active"}
    ]
    assert meta_of(outbox(engine, target_key="order:107:meta")[0])[0]["seats"] == [
        {"status": "waitlisted", "position": 1}
    ]
    promoted = [
        row
        for row in outbox(engine, resource="order_note", target_id=106)
        if row.payload["event"] == "seat_promoted"
    ]
    assert len(promoted) == 1 and promoted[0].payload["data"]["customer_note"] is True
    assert outbox(engine, target_key="product:22:stock")[0].payload["data"]["stock_quantity"] == 0


def test_the_coupon_amount_for_a_three_offer_stack():
    """Offers at 149, 390 and 49 for a 490 course: the coupon makes the rest cost the remainder."""
    # Paid 149 for the project: 341 remain, the other two list at 439, so 98 off.
    assert stack_remainder_discount(
        Decimal("490.00"),
        {"PROJ-DATAVIZ": Decimal("149.00")},
        {"COHORT-DV-2027-01": Decimal("390.00"), "ASSESS-DV": Decimal("49.00")},
    ) == Decimal("98.00")
    # Paid 119.20 (a discount): 370.80 remain, so only 68.20 off.
    assert stack_remainder_discount(
        Decimal("490.00"),
        {"PROJ-DATAVIZ": Decimal("119.20")},
        {"COHORT-DV-2027-01": Decimal("390.00"), "ASSESS-DV": Decimal("49.00")},
    ) == Decimal("68.20")
    # Paid for project and cohort (539, over the course price): the assessment is free.
    assert stack_remainder_discount(
        Decimal("490.00"),
        {"PROJ-DATAVIZ": Decimal("149.00"), "COHORT-DV-2027-01": Decimal("390.00")},
        {"ASSESS-DV": Decimal("49.00")},
    ) == Decimal("49.00")
    catalogue = shop_catalogue()
    paid = {"PROJ-DATAVIZ": Decimal("149.00")}  # the subscription coupon needs money paid
    [stack, subscribe] = personal_coupon_offers(catalogue, {"PROJ-DATAVIZ"}, paid, PRICES)
    assert (stack.rule, stack.discount_type, stack.amount, stack.offer_skus) == (
        "stack:data-viz-practitioner",
        "fixed_cart",
        Decimal("98.00"),
        ("COHORT-DV-2027-01", "ASSESS-DV"),
    )
    assert (subscribe.rule, subscribe.amount) == (
        "coupon:subscribe-after-first-offer",
        Decimal("20"),
    )
    assert (
        personal_coupon_offers(
            catalogue, set(PRICES), {}, PRICES, taken={"coupon:subscribe-after-first-offer"}
        )
        == []
    )
    assert personal_coupon_offers(catalogue, set(), {}, PRICES) == []
    assert discount_text("percent", Decimal("20")) == "20%"
    assert discount_text("fixed_cart", Decimal("98"), "EUR") == "98.00 EUR"


def test_a_first_paid_project_gets_the_stack_remainder_coupon_once(engine, config):
    """Paying 149 for the project brings one coupon per rule, in a note and on the customer."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    order = paid_line(make_order(108, [("PROJ-DATAVIZ", 1)]), 0, "149.00")
    process_order(engine, order, catalogue=catalogue, settings=config)
    [stack] = outbox(engine, target_key="coupon:1:stack:data-viz-practitioner")
    data = stack.payload["data"]
    assert data["code"].startswith("data-viz-practitioner-")
    assert {
        k: data[k]
        for k in (
            "discount_type",
            "amount",
            "product_ids",
            "email_restrictions",
            "usage_limit",
            "usage_limit_per_user",
            "individual_use",
        )
    } == {
        "discount_type": "fixed_cart",
        "amount": "98.00",
        "product_ids": [22, 23],
        "email_restrictions": ["alice@example.com"],
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "individual_use": True,
    }
    # Both coupons are offered in the order's one note, beside what the order granted.
    [note] = [row.payload for row in outbox(engine, resource="order_note")]
    assert note["events"].count("coupon_offered") == 2
    assert data["code"] in note["data"]["note"] and "98.00 EUR" in note["data"]["note"]
    customer = outbox(engine, target_key="customer:2:meta")[0].payload["data"]["meta_data"]
    assert {c["rule"] for c in customer[2]["value"]} == {
        "stack:data-viz-practitioner",
        "coupon:subscribe-after-first-offer",
    }
    # A second paid order never brings a second coupon for the same rules.
    process_order(engine, make_order(109, [("ASSESS-DV", 1)]), catalogue=catalogue, settings=config)
    assert len(outbox(engine, resource="coupon")) == 2


def test_coupons_are_unique_per_learner_and_rule(engine, config):
    """Asking again grants nothing, and the database refuses a second row for a rule."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    process_order(
        engine, make_order(110, [("PROJ-DATAVIZ", 1)]), catalogue=catalogue, settings=config
    )
    with unit_of_work(engine) as session:
        assert enqueue_personal_coupons(session, 1, catalogue, config, order_id=110) == []
        rules = sorted(c.rule for c in session.exec(select(PersonalCoupon)).all())
    assert rules == ["coupon:subscribe-after-first-offer", "stack:data-viz-practitioner"]
    with unit_of_work(engine) as session, pytest.raises(IntegrityError):
        session.add(
            PersonalCoupon(
                learner_id=1,
                rule="stack:data-viz-practitioner",
                code="another-code",
                discount_type="fixed_cart",
                amount="1.00",
                email="alice@example.com",
                expires_at=datetime(2027, 1, 1, tzinfo=UTC),
            )
        )
        session.flush()


def test_stack_upsells_are_queued_only_where_the_shop_differs(engine):
    """Each stack product links the bundle and subscription, and cross-sells the stack's others."""
    catalogue = shop_catalogue()
    store_shop(engine, catalogue)
    links = upsell_links(catalogue, {})
    assert links[21] == {"upsell_ids": [25, 26], "cross_sell_ids": [22, 23]}
    assert links[22] == {"upsell_ids": [25, 26], "cross_sell_ids": [21, 23]}
    products = [
        {"id": 21, "upsell_ids": [26, 25], "cross_sell_ids": [23, 22]},
        {"id": 22, "upsell_ids": [], "cross_sell_ids": []},
        {"id": 23, "upsell_ids": [25, 26], "cross_sell_ids": [21, 22]},
    ]
    with unit_of_work(engine) as session:
        keys = enqueue_catalogue_upsells(session, catalogue, products)
        session.commit()
    assert keys == ["product:22:links"]
    with unit_of_work(engine) as session:
        assert session.get(OutboxWritten, "product:21:links") is not None
        # Without the shop's products, the last value written decides.
        assert enqueue_catalogue_upsells(session, catalogue) == ["product:22:links"]


def test_a_translated_template_file_rewords_notes_and_can_silence_one(tmp_path: Path):
    """The creator's file overrides the bundled wording key by key; an empty text writes none."""
    path = tmp_path / "notes-de.toml"
    path.write_text(
        '[notes]\nseat_active = "Dein Platz in {cohort_title} ist bestätigt."\n'
        'credit_granted = ""\n[labels]\nmentor_minutes = "Mentorminuten"\n'
    )
    templates = load_note_templates(path)
    assert templates.render("seat_active", {"cohort_title": "DV"}) == (
        "Dein Platz in DV ist bestätigt."
    )
    assert templates.render("credit_granted", {"amount": 60}) == ""
    assert templates.label("mentor_minutes") == "Mentorminuten"
    assert templates.render("seat_waitlisted", {"cohort_title": "DV", "position": 2}).startswith(
        "DV is full"
    )
    path.write_text('[notes]\nseat_gone = "x"\n')
    with pytest.raises(NoteTemplateError, match="notes.seat_gone: unknown event"):
        load_note_templates(path)
