"""The webhook receiver: verified, stored before acknowledged, processed through the pipeline."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlmodel import select

from bridge.errors import PermanentError
from bridge.rules.inbound.signatures import sign
from bridge.services.inbox import (
    InboxDrain,
    counter_value,
    due_deliveries,
    one_at_a_time,
    process_delivery,
)
from bridge.services.inbox.batches import claim_received
from bridge.services.inbox.inbox import purge_bodies
from bridge.services.ledger import balances, find_learner
from bridge.services.orders import build_handlers
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import InboxDelivery, LedgerEntry
from tests.support.paths import REAL, ROOT, load_json, real_delivery
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.web import ClosingClient
from webhooks import create_app
from webhooks.receivers.rejections import flush_rejections

SECRET = "whsec-wcreal-test"
EXAMPLE_CATALOGUE = ROOT / "catalog.example.toml"
URL = "/webhooks/woocommerce"


class NotFound(PermanentError):
    status = 404


class FakeShop:
    """The shop's answers the pipeline asks for; unknown orders are 404, as deleted ones are."""

    def __init__(self):
        self.refunds = {28: load_json("woocommerce-real/rest/4d-order-b-refunds.json")}
        self.orders = {}

    def order_refunds(self, order_id):
        return self.refunds.get(order_id, [])

    def get_order(self, order_id):
        if order_id not in self.orders:
            raise NotFound(f"order {order_id} not found")
        return self.orders[order_id]


@pytest.fixture
def shop():
    return FakeShop()


@pytest.fixture
def settings(settings):
    """The conftest settings with the example catalogue file (product deliveries read it)."""
    return settings.replace(catalogue={"file": EXAMPLE_CATALOGUE})


@pytest.fixture
def app(engine, settings, shop):
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: shop)
    return create_app(settings, engine, handlers=handlers, background=False)


@pytest.fixture
def client(app):
    app.test_client_class = ClosingClient
    return app.test_client()


def post_real(client, name):
    headers, body = real_delivery(name)
    keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
    return client.post(URL, data=body, headers=keep)


def post_signed(client, payload, topic="order.updated", delivery_id="d-1", body=None):
    body = body if body is not None else json.dumps(payload).encode()
    return client.post(
        URL,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Signature": sign(body, SECRET),
            "X-WC-Webhook-ID": "5",
            "X-WC-Webhook-Delivery-ID": delivery_id,
        },
    )


def inbox_rows(engine):
    with unit_of_work(engine) as session:
        return session.exec(select(InboxDelivery).order_by(InboxDelivery.id)).all()


def balance(engine, ref):
    with unit_of_work(engine) as session:
        learner = find_learner(session, ref)
        return balances(session, learner.id) if learner else {}


def test_ping_is_answered_with_200_and_nothing_stored(client, engine):
    """WooCommerce's ping (form body webhook_id=N, no signature) gets exactly 200."""
    response = post_real(client, "0001-ping")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "ping": 5}
    assert inbox_rows(engine) == []


def test_every_real_delivery_is_accepted_and_handled_by_topic(client, engine):
    """Every captured WooCommerce 11 delivery verifies byte-exact and ends as its topic needs."""
    names = sorted(p.name[: -len(".body")] for p in (REAL / "deliveries").glob("*.body"))
    for name in names:
        response = post_real(client, name)
        assert response.status_code == 200, (name, response.get_json())
    statuses = {(row.topic, row.resource_id): row.status for row in inbox_rows(engine)}
    assert statuses[("order.deleted", 37)] == "processed"
    assert statuses[("subscription.updated", None)] == "ignored"  # the literal [] body
    assert statuses[("customer.updated", 3)] == "processed"
    assert all(status in ("processed", "ignored") for status in statuses.values()), statuses
    # Order 28: two 3 h packs, one refunded, and the project; plus the complimentary call.
    assert balance(engine, "alice@example.com")["mentor_minutes"] >= 180 + 60 + 30


def test_reserialised_json_does_not_verify(client, engine):
    """PHP escapes / as \\/ and non-ASCII as \\uXXXX: only the raw bytes carry the signature."""
    headers, body = real_delivery("0030-order.created")
    assert b"\\/" in body and b"\\u20ac" in body
    reserialised = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    response = client.post(
        URL,
        data=reserialised.encode(),
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Signature": headers["X-WC-Webhook-Signature"],
        },
    )
    assert response.status_code == 401


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "###"])
def test_missing_or_wrong_signature_is_401_and_only_counted(app, client, engine, signature):
    """A bad signature stores nothing but a counter (in memory until the flush)."""
    _, body = real_delivery("0030-order.created")
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created"}
    if signature is not None:
        headers["X-WC-Webhook-Signature"] = signature
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 401
    assert "X-WC-Webhook-Signature" in response.get_json()["error"]
    assert inbox_rows(engine) == []
    assert counter_value(engine, "webhook_signature_rejected") == 0
    with app.app_context():
        assert flush_rejections() == {"webhook_signature_rejected": 1}
    assert counter_value(engine, "webhook_signature_rejected") == 1


