"""The first hour, again: what a new user tripped over in the CLI and its wording (issue 35)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import responses
from click.testing import CliRunner, Result
from sqlmodel import select
from werkzeug.serving import make_server

from bench.fake_shop import Orders, learner_name, self_check
from bridge.cli.main import main
from bridge.rules.catalogue.catalog import describe_offer
from bridge.rules.entitlements import SIMULATED_META
from bridge.rules.words import amount_text, closest, credit_text, did_you_mean, duration
from bridge.services.catalogue import read_catalogue_file, unmapped_skus
from bridge.services.ledger import balances
from bridge.services.operations import example_catalogue_path
from bridge.services.operations.doctor import _unmapped_check
from bridge.services.operations.simulation import name_from_email
from bridge.services.orders import build_handlers, process_order
from bridge.services.orders.delivery_handlers import describe_order
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Access,
    InboxDelivery,
    Learner,
    LearnerEmail,
    OutboxItem,
    Seat,
)
from tests.support.paths import ROOT
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.writeback import FakeShop
from webhooks import create_app


def bridge(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["--env-file", "/dev/null", *args], env=env, terminal_width=100)


def _learners(engine, count: int) -> None:
    with unit_of_work(engine) as session:
        session.add_all(
            Learner(email=f"learner{n}@example.com", name=f"Learner {n}") for n in range(count)
        )
        session.commit()


# --- 1. a reader that stops reading -----------------------------------------------------------


def _run_into_pipe(
    env: dict[str, str], args: list[str], *, read_first_line: bool
) -> tuple[int, bytes, bytes]:
    """`python -m bridge ARGS | reader`: the reader reads one line and closes, or is gone
    before the command writes anything. The pipe holds one page, so a long output is still
    being written when the reader goes."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    if not read_first_line:
        os.close(read_end)
    process = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
        [sys.executable, "-m", "bridge", "--env-file", "/dev/null", *args],
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    os.close(write_end)
    first = b""
    if read_first_line:
        with os.fdopen(read_end, "rb") as reader:
            first = reader.readline()
    _, errors = process.communicate(timeout=120)
    return process.returncode, first, errors


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("args", "read_first_line"),
    [
        (["learners", "--limit", "300"], True),
        (["learners", "--json"], False),
        (["catalog"], True),
        (["outbox", "--status", "all"], False),
        (["--help"], False),
        (["credits", "--help"], False),
    ],
)
def test_piping_into_a_reader_that_stops_early_is_silent_and_exits_0(
    env, engine, args, read_first_line
):
    """`bridge learners | head`, `bridge outbox --status all | head`: no `error: Broken
    pipe`, no traceback, exit status 0."""
    _learners(engine, 300)
    status, first, errors = _run_into_pipe(env, args, read_first_line=read_first_line)
    assert (status, errors) == (0, b"")
    if read_first_line:
        assert first.strip()


# --- 2. names follow the e-mail ---------------------------------------------------------------


@pytest.fixture
def receiver(engine, settings):
    """A real receiver on a local port (the example catalogue, no shop); yields its URL."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    app = create_app(settings, engine, handlers=handlers)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/woocommerce"
    finally:
        server.shutdown()
        thread.join()
        app.extensions["bridge"].processor.stop()


def _processed(engine) -> None:
    """Wait until the receiver has processed every delivery it stored."""
    for _ in range(400):
        with unit_of_work(engine) as session:
            if not session.exec(
                select(InboxDelivery).where(InboxDelivery.status == "received")
            ).all():
                return
        time.sleep(0.05)
    raise AssertionError("deliveries were not processed")


def _names(engine) -> dict[str, str]:
    with unit_of_work(engine) as session:
        return {row.email: row.name for row in session.exec(select(Learner)).all()}


def test_a_simulated_buyer_is_named_after_the_e_mail_or_by_name(env, engine, receiver):
    """bo.lindqvist@example.com buys as Bo Lindqvist; --name names the buyer; nobody is
    "Alice Andersen" any more."""
    for email, extra in (
        ("bo.lindqvist@example.com", ()),
        ("ann@example.com", ()),
        ("c.d@example.com", ("--name", "Chidi  Okafor Diallo")),
    ):
        sent = bridge(
            env,
            "simulate",
            "order",
            "--sku",
            "MENTOR-1H",
            "--email",
            email,
            "--url",
            receiver,
            *extra,
        )
        assert sent.exit_code == 0, sent.output
    _processed(engine)
    assert _names(engine) == {
        "bo.lindqvist@example.com": "Bo Lindqvist",
        "ann@example.com": "Ann",
        "c.d@example.com": "Chidi Okafor Diallo",
    }
    assert name_from_email("mary-jane_o.neil+news@example.com") == ("Mary", "Jane O Neil")


def test_the_fake_shop_gives_every_learner_a_name_of_their_own():
    """bench/fake_shop.py: distinct names, also past the first/last name pairs, and its fast
    orders still equal order_payload's."""
    names = [learner_name(n) for n in range(20_000)]
    assert len(set(names)) == len(names)
    assert names[:2] == [("Ann", "Lindqvist"), ("Bo", "Lindqvist")]
    orders = Orders(3000)
    self_check(orders, sample=60)
    billing = {
        (o["billing"]["first_name"], o["billing"]["last_name"])
        for o in (orders.order(i) for i in range(1, 301))
    }
    assert len(billing) > 50 and ("Alice", "Andersen") not in billing


