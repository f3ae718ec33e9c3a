"""Steering a cohort from the console through the Flask test client, on both databases: a
confirmation submitted twice (a double click, a reload) is recognised as done, as for manual
credits (the browser test drives the same pages in Chromium)."""

from __future__ import annotations

import re

import pytest
from sqlmodel import col, select

from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, OutboxItem
from tests.support.cohorts import seats_by_email
from tests.support.console import ConsoleShop, csrf_of, log_in
from webhooks import create_app

pytestmark = pytest.mark.both_databases

COHORT = "/console/cohorts/DV-2027-01"


@pytest.fixture
def client(shop: ConsoleShop):  # type: ignore[no-untyped-def]
    app = create_app(shop.settings, shop.engine, handlers={}, background=False)
    return app.test_client()


def _review(client, learner: str, action: str = "promote") -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = client.get(COHORT).get_data(as_text=True)
    review = client.post(
        f"{COHORT}/steer",
        data={"csrf_token": csrf_of(page), "action": action, "learner": learner, "reason": "vip"},
    )
    html = review.get_data(as_text=True)
    assert review.status_code == 200 and f"Confirm {action}" in html
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def test_a_steering_confirmed_twice_is_done_once_and_the_second_says_so(client, shop) -> None:
    """eve is promoted once: one seat, one note, one audit row; the repeat flashes 'already'."""
    log_in(client)
    fields = _review(client, "eve@example.com")
    assert fields["reference"]
    for _ in range(2):
        done = client.post(f"{COHORT}/steer/confirm", data=fields)
        assert done.status_code == 302 and done.headers["Location"].endswith(COHORT)
    page = client.get(COHORT).get_data(as_text=True)
    assert "already applied" in page
    assert seats_by_email(shop.engine, "DV-2027-01")["active"].count("eve@example.com") == 1
    with unit_of_work(shop.engine) as session:
        audit = session.exec(
            select(AuditEvent).where(col(AuditEvent.action).like("cohort.%"))
        ).all()
        notes = [
            str(row.payload["data"]["note"])
            for row in session.exec(
                select(OutboxItem).where(OutboxItem.resource == "order_note")
            ).all()
        ]
    assert [a.action for a in audit] == ["cohort.promote"]
    assert audit[0].details["reference"] == f"console:{fields['reference']}"
    assert sum("freed up and is now yours" in n for n in notes) == 1

    # A fresh review of a different action still works after that.
    again = _review(client, "fay@example.com", "remove")
    assert client.post(f"{COHORT}/steer/confirm", data=again).status_code == 302
    assert seats_by_email(shop.engine, "DV-2027-01")["removed"] == ["fay@example.com"]


def test_a_confirmation_without_its_reference_is_refused_and_changes_nothing(client, shop) -> None:
    """A confirmation not made by a review (no reference) is a 400; eve still waits."""
    log_in(client)
    fields = _review(client, "eve@example.com")
    del fields["reference"]
    refused = client.post(f"{COHORT}/steer/confirm", data=fields)
    assert refused.status_code == 400 and b"reference" in refused.data
    assert "eve@example.com" in seats_by_email(shop.engine, "DV-2027-01")["waitlisted"]
