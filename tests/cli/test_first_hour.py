"""A new user's first hour: consistent commands, readable output, an honest demo (issue 23)."""

from __future__ import annotations

import io
import json
import logging
import re

import click
import pytest
from click.testing import CliRunner, Result
from rich.console import Console
from sqlmodel import select

from bridge.cli import output
from bridge.cli.main import main
from bridge.cli.output import PlainProgress, plural, progress_display, table, truncate
from bridge.rules.inbound.signatures import sign
from bridge.rules.words import credit_text, singular_of
from bridge.rules.writeback.notes import NoteTemplates
from bridge.services.catalogue import read_catalogue_file, sync_catalogue
from bridge.services.operations import SampleShop, example_catalogue_path
from bridge.services.orders import catalogue_loader, process_order
from bridge.store.db import unit_of_work
from bridge.store.models import OutboxItem, utcnow
from sync.jobs import run_job
from tests.support.sample_shop import make_order, sample_catalogue, store_cohorts
from tests.support.sync import make_ports
from webhooks import create_app

# Commands that act and run, rather than show data: the service, the clock, the worker.
ACTION_ONLY = {
    ("init",),
    ("db", "upgrade"),
    ("serve",),
    ("scheduler",),
    ("work",),
    ("inbox", "work"),
}


def bridge(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["--env-file", "/dev/null", *args], env=env, terminal_width=100)