# --- 3. a typo gets the closest match, one line -----------------------------------------------


def test_closest_and_did_you_mean_are_the_one_helper():
    """One helper words every "unknown" answer; nothing near means no suggestion."""
    skus = ["COHORT-DV-2027-01", "ASSESS-DV", "MENTOR-1H"]
    assert did_you_mean("COHORT-DV-2027-1", skus) == "did you mean COHORT-DV-2027-01?"
    assert did_you_mean("asses-dv", skus) == "did you mean ASSESS-DV?"
    assert did_you_mean("SOMETHING-ELSE", skus) == ""
    assert did_you_mean("MENTOR-1H", skus) == ""
    assert closest("mentor_minuts", ["mentor_minutes", "portfolio_reviews"]) == "mentor_minutes"


def test_simulate_refuses_an_unknown_sku_naming_the_closest_and_sends_nothing(
    env, engine, receiver
):
    """`--sku COHORT-DV-2027-1` is a typo, not a sale: one line, exit 1, no delivery; with
    --unmapped it goes, as a line that sells no micro-SKU."""
    typo = bridge(
        env,
        "simulate",
        "order",
        "--sku",
        "COHORT-DV-2027-1",
        "--email",
        "ann@example.com",
        "--url",
        receiver,
    )
    assert typo.exit_code == 1
    assert typo.output.strip().splitlines() == [
        "error: no micro-SKU 'COHORT-DV-2027-1' in the catalogue; did you mean "
        "COHORT-DV-2027-01? (--unmapped sends it anyway, as a line that sells no micro-SKU)"
    ]
    with unit_of_work(engine) as session:
        assert session.exec(select(InboxDelivery)).all() == []
    sent = bridge(
        env,
        "simulate",
        "order",
        "--sku",
        "COHORT-DV-2027-1",
        "--email",
        "ann@example.com",
        "--url",
        receiver,
        "--unmapped",
    )
    assert sent.exit_code == 0 and "receiver says received" in sent.output


@pytest.fixture
def bo(engine):
    """bo@example.com and bo.lindqvist@example.com are learners; so is a former address."""
    with unit_of_work(engine) as session:
        session.add(Learner(email="bo@example.com", name="Bo"))
        lindqvist = Learner(email="bo.lindqvist@example.com", name="Bo Lindqvist")
        session.add(lindqvist)
        session.flush()
        session.add(LearnerEmail(email="bo.l@oldmail.example", learner_id=lindqvist.id))
        session.add(LearnerEmail(email="bo.lindqvist@example.com", learner_id=lindqvist.id))
        session.commit()


