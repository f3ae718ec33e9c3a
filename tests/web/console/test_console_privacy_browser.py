"""A learner's erasure driven in Debian's Chromium (Playwright, SQLite): from the learner's page
to the review, the typed confirmation, and back to a page that names only the pseudonym; the
review page passes axe-core's serious and critical checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.services.ledger import find_learner
from bridge.store.db import unit_of_work
from tests.support.axe import describe, new_axe_context, violations
from tests.support.console import buyer_email, log_in_page

pytestmark = pytest.mark.browser


def test_an_admin_reviews_and_erases_a_learner(browser: Any, site: Any, tmp_path: Path) -> None:
    base, shop = site
    ann = shop.learner_id("Ann")
    context = new_axe_context(browser, viewport={"width": 1000, "height": 760})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in_page(page, base, home=True)
        page.goto(f"{base}/console/learners/{ann}")
        page.get_by_role("button", name="Erase…").click()
        page.wait_for_url(f"{base}/console/learners/{ann}/erase*")
        assert page.get_by_role("heading", name=f"Erase learner {ann}?").is_visible()
        assert page.get_by_text("retained as financial records").is_visible()
        found = violations(page)
        assert found == [], describe(found)
        page.screenshot(path=str(tmp_path / "erase-review.png"), full_page=True)
        page.get_by_label("Type “erase” to confirm").fill("erase")
        page.get_by_label("Reason (for the audit trail; no personal data)").fill("ticket 12")
        page.get_by_role("button", name="Erase for good").click()
        page.wait_for_url(f"{base}/console/learners/{ann}")
        assert page.get_by_text(f"learner {ann} erased: now erased-{ann}").is_visible()
        assert buyer_email("Ann") not in page.content()
    finally:
        context.close()
    with unit_of_work(shop.engine) as session:
        assert find_learner(session, buyer_email("Ann")) is None
