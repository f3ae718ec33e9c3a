"""The learner's page in Debian's Chromium on a phone (390 px) and a desktop (1280 px), with
axe-core injected: nothing serious or critical, nothing wider than the screen.

BRIDGE_UPDATE_SCREENSHOTS=1 also refreshes docs/learner-page.png for README.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.axe import describe, new_axe_context, violations
from tests.support.paths import ROOT

pytestmark = pytest.mark.browser
SCREENSHOT = ROOT / "docs" / "learner-page.png"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["phone-390", "desktop-1280"])
def test_the_page_reads_well_and_axe_finds_nothing_serious(
    browser: Any, site: Any, tmp_path: Path, device: dict[str, Any]
) -> None:
    """Mentor time, the waitlist place and the credential are visible; nothing scrolls
    sideways; axe-core reports no serious or critical violation."""
    base, token = site
    context = new_axe_context(browser, **device)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        answer = page.goto(f"{base}/me/{token}")
        assert answer is not None and answer.status == 200
        assert page.get_by_role("heading", name="Mentor time").is_visible()
        assert page.get_by_text("5 hours, 30 minutes").is_visible()
        assert page.get_by_text("waitlist: 2nd in line").is_visible()
        assert page.get_by_role("link", name="Add to LinkedIn profile").is_visible()
        page.get_by_text("6 sessions").click()  # the <details> opens with a tap or a click
        assert page.get_by_text("Tuesday, 16 February 2027, 17:00 (Europe/Berlin)").is_visible()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than the screen"
        found = violations(page)
        assert found == [], describe(found)
        shot = tmp_path / "learner-page.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("BRIDGE_UPDATE_SCREENSHOTS") == "1" and device is PHONE:
            SCREENSHOT.write_bytes(shot.read_bytes())
    finally:
        context.close()


def test_a_wrong_link_is_a_plain_page_that_axe_passes_too(browser: Any, site: Any) -> None:
    """The 404 page says nothing of any learner and is accessible as well."""
    base, _ = site
    context = new_axe_context(browser, **PHONE)
    page = context.new_page()
    try:
        answer = page.goto(f"{base}/me/me-{'a' * 26}")
        assert answer is not None and answer.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
        found = violations(page)
        assert found == [], describe(found)
    finally:
        context.close()