def _leaves(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
            if getattr(command, "invoke_without_command", False):
                yield (*path, name), command
        else:
            yield (*path, name), command


def test_plurals_agree_with_their_numbers():
    """One helper words every count: cohorts, competencies, portfolio reviews, tries."""
    assert [plural(n, "cohort") for n in (0, 1, 2)] == ["0 cohorts", "1 cohort", "2 cohorts"]
    assert plural(1, "competency") == "1 competency"
    assert plural(3, "competency") == "3 competencies"
    assert plural(2, "portfolio review") == "2 portfolio reviews"
    assert plural(2, "try", "tries") == "2 tries" == plural(2, "try")
    assert credit_text(1, "portfolio_reviews") == "1 portfolio review"
    assert credit_text(90, "mentor_minutes") == "1 h 30 min of mentor time"
    assert singular_of("competencies") == "competency"


def test_a_note_for_one_portfolio_review_says_review_not_reviews():
    """The order note of a single unit reads in the singular; a template may give its own."""
    templates = NoteTemplates(notes={}, labels={"portfolio_reviews": "portfolio reviews"})
    assert templates.credit_label("portfolio_reviews", 1) == "portfolio review"
    assert templates.credit_label("portfolio_reviews", 2) == "portfolio reviews"
    own = NoteTemplates(notes={}, labels={"portfolio_reviews_one": "Portfolio-Review"})
    assert own.credit_label("portfolio_reviews", 1) == "Portfolio-Review"


def test_truncation_marks_every_cut_with_an_ellipsis_and_prefers_a_word_boundary():
    """Errors never end mid-word without a mark; short text is left alone."""
    assert truncate("short", 10) == "short"
    cut = truncate("the shop answered 503 Service Unavailable after five retries", 30)
    assert cut == "the shop answered 503 Service…" and len(cut) <= 30
    assert truncate("x" * 50, 10) == "x" * 9 + "…"


def test_tables_fit_one_hundred_columns_and_align_long_ids():
    """Long targets and errors shrink with an ellipsis; every column starts at one place."""
    rows = [
        [
            f"#{n}",
            "dead",
            f"order:{n}{'9' * 30}:meta:bridge_enrolment",
            "HTTP 500 from the shop: " + "internal server error " * 5,
        ]
        for n in (7, 123456)
    ]
    lines = table(["id", "status", "target", "last error"], rows, right=[0], shrink=[2, 3])
    assert all(len(line) <= 100 for line in lines)
    assert lines[1].index("dead") == lines[2].index("dead")
    assert lines[1].endswith("…")


def test_plain_progress_says_a_long_step_once_and_stays_quiet_for_a_short_one():
    """Without a terminal: one line when a long step starts, none for a short one."""
    said: list[str] = []
    short = PlainProgress("orders", write=said.append, clock=lambda: 0.0)
    short.set_total(4)
    short.advance(4)
    short.finish()
    assert said == []
    long = PlainProgress("orders", write=said.append, clock=lambda: 0.0)
    long.set_total(300)
    for _ in range(300):
        long.advance()
    assert said == ["orders: 300 items to go"]


def test_on_a_terminal_log_lines_print_above_the_live_progress_not_inside_it(monkeypatch):
    """The Rich console owns the terminal: a warning during a sync is a whole line of its own."""
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(output, "console", lambda: terminal)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        root.handlers[:] = [output.log_handler()]
        root.setLevel(logging.INFO)
        with progress_display() as factory:
            bar = factory("orders")
            bar.set_total(3)
            bar.advance()
            logging.getLogger("bridge.shop.client").warning("the shop is slow: retrying")
            logging.getLogger("bridge.services.orders").debug("order applied")
            bar.advance(2)
            bar.finish()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    warning = [line for line in text.replace("\r", "\n").splitlines() if "slow" in line]
    assert warning and all("orders" not in line for line in warning)
    assert "order applied" not in text
    assert "3/3" in text


def test_an_applied_order_logs_at_debug_only(engine, settings, caplog):
    """A sync of 300 orders does not print 300 INFO lines: per-order lines are DEBUG."""
    catalogue = sample_catalogue()
    store_cohorts(engine, catalogue)
    with caplog.at_level(logging.INFO):
        process_order(
            engine,
            make_order(700, [("MENTOR-1H", 1)]),
            catalogue=catalogue,
            settings=settings.replace(shop={"url": None}),
        )
    assert not [r for r in caplog.records if "order applied" in r.getMessage()]


def test_every_command_that_shows_data_takes_json():
    """README promises --json wherever a command shows data; only pure actions lack it."""
    missing = [
        " ".join(path)
        for path, command in _leaves(main)
        if path not in ACTION_ONLY
        and not any(getattr(p, "name", "") == "as_json" for p in command.params)
    ]
    assert missing == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_and_catalog_export_take_json(env):
    """`report --json` and `catalog export --json` print JSON, like --format json."""
    assert bridge(env, "catalog", "apply").exit_code == 0
    report = bridge(env, "report", "--json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output) == json.loads(
        bridge(env, "report", "--format", "json").output
    ) | {"generated_at": json.loads(report.output)["generated_at"]}
    export = bridge(env, "catalog", "export", "--json")
    assert export.exit_code == 0, export.output
    assert "competencies" in json.loads(export.output)


def test_retry_takes_all_on_both_queues_and_keeps_the_old_spelling_hidden():
    """inbox retry --all and outbox retry --all; --all-dead still works but is not offered."""
    runner = CliRunner()
    for queue in ("inbox", "outbox"):
        page = runner.invoke(main, [queue, "retry", "--help"]).output
        assert "--all " in page or "--all\n" in page
        assert "--all-dead" not in page


def test_credits_help_describes_all_four_subcommands():
    """`bridge credits --help` speaks of granting, revoking, redeeming and refunding."""
    page = CliRunner().invoke(main, ["credits", "--help"]).output
    first = page.split("Commands:")[0].lower()
    assert all(word in first for word in ("grant", "revoke", "redeem", "refund"))
    assert {"grant", "revoke", "redeem", "refund"} <= set(main.commands["credits"].commands)


def test_a_missing_env_file_named_on_the_command_line_is_a_usage_error(workdir):
    """A typo in --env-file must not quietly mean the defaults."""
    result = CliRunner().invoke(main, ["--env-file", "nosuch.env", "config"])
    assert result.exit_code == 2
    assert "nosuch.env not found" in result.output
    assert CliRunner().invoke(main, ["config"]).exit_code == 0  # a missing ./.env is fine


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--quantity", "0"), "--quantity"),
        (("--quantity", "-2"), "--quantity"),
        (("--status", "bogus"), "--status"),
        (("--email", "not-an-email"), "not an e-mail"),
        (("--price", "-1"), "--price"),
    ],
)
def test_simulate_refuses_input_a_shop_would_never_send(env, args, says):
    """Quantities below 1, unknown statuses, bad e-mails and negative prices are usage errors."""
    base = {"--email": "ann@example.com"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    flat = [item for pair in ({**base, **given}).items() for item in pair]
    result = bridge(
        env,
        "simulate",
        "order",
        "--sku",
        "MENTOR-1H",
        *flat,
        "--url",
        "http://127.0.0.1:9/webhooks/woocommerce",
    )
    assert result.exit_code == 2, result.output
    assert says in result.output


def _deliver(engine, settings, payload, delivery_id="d1"):
    app = create_app(settings, engine, background=False)
    body = json.dumps(payload).encode()
    response = app.test_client().post(
        "/webhooks/woocommerce",
        data=body,
        buffered=True,
        headers={
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": delivery_id,
            "X-WC-Webhook-Signature": sign(body, "whsec-wcreal-test"),
        },
    )
    assert response.status_code == 200


def test_inbox_show_prints_headers_and_body_as_json(env, engine, settings):
    """No Python None or dict reprs: structures are JSON, nothing is a dash."""
    store_cohorts(engine, sample_catalogue())
    _deliver(
        engine,
        settings.replace(
            shop={"url": None},
            catalogue={"file": example_catalogue_path()},
        ),
        make_order(720, [("MENTOR-1H", 1)]),
    )
    shown = bridge(env, "inbox", "show", "1", "--body")
    assert shown.exit_code == 0, shown.output
    assert "None" not in shown.output and "{'" not in shown.output
    assert re.search(r'"X-Wc-Webhook-Topic": "order.created"', shown.output, re.I)
    assert '"id": 720' in shown.output


def test_the_outbox_list_fits_shows_sent_rows_as_sent_and_dead_rows_as_dead(env, engine, settings):
    """Long keys align, sent rows say when, not "tries 0", dead rows say dead, not "due now",
    and a long last error is shown whole, wrapped under its row (issue 35)."""
    store_cohorts(engine, sample_catalogue())
    process_order(
        engine,
        make_order(730, [("MENTOR-PACK-3H", 1)]),
        catalogue=sample_catalogue(),
        settings=settings.replace(shop={"url": None}),
    )
    with unit_of_work(engine) as session:
        rows = session.exec(select(OutboxItem).order_by(OutboxItem.id)).all()
        rows[0].status, rows[0].attempts, rows[0].sent_at = "sent", 1, utcnow()
        rows[1].status, rows[1].attempts = "dead", 8
        rows[1].last_error = "HTTP 500 from the shop: " + "the database went away " * 6
        session.add_all(rows[:2])
        session.commit()
    listed = bridge(env, "outbox", "--status", "all")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert all(len(line) <= 100 for line in lines), lines
    sent = next(line for line in lines if " sent " in line)
    assert "tries" not in sent and re.search(r"sent \d{4}-\d\d-\d\d", sent)
    dead = next(line for line in lines if " dead " in line)
    assert dead.endswith("dead after 8 tries") and "due now" not in dead
    error = lines[lines.index(dead) + 1 : lines.index(dead) + 3]
    assert " ".join(part.strip() for part in error) == (
        "last error: HTTP 500 from the shop: " + " ".join(["the database went away"] * 6)
    )
    body = [line for line in lines[2:] if line.lstrip().startswith("#")]
    assert len({line.index(" ", line.index("#")) for line in body}) == 1


def test_an_incremental_catalogue_sync_of_an_unchanged_shop_changes_nothing(engine, settings):
    """Re-reading the same products (the overlap window) reports changed 0, every run."""
    file_catalogue = read_catalogue_file(example_catalogue_path())
    first = sync_catalogue(engine, SampleShop(), file_catalogue)
    assert first.changed == first.products + first.variations > 0
    again = sync_catalogue(engine, SampleShop(), file_catalogue, modified_after=utcnow())
    assert again.changed == 0 and again.products == first.products
    ports = make_ports(engine, settings, file_catalogue, shop=SampleShop)
    run_job("catalog", ports)
    job = run_job("catalog", ports)
    assert job.status == "ok", job.reason
    assert job.tally.changed == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_empty_catalogue_file_fails_doctor(env, workdir):
    """A catalog.toml that defines no offers is a failed check with its fix."""
    (workdir / "catalog.toml").write_text("version = 1\n")
    assert bridge(dict(env, BRIDGE_CATALOG_FILE="catalog.toml"), "db", "upgrade").exit_code == 0
    result = bridge(dict(env, BRIDGE_CATALOG_FILE="catalog.toml"), "doctor", "--json")
    assert result.exit_code == 1
    [check] = [c for c in json.loads(result.output) if c["check"] == "catalogue"]
    assert check["ok"] is False and "defines no offers" in check["detail"]


def test_learner_shows_the_coupons_offered_and_a_ledger_that_says_where_rows_came_from(
    env, engine, settings
):
    """Coupons appear in `bridge learner`; the complimentary call is not "complimentary" twice."""
    file_catalogue = read_catalogue_file(example_catalogue_path())
    sync_catalogue(engine, SampleShop(), file_catalogue)
    settings = settings.replace(catalogue={"file": example_catalogue_path()})
    catalogue = catalogue_loader(engine, settings)()
    process_order(
        engine,
        make_order(740, [("MENTOR-PACK-3H", 1)]),
        catalogue=catalogue,
        settings=settings.replace(shop={"url": None}),
    )
    result = bridge(env, "learner", "alice@example.com")
    assert result.exit_code == 0, result.output
    assert "coupons offered:" in result.output
    assert re.search(r"subscribe-after-first-offer-\w+ +20% off SUB-MENTOR-MONTHLY", result.output)
    assert "complimentary complimentary" not in result.output
    assert "the first mentor call, on the house" in result.output
    data = json.loads(bridge(env, "learner", "alice@example.com", "--json").output)
    assert data["coupons"][0]["offers"] == ["SUB-MENTOR-MONTHLY"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_demo_narrates_each_grant_and_shows_every_promised_effect(env):
    """Each step says what it granted; Frank holds his subscription and perks; coupons appear."""
    result = bridge(env, "demo")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "-> received" not in text
    assert "alice: +3 h of mentor time (Mentor hour pack, 3 hours)" in text
    assert "dan: moves up into a seat in DV-2027-01" in text
    assert "frank: subscription #500 active, perks: priority job intros" in text
    assert re.search(r"coupon subscribe-after-first-offer-\w+: 20% off SUB-MENTOR-MONTHLY", text)
    assert "1 portfolio reviews" not in text
    assert all(len(line) <= 100 for line in text.splitlines())
    summary = json.loads(bridge(env, "demo", "--json").output)
    frank = summary["learners"]["frank@example.com"]
    assert [(s["status"], s["perks"]) for s in frank["subscriptions"]] == [
        ("active", ["priority job intros"])
    ]
    assert any(w["resource"] == "coupon" for w in summary["writebacks"])
    assert summary["steps"][1]["changes"][0] == {
        "learner": "alice@example.com",
        "kind": "credit",
        "credit_type": "mentor_minutes",
        "amount": 180,
        "reason": "grant",
        "offer": "Mentor hour pack, 3 hours",
        "order_id": 102,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_docs_page_is_served_with_its_assets_from_the_package(settings):
    """/api/v1/docs/ is Swagger UI over the OpenAPI document, with nothing from another host."""
    client = create_app(settings.replace(shop={"url": None}), background=False).test_client()
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/docs/swagger-ui-bundle.js" in html and "/api/v1/openapi.json" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    with client.get("/api/v1/docs/swagger-ui-bundle.js") as script:
        assert script.status_code == 200 and len(script.data) > 100_000