@pytest.mark.parametrize(
    ("ref", "near"),
    [
        ("bo@exmaple.com", "bo@example.com"),
        ("bo.lindqvst@example.com", "bo.lindqvist@example.com"),
        ("bo.l@oldmail.exampel", "bo.l@oldmail.example"),
        ("nobody@example.com", None),  # a stranger on the same domain is no typo
        ("BO@EXAMPLE.CON", "bo@example.com"),
        ("4711", None),
    ],
)
def test_an_unknown_learner_names_the_e_mail_it_is_a_typo_of(env, bo, ref, near):
    """`bridge learner bo@exmaple.com`: one line with the nearest known address."""
    result = bridge(env, "learner", ref)
    assert result.exit_code == 1
    hint = f"; did you mean {near}?" if near else ""
    assert result.output.strip().splitlines() == [
        f"error: no learner {ref!r} (by e-mail or customer id){hint}"
    ]


def test_credits_and_cohorts_answer_a_typo_with_the_closest_match(env, bo, engine):
    """A grant to a typo of a known e-mail is refused (--new-learner gives anyway); revoke,
    redeem and the cohort name the nearest learner, credit type or cohort code."""
    grant = (
        "credits",
        "grant",
        "bo@exmaple.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "30",
        "--reason",
        "raffle",
    )
    refused = bridge(env, *grant)
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "error: no learner 'bo@exmaple.com' (by e-mail or customer id); did you mean "
        "bo@example.com? (--new-learner gives to it as a new guest learner)"
    )
    with unit_of_work(engine) as session:
        assert len(session.exec(select(Learner)).all()) == 2
    stranger = bridge(
        env,
        "credits",
        "grant",
        "dana@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "30",
        "--reason",
        "raffle",
    )
    assert stranger.exit_code == 0 and "new learner dana@example.com" in stranger.output
    anyway = bridge(env, *grant, "--new-learner")
    assert anyway.exit_code == 0 and "new learner bo@exmaple.com" in anyway.output
    revoke = bridge(
        env,
        "credits",
        "revoke",
        "bo@exampel.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "1",
        "--reason",
        "x",
    )
    assert revoke.output.strip() == (
        "error: no learner 'bo@exampel.com' (by e-mail or customer id); did you mean "
        "bo@example.com?"
    )
    redeem = bridge(
        env,
        "credits",
        "redeem",
        "bo@exampel.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "1",
        "--reference",
        "cal-1",
    )
    assert redeem.exit_code == 1 and redeem.output.strip() == revoke.output.strip()
    kind = bridge(
        env,
        "credits",
        "redeem",
        "bo@example.com",
        "--type",
        "mentor_minuts",
        "--amount",
        "1",
        "--reference",
        "cal-1",
    )
    assert kind.exit_code == 1
    assert "unknown credit type 'mentor_minuts'; did you mean mentor_minutes?" in kind.output
    assert bridge(env, "catalog", "apply").exit_code == 0  # stores the file's cohorts
    cohort = bridge(env, "cohort", "DV-2027-1")
    assert cohort.exit_code == 1
    assert cohort.output.strip() == "error: no cohort 'DV-2027-1'; did you mean DV-2027-01?"


# --- 4. simulated orders stay out of the shop -------------------------------------------------

SIMULATED = [{"id": 2, "key": SIMULATED_META, "value": "yes"}]


def _targets(engine) -> list[str]:
    with unit_of_work(engine) as session:
        return sorted(row.target_key for row in session.exec(select(OutboxItem)).all())


def test_a_simulated_order_grants_but_queues_nothing_about_itself(env, engine, receiver):
    """`bridge simulate` marks its order (meta _bridge_simulated): the learner gets the credits,
    the seat and the notes' worth of changes, the outbox gets nothing naming the order."""
    sent = bridge(
        env,
        "simulate",
        "order",
        "--sku",
        "MENTOR-PACK-3H",
        "--price",  # a paid line: it earns the complimentary call (perks follow money)
        "150",
        "--email",
        "bo@example.com",
        "--customer-id",
        "77",
        "--order-id",
        "9001",
        "--url",
        receiver,
        "--json",
    )
    assert sent.exit_code == 0, sent.output
    _processed(engine)
    with unit_of_work(engine) as session:
        delivery = session.exec(select(InboxDelivery)).one()
        assert delivery.status == "processed"
        learner = session.exec(select(Learner).where(Learner.email == "bo@example.com")).one()
        assert balances(session, learner.id) == {"mentor_minutes": 180 + 30}
    assert [m for m in json.loads(delivery.body)["meta_data"] if m["key"] == SIMULATED_META] == [
        {"id": 2, "key": SIMULATED_META, "value": "yes"}
    ]
    assert _targets(engine) == []