def test_signed_body_that_is_not_json_is_400(client, engine):
    """A correctly signed body that is not JSON is refused and not stored."""
    response = post_signed(client, None, body=b"<xml/>")
    assert response.status_code == 400
    assert inbox_rows(engine) == []


def test_oversized_body_is_413(engine, settings, shop):
    """Bodies over the limit are refused with 413 and JSON."""
    app = create_app(settings.replace(web={"max_body_bytes": 1000}), engine, handlers={})
    response = post_signed(app.test_client(), {"id": 1, "pad": "x" * 2000})
    assert response.status_code == 413
    assert "error" in response.get_json()


def test_unknown_topic_is_acknowledged_and_ignored(client, engine):
    """Topics nothing handles answer 200 (a failure would disable the webhook) and are ignored."""
    response = post_signed(
        client, {"id": 9, "date_modified_gmt": "2026-11-28T10:00:00"}, topic="coupon.created"
    )
    assert response.status_code == 200
    assert [row.status for row in inbox_rows(engine)] == ["ignored"]


def test_duplicate_delivery_is_recognised_by_business_identity(client, engine):
    """The same order state delivered twice, with different delivery ids, is processed once."""
    order = make_order(500, [("MENTOR-1H", 1)])
    assert post_signed(client, order, delivery_id="a").get_json()["status"] == "received"
    assert post_signed(client, order, delivery_id="b").get_json()["status"] == "duplicate"
    assert len(inbox_rows(engine)) == 1
    assert balance(engine, "alice@example.com") == {"mentor_minutes": 90}


def test_created_before_payment_then_paid_update_grants_once(client, engine):
    """The real guest order: created pending (nothing), then paid (one hour + the call)."""
    post_real(client, "0024-order.created")
    assert balance(engine, "gina.guest@example.com") == {}
    post_real(client, "0026-order.updated")
    post_real(client, "0026-order.updated")
    assert balance(engine, "gina.guest@example.com") == {"mentor_minutes": 90}


def test_deleted_then_restored_order(client, engine, shop):
    """order.deleted reverses what the order conferred; order.restored confers it again."""
    order = make_order(510, [("MENTOR-1H", 1)], modified="2026-11-28T10:00:00")
    post_signed(client, order, topic="order.created")
    shop.orders[510] = dict(order, status="trash", date_modified_gmt="2026-11-28T10:05:00")
    post_signed(client, {"id": 510}, topic="order.deleted", delivery_id="del")
    # Nothing paid is left: the unused complimentary call goes too (a new reversal row).
    assert balance(engine, "alice@example.com") == {"mentor_minutes": 0}
    restored = dict(order, date_modified_gmt="2026-11-28T10:10:00")
    post_signed(client, restored, topic="order.restored", delivery_id="res")
    assert balance(engine, "alice@example.com") == {"mentor_minutes": 90}


def test_processing_failure_is_recorded_then_retried_successfully(engine, settings):
    """A handler failure stays on the row with a next try; the retry processes it."""
    calls = []

    def flaky(payload):
        calls.append(payload["id"])
        if len(calls) == 1:
            raise ValueError("catalogue not loaded yet")
        return "ok"

    app = create_app(settings, engine, handlers={"order": one_at_a_time(flaky)}, background=False)
    app.test_client_class = ClosingClient
    response = post_signed(app.test_client(), make_order(520, [("MENTOR-1H", 1)]))
    assert response.status_code == 200
    [row] = inbox_rows(engine)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "catalogue not loaded yet" in row.last_error
    assert due_deliveries(engine, now=row.next_attempt_at) == [row.id]
    assert (
        process_delivery(engine, row.id, {"order": one_at_a_time(flaky)}, max_attempts=3)
        == "processed"
    )
    assert calls == [520, 520]


def test_delivery_failing_every_time_is_dead_lettered(engine, settings):
    """After the bounded number of attempts the delivery is dead and no longer due."""

    def broken(payload):
        raise ValueError("always")

    app = create_app(
        settings.replace(
            inbox={"max_attempts": 2},
        ),
        engine,
        handlers={"order": one_at_a_time(broken)},
        background=False,
    )
    app.test_client_class = ClosingClient
    post_signed(app.test_client(), make_order(530, [("MENTOR-1H", 1)]))
    [row] = inbox_rows(engine)
    assert (
        process_delivery(engine, row.id, {"order": one_at_a_time(broken)}, max_attempts=2) == "dead"
    )
    assert due_deliveries(engine, now=row.received_at.replace(year=2100)) == []


