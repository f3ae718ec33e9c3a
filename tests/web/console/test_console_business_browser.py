"""The creator's business view in Debian's Chromium at 390 and 1280 pixels (issue 33): the home
page's money equals `bridge report --json` for the month, an audit row appears for a grant made
in the console and for one made with the CLI and the audit CSV has a header and every row, a
dead write-back sends one e-mail and one chat message and its resolution one "cleared" each.
axe-core finds nothing serious on these pages; nothing is wider than the screen."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.services.alerts import check_alerts
from bridge.store.db import make_engine
from tests.support.alerts import chat_receiver, smtp_server
from tests.support.axe import describe, new_axe_context, violations
from tests.support.browser import copy_sqlite, serve
from tests.support.console import ADMIN, ConsoleShop, log_in_page, seed_console_shop
from tests.support.paths import ROOT
from webhooks import create_app

pytestmark = pytest.mark.browser
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WIDTHS = [390, 1280]
DOCS = ROOT / "docs"


@pytest.fixture
def channels() -> Iterator[tuple[int, Any, str, list[dict[str, Any]]]]:
    with smtp_server() as (port, inbox), chat_receiver() as (url, chat):
        yield port, inbox, url, chat


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path, channels: Any) -> Iterator[tuple[str, ConsoleShop]]:
    """The seeded console shop (one dead write-back) served for real, its clock on 28 November
    2026, alerts going to a real SMTP server and chat receiver on loopback."""
    port, _, url, _ = channels
    database_url = copy_sqlite(sqlite_template, tmp_path)
    engine = make_engine(database_url)
    shop = seed_console_shop(engine, database_url, tmp_path)
    shop.settings = shop.settings.replace(
        alerts={
            "email_to": ("dana@example.com",),
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "chat_webhook_url": url,
        }
    )
    app = create_app(shop.settings, engine, handlers={}, background=False, clock=lambda: NOW)
    with serve(app) as base:
        yield base, shop
    engine.dispose()


def open_page(browser: Any, width: int) -> Any:
    context = new_axe_context(
        browser, viewport={"width": width, "height": 900}, is_mobile=width < 600
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def fits_and_passes_axe(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    found = violations(page)
    assert found == [], describe(found)


def bridge(shop: ConsoleShop, *args: str, **env: str) -> Any:
    return CliRunner().invoke(
        main,
        ["--env-file", "/dev/null", *args],
        env={"DATABASE_URL": shop.settings.database.url, **env},
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_home_page_money_equals_the_report_for_the_month(
    browser: Any, site: Any, width: int, tmp_path: Path
) -> None:
    base, shop = site
    page = open_page(browser, width)
    try:
        log_in_page(page, base, home=True)
        report = bridge(shop, "report", "--since", "2026-11-01", "--until", "2026-11-29", "--json")
        totals = json.loads(report.output)["revenue_totals"]
        assert totals
        card = page.locator("[data-figure=revenue_this_month]")
        shown = card.locator("p").all_inner_texts()
        assert shown == [f"{row['net']} {row['currency']}" for row in totals]
        chart = page.get_by_role("img", name="Net revenue by month")
        assert chart.is_visible()
        assert "Nov 2026:" in page.locator("svg desc").first.text_content()
        assert page.get_by_role("link", name="DV-2027-01").first.is_visible()
        fits_and_passes_axe(page, width)
        page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
        if os.environ.get("BRIDGE_UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / f"console-money-{width}.png"), full_page=True)
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_console_and_cli_grants_appear_on_the_audit_page_and_in_its_csv(
    browser: Any, site: Any, width: int, tmp_path: Path
) -> None:
    base, shop = site
    page = open_page(browser, width)
    try:
        log_in_page(page, base, home=True)
        page.goto(f"{base}/console/learners/{shop.learner_id('Ann')}")
        page.get_by_label("Amount").fill("45")
        page.get_by_label("Reason (kept on the ledger row)").fill("late start")
        page.get_by_role("button", name="Review…").click()
        page.get_by_role("button", name="Confirm grant").click()
        assert "granted 45" in page.get_by_role("status").inner_text()
        granted = bridge(
            shop,
            "credits",
            "grant",
            "ben@example.com",
            "--type",
            "mentor_minutes",
            "--amount",
            "30",
            "--reason",
            "raffle",
            BRIDGE_OPERATOR="dana",
            BRIDGE_CATALOG_FILE=str(shop.settings.catalogue.file),
        )
        assert granted.exit_code == 0, granted.output
        page.get_by_role("link", name="Audit").click()
        table = page.locator("table.cards tbody").inner_text()
        assert "late start" in table and ADMIN in table and "console" in table
        assert "raffle" in table and "dana" in table and "cli" in table
        page.get_by_label("Through").select_option("cli")
        page.get_by_role("button", name="Show").click()
        assert "raffle" in page.locator("table.cards tbody").inner_text()
        assert "late start" not in page.locator("table.cards tbody").inner_text()
        fits_and_passes_axe(page, width)
        page.goto(f"{base}/console/audit")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        path = download.value.path()
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["id", "at", "operator", "via", "action", "subject", "reason", "details"]
        assert sorted(row[6] for row in rows[1:]) == ["late start", "raffle"]
        if os.environ.get("BRIDGE_UPDATE_SCREENSHOTS") == "1":
            page.screenshot(path=str(DOCS / f"console-audit-{width}.png"), full_page=True)
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_dead_write_back_alerts_once_and_clears_once(
    browser: Any, site: Any, channels: Any, width: int
) -> None:
    base, shop = site
    _, inbox, _, chat = channels
    page = open_page(browser, width)
    try:
        log_in_page(page, base, home=True)
        check_alerts(shop.engine, shop.settings, NOW)
        check_alerts(shop.engine, shop.settings, NOW + timedelta(minutes=5))
        dead = [m for m in inbox.messages if "write-back" in m["Subject"]]
        assert len(dead) == 1 and len([c for c in chat if "write-back" in c["text"]]) == 1
        page.get_by_role("link", name="Alerts").click()
        assert "1 write-back to WooCommerce is dead" in page.locator("main").inner_text()
        fits_and_passes_axe(page, width)
        page.goto(f"{base}/console/outbox/{shop.dead_outbox_id}")
        page.get_by_role("button", name="Retry this write-back").click()
        check_alerts(shop.engine, shop.settings, NOW + timedelta(minutes=10))
        check_alerts(shop.engine, shop.settings, NOW + timedelta(minutes=15))
        cleared = [m for m in inbox.messages if m["Subject"].startswith("[creator-bridge] cleared")]
        assert len(cleared) == 1
        assert len([c for c in chat if "cleared" in c["text"]]) == 1
        # Exactly two messages about the write-back on each channel: opened, cleared (the
        # seeded cohort being full is an incident of its own, told once too).
        assert len([m for m in inbox.messages if "write-back" in m["Subject"]]) == 2
        assert len([c for c in chat if "write-back" in c["text"]]) == 2
        assert len([m for m in inbox.messages if "cohort DV-2027-01" in m["Subject"]]) == 1
        page.goto(f"{base}/console/alerts")
        page.get_by_role("button", name="Send a test alert").click()
        assert "email: test alert sent" in page.locator("main").inner_text()
        assert inbox.messages[-1]["Subject"] == "[creator-bridge] test alert"
        if os.environ.get("BRIDGE_UPDATE_SCREENSHOTS") == "1":
            page.screenshot(path=str(DOCS / f"console-alerts-{width}.png"), full_page=True)
    finally:
        page.context.close()
