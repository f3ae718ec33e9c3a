"""The console and the public pages in Debian's Chromium, through Playwright (SQLite).

Each test logs in (or not) through the real forms of a real server and saves a screenshot
under its tmp dir. BRIDGE_UPDATE_SCREENSHOTS=1 also refreshes docs/console.png for README.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bridge.services.operations.login_throttle import ADDRESS_LIMIT
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, OutboxItem
from tests.support.console import (
    ADMIN,
    PASSWORD,
    log_in_page,
)
from tests.support.paths import ROOT

pytestmark = pytest.mark.browser
DOCS = ROOT / "docs"


def test_an_operator_logs_in_and_sees_health_at_a_glance(page: Any, site: Any) -> None:
    """The login form leads to the home page, whose problems name their fixes."""
    base, _ = site
    log_in_page(page, base)
    page.wait_for_url(f"{base}/console/")
    assert page.get_by_role("heading", name="Health at a glance").is_visible()
    assert page.get_by_text("1 write-back to WooCommerce dead-lettered").is_visible()
    assert page.get_by_text(f"{ADMIN} (admin)").is_visible()
    if os.environ.get("BRIDGE_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "console.png"))


def test_the_login_form_is_labelled_and_tabs_in_reading_order(page: Any, site: Any) -> None:
    """Tab goes from the skip link to the brand, the e-mail, the password, then the button."""
    base, _ = site
    page.goto(f"{base}/console/login")
    page.get_by_role("link", name="Skip to content").focus()
    focused = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        )
    assert focused == ["creator-bridge", "email", "password", "Log in"]
    assert page.get_by_label("E-mail").get_attribute("autocomplete") == "username"


def test_an_operator_searches_a_learner_and_grants_credits_after_confirming(
    page: Any, site: Any, tmp_path: Path
) -> None:
    """Search by name, open the learner, review the grant, confirm it: one ledger row."""
    base, shop = site
    log_in_page(page, base)
    page.get_by_role("link", name="Learners").click()
    page.get_by_label("E-mail, name or customer id").fill("Archer")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="ann@example.com").click()
    assert page.get_by_role("heading", name="Ann Archer").is_visible()
    page.get_by_label("Amount").fill("45")
    page.get_by_label("Reason (kept on the ledger row)").fill("goodwill after a late start")
    page.get_by_role("button", name="Review…").click()
    assert page.get_by_role("heading", name="Confirm: grant 45 mentor_minutes").is_visible()
    with unit_of_work(shop.engine) as session:
        assert session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all() == []
    page.get_by_role("button", name="Confirm grant").click()
    assert page.get_by_role("status").inner_text() == "granted 45 mentor_minutes; balance now 135"
    with unit_of_work(shop.engine) as session:
        rows = session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all()
    assert [row.amount for row in rows] == [45]


def test_an_operator_retries_a_dead_write_back(page: Any, site: Any) -> None:
    """The outbox filtered to dead rows shows the error; retrying makes the row pending."""
    base, shop = site
    log_in_page(page, base)
    page.goto(f"{base}/console/outbox")
    page.locator("select#status").select_option("dead")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_text("woocommerce_rest_cannot_edit").first.is_visible()
    page.get_by_role("link", name=str(shop.dead_outbox_id), exact=True).click()
    page.get_by_role("button", name="Retry this write-back").click()
    assert "queued again" in page.get_by_role("status").inner_text()
    with unit_of_work(shop.engine) as session:
        row = session.get(OutboxItem, shop.dead_outbox_id)
        assert row is not None and (row.status, row.attempts) == ("pending", 0)


def test_an_operator_reads_a_cohorts_waitlist_in_order_on_a_phone(
    browser: Any, site: Any, tmp_path: Path
) -> None:
    """On a 390-pixel screen the cohort page fits its width and lists the waitlist in order."""
    base, _ = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        log_in_page(phone, base)
        phone.goto(f"{base}/console/cohorts")
        phone.get_by_role("link", name="DV-2027-01").click()
        waitlist = phone.locator("section[aria-labelledby=waitlist] li a")
        assert waitlist.all_inner_texts() == [
            "dan@example.com",
            "eve@example.com",
            "fay@example.com",
        ]
        assert phone.get_by_text("1 mentor x 3 learners per mentor = 3 seats").first.is_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        phone.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
    finally:
        context.close()


def test_anyone_sees_the_public_outcomes_without_logging_in(page: Any, site: Any) -> None:
    """The public page shows floored figures and names no learner."""
    base, _ = site
    page.goto(f"{base}/outcomes")
    assert page.get_by_role("heading", name="Outcomes", exact=True).is_visible()
    text = page.locator("main").inner_text()
    assert "not enough data" in text and "83%" in text
    assert "@example.com" not in text and "Archer" not in text
    page.get_by_role("link", name="Data-viz cohort, January 2027").click()
    assert page.get_by_text("full: every seat is taken").is_visible()


def test_anonymous_visits_are_sent_to_the_login_and_show_no_data(page: Any, site: Any) -> None:
    """A learner's page asked for without a session shows the login form and nothing else."""
    base, shop = site
    page.goto(f"{base}/console/learners/{shop.learner_id('Ann')}")
    assert page.url.startswith(f"{base}/console/login?next=")
    assert "ann@example.com" not in page.content()
    page.get_by_label("E-mail").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("heading", name="Ann Archer").is_visible()  # back where it was


def test_a_form_with_a_wrong_csrf_token_is_refused(page: Any, site: Any) -> None:
    """Tampering with the token of a grant form answers 400 and grants nothing."""
    base, shop = site
    log_in_page(page, base)
    page.goto(f"{base}/console/learners/{shop.learner_id('Ben')}")
    grant_form = page.locator("form[action$='/adjust']")
    grant_form.locator("input[name=csrf_token]").evaluate("el => el.value = 'forged'")
    page.get_by_label("Amount").fill("500")
    page.get_by_label("Reason (kept on the ledger row)").fill("forged")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Review…").click()
    assert answer.value.status == 400
    assert page.get_by_role("alert").inner_text().startswith("the form's security token")


def test_repeated_wrong_passwords_are_answered_429(page: Any, site: Any) -> None:
    """After the limit of wrong passwords from one address, the login answers 429."""
    base, _ = site
    statuses = []
    for _ in range(ADDRESS_LIMIT + 1):
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            log_in_page(page, base, password="not the password at all")
        statuses.append(answer.value.status)
    assert statuses == [401] * (ADDRESS_LIMIT - 1) + [429, 429]
    assert "too many wrong passwords" in page.locator("main").inner_text()