def test_a_simulated_refund_still_tells_the_real_order_it_promoted(engine, settings):
    """Three simulated buyers fill the cohort, a real one waits; a simulated refund promotes
    the real one: its meta, note and the cohort's stock are queued, nothing for 801-803."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)

    def apply(payload):
        return process_order(engine, payload, catalogue=catalogue, settings=settings)

    for n in (1, 2, 3):
        apply(
            make_order(
                800 + n,
                [("COHORT-DV-2027-01", 1)],
                email=f"sim{n}@example.com",
                customer_id=0,
                meta=SIMULATED,
            )
        )
    assert _targets(engine) == []
    apply(make_order(804, [("COHORT-DV-2027-01", 1)], modified="2026-11-28T16:05:00"))
    waiting = _targets(engine)
    assert "order:804:meta" in waiting and "customer:2:meta" in waiting
    assert not [key for key in waiting if key.startswith(("order:801", "order:802", "order:803"))]
    refund = make_order(
        801,
        [("COHORT-DV-2027-01", 1)],
        email="sim1@example.com",
        customer_id=0,
        status="refunded",
        modified="2026-11-28T17:00:00",
        meta=SIMULATED,
    )
    outcome = apply(refund)
    assert outcome.count("seat_promoted") == 1
    with unit_of_work(engine) as session:
        rows = session.exec(select(OutboxItem)).all()
        seat = session.exec(select(Seat).where(Seat.order_id == 804)).one()
    assert seat.status == "active"
    assert not [
        row.target_key
        for row in rows
        if row.target_key.startswith(("order:801", "order:802", "order:803"))
    ]
    notes = [row for row in rows if row.resource == "order_note" and row.target_id == 804]
    assert len(notes) == 2  # waitlisted, then promoted
    assert "product:22:stock" in {row.target_key for row in rows}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_drain_that_leaves_dead_write_backs_says_so_and_exits_1(env, engine):
    """Dead rows are a failure a person must look at: one `error:` line, exit status 1."""
    with unit_of_work(engine) as session:
        session.add(
            OutboxItem(
                resource="order",
                operation="update",
                target_id=5,
                target_key="order:5:meta",
                payload={"data": {}},
                status="dead",
                attempts=1,
                last_error="shop refused: Invalid ID.",
            )
        )
        session.commit()
    shop = {
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
    }
    with responses.RequestsMock():  # nothing is due: no request
        result = bridge({**env, **shop}, "outbox", "drain")
    assert result.exit_code == 1
    assert result.stdout.startswith("sent 0, 0 unchanged, 0 to retry, 0 dead")
    assert result.stderr.strip() == (
        "error: 1 write-back is dead: `bridge outbox --status dead` says why; `bridge outbox "
        "retry --all` sends them again once the cause is fixed"
    )


# --- 5. one flag, one meaning -----------------------------------------------------------------


def _help(*path: str) -> str:
    return CliRunner().invoke(main, [*path, "--help"], terminal_width=100).output


def test_renamed_flags_keep_their_old_spelling_hidden():
    """learners --search (--q hidden), catalog sync --since (--modified-after hidden): the help
    shows the new names only, and no strftime pattern."""
    learners, sync = _help("learners"), _help("catalog", "sync")
    assert "--search TEXT" in learners and "--q" not in learners
    assert "--since DATE" in sync and "--modified-after" not in sync and "%Y" not in sync


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_learners_search_and_its_old_spelling_find_the_same(env, bo):
    """`--search` and the hidden `--q` are one option."""
    new = json.loads(bridge(env, "learners", "--search", "lindqvist", "--json").stdout)
    old = json.loads(bridge(env, "learners", "--q", "lindqvist", "--json").stdout)
    assert (
        [row["email"] for row in new]
        == [row["email"] for row in old]
        == ["bo.lindqvist@example.com"]
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("option", ["--since", "--modified-after"])
def test_a_bad_catalog_sync_date_says_use_yyyy_mm_dd(env, option):
    """The error names the format in words, as every --since does, not strftime patterns."""
    result = bridge(
        {**env, "WOOCOMMERCE_URL": "https://shop.example.com"},
        "catalog",
        "sync",
        option,
        "2026-13-01",
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {option}: '2026-13-01' is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_groups_without_a_command_list_like_tokens_do(env):
    """`bridge credentials`, `bridge operators`, `bridge webhooks` list, as `bridge tokens`."""
    public = {**env, "BRIDGE_PUBLIC_URL": "https://bridge.example.com"}
    assert bridge(public, "credentials").output == bridge(public, "credentials", "list").output
    assert bridge(public, "credentials", "--json").stdout.strip() == "[]"
    assert bridge(env, "operators").output.strip() == (
        "no operators yet: `bridge operators add EMAIL`"
    )
    shop = {
        **env,
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
    }
    with responses.RequestsMock() as rsps:
        rsps.get(
            "https://shop.example.com/wp-json/wc/v3/webhooks",
            json=[],
            headers={"X-WP-TotalPages": "1", "X-WP-Total": "0"},
        )
        listed = bridge(shop, "webhooks")
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip() == "the shop has no webhooks; run `bridge webhooks install`"


@pytest.mark.parametrize(
    "path",
    [
        ("learner",),
        ("credits", "grant"),
        ("credits", "revoke"),
        ("credits", "redeem"),
        ("credentials", "issue"),
    ],
)
def test_a_learner_argument_is_called_learner_everywhere(path):
    """One name for one thing: LEARNER, an e-mail or a customer id."""
    text = _help(*path)
    usage = text.splitlines()[0]
    assert "LEARNER" in usage and "EMAIL" not in usage
    assert "customer id" in text
    assert "--learner LEARNER" in _help("credentials", "list")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--zzz",), "error: no such option '--zzz' (`bridge --help` lists the options)"),
        (("nosuch",), "error: no such command 'nosuch' (`bridge --help` lists the options)"),
        (
            ("learners", "--limit", "x"),
            "error: invalid value for '--limit': 'x' is not a valid "
            "integer range (`bridge learners --help` lists the options)",
        ),
        (
            ("credits", "grant"),
            "error: missing argument 'LEARNER' (`bridge credits grant --help` lists the options)",
        ),
        (
            ("outbox", "--status", "nope"),
            "error: invalid value for '--status': 'nope' is not one "
            "of 'pending', 'sending', 'sent', 'unchanged', 'dead', 'superseded', 'held', 'all' "
            "(`bridge outbox --help` lists the options)",
        ),
        (
            ("inbox", "retry"),
            "error: give one delivery id or --all (`bridge inbox retry --help` lists the options)",
        ),
    ],
)
def test_a_usage_mistake_is_one_error_line_and_exit_2(env, args, line):
    """README promises one `error:` line: not click's usage, hint and message on three."""
    result = bridge(env, *args)
    assert result.exit_code == 2
    assert result.output.splitlines() == [line]