def test_database_down_answers_503(settings, tmp_path):
    """When the delivery cannot be stored the answer is 503, so WooCommerce logs a failure."""
    dead = make_engine(f"sqlite:///{tmp_path}/missing/dir/bridge.db")
    app = create_app(settings, dead, handlers={"order": one_at_a_time(lambda payload: "ok")})
    response = post_signed(app.test_client(), make_order(540, [("MENTOR-1H", 1)]))
    assert response.status_code == 503
    assert response.get_json()["error"].startswith("database unavailable")


def test_processed_bodies_are_purged_after_retention(client, engine):
    """Raw bodies (personal data) go after the retention period; the metadata stays."""
    from datetime import timedelta

    post_signed(client, make_order(550, [("MENTOR-1H", 1)]))
    [row] = inbox_rows(engine)
    assert purge_bodies(engine, timedelta(days=30)) == 0
    assert purge_bodies(engine, timedelta(days=30), now=row.received_at + timedelta(days=31)) == 1
    [row] = inbox_rows(engine)
    assert row.body is None and row.topic == "order.updated" and row.status == "processed"


HEADER_NAMES = st.sampled_from(
    [
        "X-WC-Webhook-Signature",
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID",
        "Content-Type",
    ]
)


def test_fuzzed_requests_never_5xx_and_never_store_unsigned(client, engine):
    """Random headers and bodies: no 5xx, and a stored row always had a valid signature."""

    @hyp_settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        headers=st.dictionaries(
            HEADER_NAMES,
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
            max_size=5,
        ),
        body=st.one_of(
            st.binary(max_size=300),
            st.builds(
                lambda v: json.dumps(v).encode(),
                st.recursive(
                    st.none() | st.integers() | st.text(max_size=10),
                    lambda c: (
                        st.lists(c, max_size=3)
                        | st.dictionaries(st.text(max_size=5), c, max_size=3)
                    ),
                ),
            ),
        ),
        sign_it=st.booleans(),
    )
    def check(headers, body, sign_it):
        if sign_it:
            headers = dict(headers, **{"X-WC-Webhook-Signature": sign(body, SECRET)})
        response = client.post(URL, data=body, headers=headers)
        assert response.status_code < 500
        for row in inbox_rows(engine):
            assert sign(row.body, SECRET) == (row.headers or {}).get(
                "X-Wc-Webhook-Signature", sign(row.body, SECRET)
            )

    check()
    for row in inbox_rows(engine):
        assert row.body is not None
    with unit_of_work(engine) as session:
        assert session.exec(select(LedgerEntry)).all() == []


def test_the_service_processes_deliveries_in_the_background(engine, settings, shop):
    """By default the answer goes out before processing, which a worker thread does next."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: shop)
    app = create_app(settings, engine, handlers=handlers)
    app.test_client_class = ClosingClient
    client = app.test_client()
    for order_id in (600, 601, 602):
        response = post_signed(
            client, make_order(order_id, [("MENTOR-1H", 1)]), delivery_id=str(order_id)
        )
        assert response.get_json()["status"] == "received"
    app.extensions["bridge"].processor.wait()
    app.extensions["bridge"].processor.stop()
    assert [row.status for row in inbox_rows(engine)] == ["processed"] * 3
    assert balance(engine, "alice@example.com") == {"mentor_minutes": 3 * 60 + 30}


def test_a_web_process_beside_an_inbox_worker_only_stores(engine, settings, shop):
    """With BRIDGE_INBOX_WORKER set, the answer is the stored delivery and nothing is processed."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: shop)
    app = create_app(settings.replace(inbox={"worker": True}), engine, handlers=handlers)
    app.test_client_class = ClosingClient
    response = post_signed(
        app.test_client(), make_order(610, [("MENTOR-1H", 1)]), delivery_id="610"
    )
    assert response.get_json()["status"] == "received"
    app.extensions["bridge"].processor.wait()
    assert [row.status for row in inbox_rows(engine)] == ["received"]
    drained = InboxDrain(engine, handlers, max_attempts=settings.inbox.max_attempts)()
    assert drained == 1
    assert [row.status for row in inbox_rows(engine)] == ["processed"]


def test_two_claimers_take_disjoint_batches_and_an_expired_claim_is_taken_again(
    engine, settings, shop
):
    """Claims never overlap; a claim whose worker vanished is claimable once its lease ends."""
    from datetime import timedelta

    from bridge.store.models import utcnow

    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    app = create_app(
        settings.replace(inbox={"worker": True}), engine, handlers={"order": one_at_a_time(str)}
    )
    app.test_client_class = ClosingClient
    client = app.test_client()
    for order_id in range(620, 625):
        post_signed(client, make_order(order_id, [("MENTOR-1H", 1)]), delivery_id=str(order_id))
    first = claim_received(engine, limit=3)
    second = claim_received(engine, limit=3)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    assert claim_received(engine, limit=3) == []
    later = utcnow() + timedelta(minutes=3)
    assert claim_received(engine, limit=10, now=later) == sorted(first + second)
