"""Steering a cohort from its console page in Debian's Chromium (Playwright, SQLite): promote,
remove and move each go through a review and a confirmation, write their seat rows, their
note and their audit row; a catalogue applied while the server runs shows without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bridge.services.catalogue import apply_catalogue
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, OutboxItem
from tests.support.cohorts import APRIL, seats_by_email
from tests.support.console import ADMIN, ConsoleShop, log_in_page

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1000, "height": 900}


def _confirm(page: Any, button: str, action: str) -> None:
    page.get_by_role("button", name=button).click()
    page.get_by_role("heading", name=f"Confirm: {action}").wait_for()
    page.get_by_role("button", name=f"Confirm {action.split()[0]}").click()


def _notes(shop: ConsoleShop) -> list[str]:
    with unit_of_work(shop.engine) as session:
        rows = session.exec(
            select(OutboxItem)
            .where(OutboxItem.resource == "order_note")
            .order_by(col(OutboxItem.id))
        ).all()
    return [str(row.payload["data"]["note"]) for row in rows]


def test_promote_remove_and_move_from_the_cohort_page(page: Any, site: Any) -> None:
    """eve is promoted out of turn, fay taken off the waitlist, and once April's cohort is
    applied (server running), ann moves there; each with its note and audit row."""
    base, shop = site
    log_in_page(page, base)
    page.goto(f"{base}/console/cohorts/DV-2027-01")
    assert page.get_by_role("button", name="Move ann@example.com").count() == 0  # one cohort

    _confirm(page, "Promote eve@example.com", "promote eve@example.com")
    page.get_by_text("eve@example.com was promoted out of turn in DV-2027-01").wait_for()
    assert page.get_by_text("over capacity by 1").first.is_visible()
    assert "eve@example.com" in seats_by_email(shop.engine, "DV-2027-01")["active"]

    _confirm(page, "Remove fay@example.com", "remove fay@example.com")
    page.get_by_text("fay@example.com was taken off the waitlist of DV-2027-01").wait_for()
    assert seats_by_email(shop.engine, "DV-2027-01")["removed"] == ["fay@example.com"]

    path = Path(shop.settings.catalogue.file)
    path.write_text(path.read_text(encoding="utf-8") + APRIL, encoding="utf-8")
    applied = apply_catalogue(shop.engine, path, shop.settings, operator="ops@example.com")
    assert [c.name for c in applied.changes if c.change == "added"] == [
        "DV-2027-04",
        "COHORT-DV-2027-04",
    ]
    page.reload()
    page.get_by_label("Cohort to move ann@example.com to").select_option("DV-2027-04")
    _confirm(page, "Move ann@example.com", "move ann@example.com")
    page.get_by_text("ann@example.com was moved from DV-2027-01 to DV-2027-04: a seat").wait_for()
    assert seats_by_email(shop.engine, "DV-2027-04")["active"] == ["ann@example.com"]

    notes = _notes(shop)
    assert sum("freed up and is now yours" in n for n in notes) == 1
    assert sum("no longer on the waitlist" in n for n in notes) == 1
    assert sum("moved to Data-viz cohort, April 2027" in n for n in notes) == 1
    with unit_of_work(shop.engine) as session:
        audit = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).like("cohort.%"))
            .order_by(col(AuditEvent.id))
        ).all()
    assert [(a.action, a.operator, a.via) for a in audit] == [
        ("cohort.promote", ADMIN, "console"),
        ("cohort.remove", ADMIN, "console"),
        ("cohort.move", ADMIN, "console"),
    ]
