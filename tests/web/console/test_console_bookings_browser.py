"""Reviewing held bookings and making a booking link in Debian's Chromium (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.services.operations import add_operator
from bridge.settings import Settings
from bridge.store.db import make_engine
from tests.support.bookings import LENA, booking_app, calcom_variant, post_calcom, raw
from tests.support.browser import copy_sqlite, serve
from tests.support.console import (
    ADMIN,
    PASSWORD,
    SECRET_KEY,
    log_in_page,
    write_catalogue,
)
from tests.support.redemptions import balance_of, fund

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Engine]]:
    """Lena with 300 minutes and two bookings that only typed her e-mail, served for real."""
    database_url = copy_sqlite(sqlite_template, tmp_path)
    engine = make_engine(database_url)
    fund(engine, LENA, customer_id=3187)
    add_operator(engine, ADMIN, PASSWORD, "admin")
    app = booking_app(
        engine,
        Settings().replace(
            database={"url": database_url},
            console={"secret_key": SECRET_KEY},
            catalogue={"file": write_catalogue(tmp_path)},
        ),
    )
    hook = app.test_client()
    post_calcom(hook, raw("calcom_booking_created"))
    post_calcom(hook, calcom_variant("calcom_booking_created", uid="second", length=30))
    with serve(app) as base:
        yield base, engine
    engine.dispose()


def test_an_admin_approves_one_held_booking_and_rejects_the_other(page: Any, site: Any) -> None:
    """Bookings in the navigation, filtered to held ones: Approve debits 60 once, Reject with
    a reason debits nothing; both leave the held list."""
    base, engine = site
    log_in_page(page, base)
    page.get_by_role("link", name="Bookings").click()
    page.locator("select#status").select_option("held_for_review")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_text("2 held for review").is_visible()
    # Each answer is a redirect to a new page: wait for it, not for the last page's message.
    with page.expect_navigation():
        page.get_by_role("button", name="Approve #1").click()
    assert page.get_by_role("status").inner_text() == (
        "booking #1 approved: 60 mentor_minutes debited; balance now 240"
    )
    page.get_by_label("Why reject #2").fill("Lena did not book this")
    with page.expect_navigation():
        page.get_by_role("button", name="Reject #2").click()
    assert page.get_by_role("status").inner_text() == "booking #2 rejected; nothing was debited"
    assert page.get_by_text("No bookings with status held_for_review").is_visible()
    assert balance_of(engine, LENA) == 240


def test_an_admin_makes_a_learners_booking_link_on_their_page(page: Any, site: Any) -> None:
    """From a held booking to the learner's page: Make a booking link shows both parameters."""
    base, _ = site
    log_in_page(page, base)
    page.goto(f"{base}/console/bookings")
    page.get_by_role("link", name=LENA).first.click()
    with page.expect_navigation():
        page.get_by_role("button", name="Make a booking link").click()
    assert page.get_by_role("status").inner_text() == "booking link made"
    assert page.get_by_text("?metadata[booking_token]=bk-").is_visible()
    assert page.get_by_text("?utm_content=bk-").is_visible()
