"""Hostile input never wedges the service: rejected, dead-lettered, bounded, never a 5xx."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from bridge.rules.inbound.signatures import sign
from bridge.services.inbox import (
    Delivery,
    apply_retention,
    due_deliveries,
    one_at_a_time,
    process_delivery,
    record_delivery,
)
from bridge.services.ledger import balances, find_learner
from bridge.services.orders import build_handlers
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import InboxDelivery, LedgerEntry, OutboxItem, utcnow
from sync.jobs import run_job
from tests.support.sample_shop import make_order
from tests.support.sync import make_ports
from tests.support.web import ClosingClient
from webhooks import create_app

SECRET = "whsec-wcreal-test"
URL = "/webhooks/woocommerce"


@pytest.fixture
def app(engine, settings, catalogue):
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    app = create_app(settings, engine, handlers=handlers, background=False)
    app.test_client_class = ClosingClient
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def signed(client, body: bytes, topic="order.updated", delivery_id="d-1", **extra):
    return client.post(
        URL,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Signature": sign(body, SECRET),
            "X-WC-Webhook-ID": "5",
            "X-WC-Webhook-Delivery-ID": delivery_id,
            **extra,
        },
    )


def rows(engine):
    with unit_of_work(engine) as session:
        return session.exec(select(InboxDelivery).order_by(InboxDelivery.id)).all()


def ledger_count(engine):
    with unit_of_work(engine) as session:
        return len(session.exec(select(LedgerEntry)).all())


def poisoned(kind: str) -> bytes:
    order = make_order(700, [("MENTOR-1H", 1)])
    line = order["line_items"][0]
    if kind == "quantity 9*400":
        line["quantity"] = int("9" * 400)
    elif kind == "quantity 10**20":
        line["quantity"] = 10**20
    elif kind == "quantity 1e400":
        return json.dumps(order).replace('"quantity": 1', '"quantity": 1e400').encode()
    elif kind == "quantity over the bound":
        line["quantity"] = 1001
    elif kind == "line total 1e308":
        line["total"] = "1e308"
    elif kind == "billing is text":
        order["billing"] = "x"
    elif kind == "negative id":
        order["id"] = -5
    elif kind == "id of 2^63":
        order["id"] = 2**63
    elif kind == "NUL in a text":
        line["sku"] = "MENTOR\x00-1H"
    elif kind == "lone surrogate in a text":
        order["billing"]["email"] = "\ud800@example.com"  # sent as the escape \ud800
    return json.dumps(order).encode()


POISON = [
    "quantity 9*400",
    "quantity 10**20",
    "quantity 1e400",
    "quantity over the bound",
    "line total 1e308",
    "billing is text",
    "negative id",
    "id of 2^63",
    "NUL in a text",
    "lone surrogate in a text",
]


@pytest.mark.parametrize("kind", POISON)
def test_a_poisoned_order_is_stored_rejected_answered_200_and_never_retried(client, engine, kind):
    """Each payload once seen to wedge the service is rejected with its reason, writing nothing."""
    response = signed(client, poisoned(kind))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "rejected"
    [row] = rows(engine)
    assert row.status == "rejected" and row.last_error and row.attempts == 0
    assert due_deliveries(engine, now=utcnow() + timedelta(days=365)) == []
    assert ledger_count(engine) == 0
    with unit_of_work(engine) as session:
        assert session.exec(select(OutboxItem)).all() == []


def test_an_ordinary_order_after_the_poison_is_still_processed(client, engine):
    """Rejections do not block anything behind them, on either database."""
    for index, kind in enumerate(POISON):
        signed(client, poisoned(kind), delivery_id=f"p-{index}")
    response = signed(
        client, json.dumps(make_order(701, [("MENTOR-1H", 1)])).encode(), delivery_id="ok"
    )
    assert response.get_json()["status"] == "received"
    assert rows(engine)[-1].status == "processed"
    with unit_of_work(engine) as session:
        learner = find_learner(session, "alice@example.com")
        assert balances(session, learner.id)["mentor_minutes"] == 60 + 30


def test_rejected_deliveries_show_in_the_health_endpoint(client, engine):
    """/healthz counts deliveries per status, so rejected and dead ones are seen."""
    signed(client, poisoned("billing is text"))
    inbox = client.get("/healthz").get_json()["inbox"]
    assert inbox == {"rejected": 1}


def test_an_unknown_topic_is_ignored_not_processed_as_an_order(client, engine):
    """order.exploded carries an order's body but is no order event: ignored, nothing granted."""
    body = json.dumps(make_order(702, [("MENTOR-1H", 1)])).encode()
    assert signed(client, body, topic="order.exploded").get_json()["status"] == "ignored"
    [row] = rows(engine)
    assert row.status == "ignored" and "order.exploded" in row.last_error
    assert ledger_count(engine) == 0


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"\xef\xbb\xbf" + json.dumps({"id": 1}).encode(), "byte order mark"),
        (b'{"id": 5, "total": NaN}', "NaN"),
        (b'{"id": 5, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
        (b'{"id": ' + b"9" * 5000 + b"}", "digits"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_a_signed_body_that_is_not_strict_json_is_refused_clearly(client, engine, body, reason):
    """BOM, NaN, deep nesting and 5,000-digit numbers answer 400 naming why; nothing stored."""
    response = signed(client, body)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert rows(engine) == []


def test_an_unsigned_ping_with_a_5000_digit_id_is_refused_not_a_500(client, engine):
    """Only ids a database can hold are pings; anything else is an unsigned request (401)."""
    response = client.post(
        URL, data=b"webhook_id=" + b"9" * 5000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 401
    assert client.post(URL, data=b"webhook_id=12").get_json() == {"status": "ok", "ping": 12}


def test_a_chunked_body_over_the_limit_answers_413_not_401(app, engine, settings):
    """A body without Content-Length is read to one byte past the limit, then refused."""
    limit = 1024
    app.extensions["bridge"] = app.extensions["bridge"].__class__(
        **{
            **vars(app.extensions["bridge"]),
            "settings": settings.replace(
                web={"max_body_bytes": limit},
            ),
        }
    )
    body = json.dumps(make_order(703, [("MENTOR-1H", 1)])).encode()
    assert len(body) > limit
    client = app.test_client()
    response = client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers={
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Signature": sign(body, SECRET),
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert rows(engine) == []


def test_wrong_methods_answer_405_with_allow(client):
    """405 names the methods that do work, as HTTP asks."""
    response = client.get(URL)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json()["error"]


def test_a_very_long_url_answers_414(client):
    """Request targets over 4,096 characters are refused before any view."""
    assert client.get("/api/v1/learners/" + "a" * 5000).status_code == 414


def test_any_exception_while_processing_counts_backs_off_and_dead_letters(engine, settings):
    """An AttributeError is an attempt like any other: failed with a next try, then dead."""

    def broken(payload):
        return payload["billing"].lower()  # AttributeError on a dict

    body = json.dumps(make_order(704, [("MENTOR-1H", 1)])).encode()
    delivery = Delivery("order.updated", "5", "d-704", {}, body, json.loads(body))
    inbox_id = record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id
    now = utcnow()
    assert (
        process_delivery(
            engine, inbox_id, {"order": one_at_a_time(broken)}, max_attempts=2, now=now
        )
        == "failed"
    )
    [row] = rows(engine)
    assert row.attempts == 1 and row.last_error.startswith("AttributeError")
    assert row.next_attempt_at > now
    assert (
        process_delivery(
            engine,
            inbox_id,
            {"order": one_at_a_time(broken)},
            max_attempts=2,
            now=row.next_attempt_at,
        )
        == "dead"
    )
    assert due_deliveries(engine, now=now + timedelta(days=365)) == []


def test_a_delivery_whose_worker_died_mid_run_still_counts_its_attempts(engine):
    """The attempt is taken before the handler runs: a crash cannot retry forever."""
    body = json.dumps(make_order(705, [("MENTOR-1H", 1)])).encode()
    delivery = Delivery("order.updated", "5", "d-705", {}, body, json.loads(body))
    inbox_id = record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id

    class Crash(BaseException):
        """Stands for the process dying inside the handler."""

    def dies(payload):
        raise Crash

    for _ in range(2):
        with pytest.raises(Crash):
            process_delivery(engine, inbox_id, {"order": one_at_a_time(dies)}, max_attempts=2)
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("received", 2)
    later = row.received_at + timedelta(days=1)
    assert due_deliveries(engine, now=later) == [inbox_id]
    assert (
        process_delivery(
            engine, inbox_id, {"order": one_at_a_time(dies)}, max_attempts=2, now=later
        )
        == "dead"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_inbox_job_goes_on_past_a_failing_row_and_applies_retention(
    engine, settings, catalogue
):
    """One row that fails does not stop the rest, and old bodies go whatever happened."""
    now = utcnow()
    ids = []
    for order_id in (706, 707):
        order = make_order(
            order_id, [("MENTOR-1H", 1)], email=f"{order_id}@example.com", customer_id=order_id
        )
        body = json.dumps(order).encode()
        delivery = Delivery("order.updated", "5", f"d-{order_id}", {}, body, order)
        ids.append(record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id)
    old = Delivery("order.updated", "5", "d-old", {}, b"{}", {})
    old_id = record_delivery(engine, old, handled=frozenset({"order"})).inbox_id
    with unit_of_work(engine) as session:
        for row in session.exec(select(InboxDelivery)).all():
            row.received_at = now - (
                timedelta(days=100) if row.id == old_id else timedelta(minutes=10)
            )
            session.add(row)
        # The first row's body is garbage a handler would choke on.
        first = session.get(InboxDelivery, ids[0])
        first.body = b'{"id": 706, "status": "processing", "line_items": 7}'
        session.commit()
    result = run_job(
        "inbox",
        make_ports(engine, settings.replace(shop={"url": None}), catalogue, clock=lambda: now),
    )
    statuses = {row.id: row.status for row in rows(engine)}
    assert statuses == {ids[0]: "rejected", ids[1]: "processed"}, result
    assert any("deleted 1 finished" in note for note in result.notes)


def test_retention_deletes_old_rows_drops_bodies_and_keeps_unfinished_ones(engine):
    """Bodies after their retention, finished rows after theirs; failed rows stay."""
    now = utcnow()
    for index, status in enumerate(("processed", "rejected", "failed", "processed")):
        delivery = Delivery("order.updated", "5", f"d-{index}", {}, b"{}", {"id": index + 1})
        inbox_id = record_delivery(engine, delivery, handled=frozenset({"order"})).inbox_id
        with unit_of_work(engine) as session:
            row = session.get(InboxDelivery, inbox_id)
            row.status = status
            row.received_at = now - timedelta(days=100 if index < 3 else 40)
            session.add(row)
            session.commit()
    kept = apply_retention(
        engine, body_retention=timedelta(days=30), row_retention=timedelta(days=90), now=now
    )
    assert (kept.bodies_dropped, kept.rows_deleted) == (3, 2)
    left = rows(engine)
    assert [(row.status, row.body) for row in left] == [("failed", b"{}"), ("processed", None)]


def test_an_sqlite_file_gives_the_space_of_deleted_deliveries_back(tmp_path):
    """auto_vacuum=INCREMENTAL: the file shrinks after retention, not only its free list."""
    from bridge.store.db import upgrade

    path = tmp_path / "bridge.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    big = b"x" * 200_000
    for index in range(20):
        delivery = Delivery("order.updated", "5", f"d-{index}", {}, big, {"id": index + 1})
        record_delivery(engine, delivery, handled=frozenset())
    reclaim = apply_retention(
        engine,
        body_retention=timedelta(days=0),
        row_retention=timedelta(days=0),
        now=utcnow() + timedelta(days=1),
    )
    engine.dispose()
    assert reclaim.rows_deleted == 20 and reclaim.pages_reclaimed > 0
    assert path.stat().st_size < 1_000_000


def test_db_upgrade_converts_an_old_sqlite_file_to_incremental_vacuum(tmp_path):
    """A file made before auto_vacuum was set is converted once by `bridge db upgrade`."""
    from bridge.store.db import upgrade

    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA auto_vacuum=NONE")
    raw.execute("CREATE TABLE t (x)")
    raw.commit()
    raw.close()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2
    engine.dispose()


def test_the_database_down_answers_503_for_that_request_only_and_heals(engine, settings):
    """While connections fail every endpoint answers 503; once back, the same app answers 200."""
    down = {"now": False}

    @event.listens_for(engine, "do_connect")
    def refuse(*_args):  # type: ignore[no-untyped-def]
        if down["now"]:
            raise engine.dialect.loaded_dbapi.OperationalError(
                "connection refused (host db.internal port 5432)"
            )

    app = create_app(
        settings, engine, handlers={"order": one_at_a_time(lambda payload: "ok")}, background=False
    )
    client = app.test_client()
    body = json.dumps(make_order(708, [("MENTOR-1H", 1)])).encode()
    down["now"] = True
    engine.dispose()
    assert signed(client, body).status_code == 503
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "5432" not in ready.get_data(as_text=True)
    api = client.get("/api/v1/learners/a@example.com", headers={"Authorization": "Bearer x"})
    assert api.status_code == 503 and "5432" not in api.get_data(as_text=True)
    down["now"] = False
    assert signed(client, body).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_note_for_an_order_id_that_cannot_exist_is_dead_without_stopping_the_drain(
    engine, settings
):
    """orders/-5/notes is never sent; the rest of the outbox still goes out."""
    import responses

    from bridge.services.writeback import drain_outbox
    from bridge.services.writeback.notes import NOTE
    from bridge.services.writeback.queue import enqueue_create
    from bridge.shop.client import WooClient

    with unit_of_work(engine) as session:
        for target in (-5, 42):
            enqueue_create(
                session,
                NOTE,
                target,
                f"order:{target}:note:x",
                {"note": "hi", "customer_note": False},
            )
        session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as http:
        http.get("https://shop.example.com/wp-json/wc/v3/orders/42/notes", json=[])
        http.post(
            "https://shop.example.com/wp-json/wc/v3/orders/42/notes",
            json={"id": 9, "note": "hi"},
            status=201,
        )
        drain_outbox(engine, WooClient(settings, sleep=lambda _s: None), settings)
    with unit_of_work(engine) as session:
        status = {row.target_id: row.status for row in session.exec(select(OutboxItem)).all()}
    assert status == {-5: "dead", 42: "sent"}


def test_learner_refs_with_unicode_digits_or_huge_ids_are_4xx(app, engine):
    """'¹'.isdigit() is true but is no id: 400; an id beyond 2^63 names nobody: 404."""
    from bridge.services.operations import create_token

    with unit_of_work(engine) as session:
        _, token = create_token(session, "reader", "read")
        session.commit()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/learners/%C2%B9", headers=auth).status_code in (400, 404)
    assert client.get("/api/v1/learners/" + "9" * 30, headers=auth).status_code == 404
    assert client.get("/api/v1/learners/0", headers=auth).status_code == 400


def test_the_api_answers_415_for_a_body_that_is_not_json(app, engine):
    """POST /api/v1/redemptions with Content-Type text/plain is refused as such."""
    from bridge.services.operations import create_token

    with unit_of_work(engine) as session:
        _, token = create_token(session, "writer", "write")
        session.commit()
    response = app.test_client().post(
        "/api/v1/redemptions",
        data=b"{}",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/plain",
            "Idempotency-Key": "k-1",
        },
    )
    assert response.status_code == 415


def test_bridge_inbox_lists_rejected_deliveries_with_their_reason(
    workdir, client, engine, database_url
):
    """`bridge inbox --status rejected` shows the row and why; --json says the same."""
    from click.testing import CliRunner

    from bridge.cli.main import main

    signed(client, poisoned("quantity over the bound"))
    env = {"DATABASE_URL": database_url}
    shown = CliRunner().invoke(main, ["inbox", "--status", "rejected"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "1 rejected" in shown.output and "quantity" in shown.output
    data = json.loads(CliRunner().invoke(main, ["inbox", "--json"], env=env).output)
    assert data["counts"] == {"rejected": 1}
    assert "BRIDGE_MAX_LINE_QUANTITY" in data["deliveries"][0]["last_error"]


def test_every_log_line_masks_passwords_in_urls_and_rest_keys():
    """The one log format masks user:password@ in any URL, REST keys and credential params."""
    import logging

    from bridge.logs import ContextFormatter

    formatter = ContextFormatter("%(message)s")
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "cannot reach postgresql+psycopg://bridge:hunter2@db/b",
        None,
        None,
    )
    record.url = "https://shop.example.com/wp-json?consumer_key=ck_abcdef1234567&x=1"
    line = formatter.format(record)
    assert "hunter2" not in line and "ck_abcdef1234567" not in line
    assert "bridge:****@db" in line
