"""The operator's commands: learner, credits grant/revoke, owes, inbox, webhooks, simulate, demo."""

from __future__ import annotations

import json
import re
import threading

import pytest
import responses
from click.testing import CliRunner
from sqlmodel import select
from werkzeug.serving import make_server

from bridge.cli.main import main
from bridge.rules.inbound.signatures import sign
from bridge.services.inbox import one_at_a_time
from bridge.services.ledger import balances, find_learner
from bridge.services.orders import build_handlers, process_order
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, LedgerEntry
from tests.support.paths import load_json
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from webhooks import create_app

SHOP = "https://shop.example.com"
API = f"{SHOP}/wp-json/wc/v3"


def bridge(env, *args):
    return CliRunner().invoke(main, ["--env-file", "/dev/null", *args], env=env, terminal_width=100)


@pytest.fixture
def alice(engine, settings):
    """Alice holds a 3 h pack, a cohort seat and the complimentary call."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    process_order(
        engine,
        make_order(300, [("MENTOR-PACK-3H", 1), ("COHORT-DV-2027-01", 1)]),
        catalogue=catalogue,
        settings=settings.replace(shop={"url": None}),
    )
    return catalogue


def test_learner_shows_balances_seats_and_history(env, alice):
    """bridge learner prints the balance, the seat and each ledger row; --json has stable keys."""
    result = bridge(env, "learner", "alice@example.com")
    assert result.exit_code == 0, result.output
    assert re.search(r"mentor_minutes +3 h 30 min\n", result.output)  # 210 minutes
    assert "DV-2027-01" in result.output and "active" in result.output
    assert "complimentary" in result.output
    data = json.loads(bridge(env, "learner", "2", "--json").output)
    assert data["balances"] == {"mentor_minutes": 210}
    assert [s["status"] for s in data["seats"]] == ["active"]


def test_unknown_learner_is_one_line_and_exit_1(env, alice):
    """An unknown e-mail fails with one human line, no traceback."""
    result = bridge(env, "learner", "nobody@example.com")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: no learner 'nobody@example.com' (by e-mail or customer id)"
    ]


def test_manual_grant_and_revoke_are_audited_ledger_rows(env, alice, engine):
    """credits grant/revoke append manual rows with the reason, and queue the new balance."""
    granted = bridge(
        env,
        "credits",
        "grant",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "60",
        "--reason",
        "goodwill after a missed call",
    )
    assert granted.exit_code == 0, granted.output
    assert "balance now 4 h 30 min" in granted.output
    revoked = bridge(
        env,
        "credits",
        "revoke",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "300",
        "--reason",
        "charge-back",
        "--by",
        "dana",
        "--force",
        "--json",
    )
    assert json.loads(revoked.output)["balance"] == -30
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(LedgerEntry.amount, LedgerEntry.note, LedgerEntry.actor)
            .where(LedgerEntry.reason == "manual")
            .order_by(LedgerEntry.id)
        ).all()
    assert rows[1:] == [(-300, "charge-back", "dana")]
    assert rows[0][:2] == (60, "goodwill after a missed call") and rows[0][2]  # the OS user
    owes = bridge(env, "owes", "--json")
    assert json.loads(owes.output) == [
        {
            "email": "alice@example.com",
            "customer_id": 2,
            "credit_type": "mentor_minutes",
            "balance": -30,
        }
    ]


def test_a_grant_to_an_unknown_email_creates_a_guest_learner_and_says_so(env, alice, engine):
    """A prospect can be gifted minutes: the learner is created as a guest, by e-mail."""
    result = bridge(
        env,
        "credits",
        "grant",
        "Prospect@Example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "30",
        "--reason",
        "conference raffle",
        "--by",
        "dana",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "new learner prospect@example.com (a guest: known by e-mail until they buy)"
    )
    assert "+30 min of mentor time for prospect@example.com by dana" in result.output
    again = bridge(
        env,
        "credits",
        "grant",
        "prospect@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "30",
        "--reason",
        "second raffle",
        "--json",
    )
    assert json.loads(again.output)["learner_created"] is False
    assert json.loads(again.output)["balance"] == 60
    unknown = bridge(
        env,
        "credits",
        "revoke",
        "stranger@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "1",
        "--reason",
        "x",
    )
    assert unknown.exit_code == 1 and "no learner" in unknown.output


def test_a_revoke_below_zero_needs_force_and_a_typo_type_needs_new_type(env, alice, engine):
    """-1000 of 210 is refused, as is mentor_minuts; neither writes a row."""
    below = bridge(
        env,
        "credits",
        "revoke",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "1000",
        "--reason",
        "oops",
    )
    assert below.exit_code == 1
    assert below.output.strip() == (
        "error: revoking 16 h 40 min of mentor time would leave alice@example.com at "
        "-13 h 10 min (balance 3 h 30 min); --force allows a negative balance"
    )
    typo = bridge(
        env,
        "credits",
        "grant",
        "alice@example.com",
        "--type",
        "mentor_minuts",
        "--amount",
        "10",
        "--reason",
        "x",
    )
    assert typo.exit_code == 1
    assert "no credit type 'mentor_minuts'; did you mean mentor_minutes?" in typo.output
    with unit_of_work(engine) as session:
        assert session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all() == []
    new = bridge(
        env,
        "credits",
        "grant",
        "alice@example.com",
        "--type",
        "critique_minutes",
        "--amount",
        "10",
        "--reason",
        "new service",
        "--new-type",
    )
    assert new.exit_code == 0, new.output


def test_manual_adjustment_rejects_a_non_positive_amount(env, alice, engine):
    """A zero or negative amount is refused naming the option, and nothing is written."""
    result = bridge(
        env,
        "credits",
        "grant",
        "alice@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "0",
        "--reason",
        "x",
    )
    assert result.exit_code == 2 and "--amount" in result.output
    with unit_of_work(engine) as session:
        assert session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all() == []


def test_inbox_lists_shows_and_retries_a_failed_delivery(env, engine, settings):
    """A failed delivery is listed, shown with its error, and processed again by retry."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    failing = {
        "order": one_at_a_time(lambda payload: (_ for _ in ()).throw(ValueError("shop was down")))
    }
    app = create_app(settings, engine, handlers=failing, background=False)
    body = json.dumps(make_order(310, [("MENTOR-1H", 1)])).encode()
    response = app.test_client().post(
        "/webhooks/woocommerce",
        data=body,
        buffered=True,
        headers={
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": "x1",
            "X-WC-Webhook-Signature": sign(body, "whsec-wcreal-test"),
        },
    )
    assert response.status_code == 200
    listed = bridge(env, "inbox", "--status", "failed")
    assert "order.created" in listed.output and "shop was down" in listed.output
    [row_id] = [r["id"] for r in json.loads(bridge(env, "inbox", "--json").output)["deliveries"]]
    shown = bridge(env, "inbox", "show", str(row_id))
    assert (
        "ValueError: shop was down" in shown.output
        and "body" not in shown.output.split("last_error")[0].split("\n")[-1]
    )
    retried = bridge(env, "inbox", "retry", str(row_id))
    assert retried.exit_code == 0, retried.output
    assert "1 processed" in retried.output
    with unit_of_work(engine) as session:
        assert balances(session, find_learner(session, "alice@example.com").id) == {
            "mentor_minutes": 90
        }
        assert session.get(InboxDelivery, row_id).status == "processed"