def test_a_reference_redeemed_twice_with_other_flags_says_what_differs(env, bo, engine):
    """Not "Idempotency-Key 'cli:cal-123' was used for a different request"."""
    grant = bridge(
        env,
        "credits",
        "grant",
        "bo@example.com",
        "--type",
        "mentor_minutes",
        "--amount",
        "120",
        "--reason",
        "test",
    )
    assert grant.exit_code == 0, grant.output
    redeem = ("credits", "redeem", "--type", "mentor_minutes", "--reference", "cal-123")
    first = bridge(env, *redeem, "bo@example.com", "--amount", "30")
    assert first.exit_code == 0, first.output
    same = bridge(env, *redeem, "bo@example.com", "--amount", "30")
    assert same.exit_code == 0 and "already redeemed" in same.output
    other = bridge(env, *redeem, "bo.lindqvist@example.com", "--amount", "60", "--mentor", "Dana")
    assert other.exit_code == 1
    assert other.output.strip() == (
        "error: --reference cal-123 was redeemed before (redemption 1) with --amount 30 (now "
        "60), LEARNER bo@example.com (now bo.lindqvist@example.com), --mentor none (now Dana); "
        "a different booking needs its own --reference, a repeat the same flags"
    )
    with unit_of_work(engine) as session:
        bo_row = session.exec(select(Learner).where(Learner.email == "bo@example.com")).one()
        assert balances(session, bo_row.id) == {"mentor_minutes": 90}