def test_inbox_work_processes_what_store_only_web_processes_stored(env, engine, settings):
    """What store-only web processes (BRIDGE_INBOX_WORKER) stored, the worker processes."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    web = create_app(
        settings.replace(inbox={"worker": True}), engine, handlers={"order": one_at_a_time(str)}
    )
    for order_id in (320, 321, 322):
        body = json.dumps(make_order(order_id, [("MENTOR-1H", 1)])).encode()
        response = web.test_client().post(
            "/webhooks/woocommerce",
            data=body,
            buffered=True,
            headers={
                "X-WC-Webhook-Topic": "order.created",
                "X-WC-Webhook-Delivery-ID": str(order_id),
                "X-WC-Webhook-Signature": sign(body, "whsec-wcreal-test"),
            },
        )
        assert response.get_json()["status"] == "received"
    worked = bridge(env, "inbox", "work", "--once")
    assert worked.exit_code == 0, worked.output
    assert "3 deliveries processed" in worked.output
    with unit_of_work(engine) as session:
        rows = session.exec(select(InboxDelivery)).all()
        assert [row.status for row in rows] == ["processed"] * 3
        assert balances(session, find_learner(session, "alice@example.com").id) == {
            "mentor_minutes": 3 * 60 + 30
        }


def _shop_env(env):
    return dict(
        env,
        WOOCOMMERCE_URL=SHOP,
        WOOCOMMERCE_CONSUMER_KEY="ck_test",
        WOOCOMMERCE_CONSUMER_SECRET="cs_test",
        BRIDGE_PUBLIC_URL="http://127.0.0.1:9100",
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_webhooks_install_is_idempotent(env):
    """Against the real shop's webhook list, install creates only the missing topics."""
    hooks = load_json("woocommerce-real/rest/5-webhooks-status-all-per_page-100.json")
    created = load_json("woocommerce-real/rest/webhook-create-order-created.json")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as shop:
        shop.get(f"{API}/webhooks", json=hooks)
        shop.get(f"{API}/subscriptions", json=[], headers={"X-WP-TotalPages": "1"})
        shop.post(
            f"{API}/webhooks",
            json=dict(created, id=99, topic="product.restored"),
            match=[
                responses.matchers.json_params_matcher(
                    {
                        "name": "creator-bridge product.restored",
                        "topic": "product.restored",
                        "delivery_url": "http://127.0.0.1:9100/webhooks/woocommerce",
                        "secret": "whsec-wcreal-test",
                        "status": "active",
                    }
                )
            ],
        )
        result = bridge(_shop_env(env), "webhooks", "install", "--json")
    assert result.exit_code == 0, result.output
    actions = {row["topic"]: row["action"] for row in json.loads(result.output)}
    assert actions["product.restored"] == "created"
    assert {a for t, a in actions.items() if t != "product.restored"} == {"ok"}
    assert len(actions) == 13


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_webhooks_status_flags_and_repairs_a_disabled_webhook(env):
    """A disabled bridge webhook is flagged (exit 1); --repair re-enables it."""
    hooks = load_json("woocommerce-real/rest/5-webhooks-status-all-per_page-100.json")
    hooks[0]["status"] = "disabled"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as shop:
        shop.get(f"{API}/webhooks", json=hooks)
        flagged = bridge(_shop_env(env), "webhooks", "status")
    assert flagged.exit_code == 1 and "DISABLED" in flagged.output
    with responses.RequestsMock(assert_all_requests_are_fired=True) as shop:
        shop.get(f"{API}/webhooks", json=hooks)
        shop.put(
            f"{API}/webhooks/17",
            json=dict(hooks[0], status="active"),
            match=[responses.matchers.json_params_matcher({"status": "active"})],
        )
        repaired = bridge(_shop_env(env), "webhooks", "status", "--repair")
    assert repaired.exit_code == 0 and "re-enabled" in repaired.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_webhooks_install_without_public_url_names_the_variable(env):
    """A missing BRIDGE_PUBLIC_URL is one line naming it."""
    result = bridge(dict(_shop_env(env), BRIDGE_PUBLIC_URL=""), "webhooks", "install")
    assert result.exit_code == 1
    assert result.output.startswith("error: BRIDGE_PUBLIC_URL is not set")