def test_the_ledger_is_newest_first_as_in_the_console(env, bo):
    """`bridge learner` lists the newest ledger row first, as the console's learner page."""
    for amount in ("10", "20", "30"):
        bridge(
            env,
            "credits",
            "grant",
            "bo@example.com",
            "--type",
            "mentor_minutes",
            "--amount",
            amount,
            "--reason",
            f"gift {amount}",
        )
    lines = bridge(env, "learner", "bo@example.com").output.splitlines()
    rows = [line for line in lines if "gift" in line]
    assert [re.search(r"gift \d+", row).group() for row in rows] == [
        "gift 30",
        "gift 20",
        "gift 10",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_info_log_lines_appear_only_with_verbose(env, engine):
    """A drain's "outbox drained" INFO line is for -v; warnings always show."""
    shop = {
        **env,
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
    }
    with unit_of_work(engine) as session:
        session.add(
            OutboxItem(
                resource="product",
                operation="update",
                target_id=22,
                target_key="product:22:stock",
                payload={"data": {"stock_quantity": 3}},
            )
        )
        session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeShop(rsps)
        quiet = bridge(shop, "outbox", "drain")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    with unit_of_work(engine) as session:
        row = session.exec(select(OutboxItem)).one()
        row.status, row.payload = "pending", {"data": {"stock_quantity": 2}}
        session.add(row)
        session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FakeShop(rsps)
        verbose = bridge(shop, "-v", "outbox", "drain")
    assert verbose.exit_code == 0, verbose.output
    assert "INFO bridge.services.writeback.outbox: outbox drained" in verbose.stderr


# --- 6. the outbox CLI ------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_order_meta_for_an_order_the_shop_lacks_is_dead_at_once_and_listed_as_dead(env, engine):
    """orders/batch answers "Invalid ID." for the order: dead after 1 try (as a note would
    be), the drain says so and exits 1, the list says "dead" and shows the error whole."""
    with unit_of_work(engine) as session:
        session.add(
            OutboxItem(
                resource="order",
                operation="update",
                target_id=4242,
                target_key="order:4242:meta",
                payload={"data": {"meta_data": [{"key": "bridge_enrolment", "value": []}]}},
            )
        )
        session.commit()
    shop = {
        **env,
        "WOOCOMMERCE_URL": "https://shop.example.com",
        "WOOCOMMERCE_CONSUMER_KEY": "ck_test_0123456789",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_0123456789",
    }
    with responses.RequestsMock() as rsps:
        rsps.post(
            "https://shop.example.com/wp-json/wc/v3/orders/batch",
            json={
                "update": [
                    {
                        "id": 4242,
                        "error": {
                            "code": "woocommerce_rest_shop_order_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 400},
                        },
                    }
                ]
            },
        )
        drained = bridge(shop, "outbox", "drain")
    assert drained.exit_code == 1
    assert drained.stdout.startswith("sent 0, 0 unchanged, 0 to retry, 1 dead")
    assert "WARNING" in drained.stderr  # the dead-lettering is logged; warnings always show
    assert drained.stderr.splitlines()[-1].startswith(
        "error: 1 write-back is dead, 1 of them in this drain:"
    )
    listed = bridge(env, "outbox").output.splitlines()
    assert listed[0] == "outbox: 1 dead"
    assert re.fullmatch(r" +#\d+ +dead +order:4242:meta +dead after 1 try", listed[2])
    assert listed[3].strip() == ("last error: woocommerce_rest_shop_order_invalid_id: Invalid ID.")


# --- 7. wording -------------------------------------------------------------------------------


def test_mentor_time_reads_in_hours_and_minutes_and_counts_agree():
    """One helper words amounts: minutes as hours and minutes, other types with plurals."""
    assert [duration(m) for m in (0, 45, 60, 90, 210, -90)] == [
        "0 min",
        "45 min",
        "1 h",
        "1 h 30 min",
        "3 h 30 min",
        "-1 h 30 min",
    ]
    assert credit_text(90, "mentor_minutes") == "1 h 30 min of mentor time"
    assert credit_text(-30, "mentor_minutes", signed=True) == "-30 min of mentor time"
    assert credit_text(1, "portfolio_reviews", signed=True) == "+1 portfolio review"
    assert amount_text(180, "mentor_minutes", signed=True) == "+3 h"
    assert amount_text(2, "portfolio_reviews") == "2"
    offers = read_catalogue_file(example_catalogue_path())
    described = {sku: describe_offer(offer, offers) for sku, offer in offers.offers.items()}
    assert described["SUB-MENTOR-MONTHLY"].startswith(
        "per paid period: 1 h of mentor time + 1 portfolio review;"
    )
    assert described["TEAM-DV-PROJECT-5"] == ("5 claimable places, each: what PROJ-DATAVIZ confers")
    assert described["BUNDLE-DV-STACK"].startswith("what PROJ-DATAVIZ and ASSESS-DV confer;")
    assert described["PREVIEW-DV"].endswith("; 2 h live")
    assert not [text for text in described.values() if "_" in text.split(";")[0]]


def test_the_learner_page_reads_in_hours_and_json_keeps_minutes(env, engine, settings):
    """Balances and the ledger in hours and minutes; an open-ended access window says so
    without "until"; --json keeps minutes."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    process_order(
        engine,
        make_order(760, [("MENTOR-PACK-3H", 1), ("PROJ-DATAVIZ", 1)]),
        catalogue=catalogue,
        settings=settings.replace(shop={"url": None}),
    )
    with unit_of_work(engine) as session:
        for row in session.exec(select(Access)).all():
            row.ends_at = None  # an access without an end (a lifetime offer)
            session.add(row)
        session.commit()
    text = bridge(env, "learner", "alice@example.com").output
    assert re.search(r"\n  mentor_minutes +4 h 30 min\n", text)  # 180 + 60 + 30
    assert re.search(r"\n  [\d-]+ [\d:]+ +\+3 h +mentor_minutes +grant", text)
    assert "until open-ended" not in text and re.search(r"PROJ-DATAVIZ +open-ended \(", text)
    data = json.loads(bridge(env, "learner", "alice@example.com", "--json").stdout)
    assert data["balances"] == {"mentor_minutes": 270}


def test_a_cohort_says_where_its_capacity_comes_from_once(env, engine):
    """`bridge cohort CODE`: the capacity sentence once, then what is free now."""
    store_cohorts(engine, sample_catalogue())
    lines = bridge(env, "cohort", "DV-2027-01").output.splitlines()
    assert sum("learners per mentor" in line for line in lines) <= 1
    assert "  now: 3 of 3 seats free" in lines


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_report_names_its_last_day_not_until_excluded(env):
    """The header gives the whole days it covers; mentor time in hours and minutes."""
    text = bridge(env, "report", "--since", "2026-10-01", "--until", "2026-11-01").output
    assert text.splitlines()[0] == (
        "Outcome report 2026-10-01 to 2026-10-31, whole days, time zone UTC"
    )
    assert "until excluded" not in text and "Mentor time by month" in text
    assert "Outstanding at the end of 2026-10-31: nothing" in text


def test_an_unmapped_line_of_no_product_does_not_say_product_0(engine, settings):
    """A line with no WooCommerce product (a simulated one) names its SKU only; one line is
    "1 paid order line"."""
    catalogue = sample_catalogue()
    order = make_order(770, [("NOPE-SKU", 1)])
    order["line_items"][0].update(product_id=0, variation_id=0)
    outcome = process_order(
        engine, order, catalogue=catalogue, settings=settings.replace(shop={"url": None})
    )
    assert str(describe_order(outcome)) == (
        "processed with warnings: order 770 sells no micro-SKU on line 77000 SKU NOPE-SKU; "
        "see `bridge catalog --check`"
    )
    [unmapped] = unmapped_skus(engine, catalogue)
    assert unmapped.problem().message.startswith(
        "SKU NOPE-SKU was sold on 1 paid order line in 1 order (770)"
    )
    check = _unmapped_check(settings.replace(catalogue={"file": example_catalogue_path()}), engine)
    assert check["detail"] == "1 paid order line selling no micro-SKU: NOPE-SKU (1)"