def test_simulate_sends_a_signed_order_and_its_refund(env, engine, settings):
    """bridge simulate order, then refund, against a real receiver on a local port."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    app = create_app(settings, engine, handlers=handlers)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/woocommerce"
    try:
        sent = bridge(
            env,
            "simulate",
            "order",
            "--sku",
            "MENTOR-PACK-5H",
            "--email",
            "sim@example.com",
            "--order-id",
            "4242",
            "--url",
            url,
        )
        assert sent.exit_code == 0, sent.output
        assert "receiver says received" in sent.output
        _wait_processed(engine)
        refunded = bridge(
            env,
            "simulate",
            "refund",
            "--sku",
            "MENTOR-PACK-5H",
            "--email",
            "sim@example.com",
            "--order-id",
            "4242",
            "--url",
            url,
        )
        assert refunded.exit_code == 0, refunded.output
        _wait_processed(engine)
    finally:
        server.shutdown()
        thread.join()
        app.extensions["bridge"].processor.stop()
    with unit_of_work(engine) as session:
        learner = find_learner(session, "sim@example.com")
        amounts = session.exec(
            select(LedgerEntry.reason, LedgerEntry.amount)
            .where(LedgerEntry.order_id == 4242)
            .order_by(LedgerEntry.id)
        ).all()
        assert amounts == [("grant", 300), ("reversal", -300)]
        # Refunded in full: the unused complimentary call is taken back too.
        assert balances(session, learner.id) == {"mentor_minutes": 0}


def _wait_processed(engine):
    import time

    for _ in range(200):
        with unit_of_work(engine) as session:
            if not session.exec(
                select(InboxDelivery).where(InboxDelivery.status == "received")
            ).all():
                return
        time.sleep(0.05)
    raise AssertionError("deliveries were not processed")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_simulate_without_a_receiver_is_one_line(env):
    """No receiver at the URL: one line that says how to start it."""
    result = bridge(
        env,
        "simulate",
        "order",
        "--sku",
        "MENTOR-1H",
        "--email",
        "a@b.c",
        "--url",
        "http://127.0.0.1:9/webhooks/woocommerce",
    )
    assert result.exit_code == 1
    assert "start it with `bridge serve`" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_plays_the_whole_product(env):
    """bridge demo fills the cohort to its waitlist, promotes on refund and renews monthly."""
    result = bridge(env, "demo", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    learners = summary["learners"]
    seat = {
        email: [(s["status"], s["position"]) for s in data["seats"]]
        for email, data in learners.items()
        if data["seats"]
    }
    assert seat == {
        "alice@example.com": [("active", None)],
        "bob@example.com": [("released", None)],
        "cara@example.com": [("active", None)],
        "dan@example.com": [("active", None)],
        "erin@example.com": [("waitlisted", 1)],
    }
    assert learners["frank@example.com"]["balances"] == {
        "mentor_minutes": 150,
        "portfolio_reviews": 2,
    }
    assert learners["alice@example.com"]["balances"] == {"mentor_minutes": 210}
    assert summary["inbox"] == {"processed": 12}
    pathway = summary["pathway"]  # Hana's two outcomes complete the example pathway
    assert pathway["pathway"] == "data-viz-practitioner"
    assert [state["completed"] for state in pathway["progress"]] == [True]
    assert [record["kind"] for record in pathway["records"]] == ["record"]
    assert {w["resource"] for w in summary["writebacks"]} >= {"order", "order_note", "customer"}
