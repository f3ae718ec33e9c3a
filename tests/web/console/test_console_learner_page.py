"""The learner's personal page link on the console: when it was last opened, re-sent as a
customer note on the learner's latest order through the outbox, and replaced."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bridge.services.learner_links import learner_for_page_token, page_link
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, OutboxItem
from tests.support.console import VIEWER, ConsoleShop, csrf_of, log_in
from tests.support.learner_page import SECRET
from webhooks import create_app

pytestmark = pytest.mark.both_databases
PUBLIC = "https://bridge.example.com"


@pytest.fixture
def settings(shop: ConsoleShop):  # type: ignore[no-untyped-def]
    return shop.settings.replace(claims={"secret": SECRET}, web={"public_url": PUBLIC})


@pytest.fixture
def client(shop: ConsoleShop, settings):  # type: ignore[no-untyped-def]
    app = create_app(settings, shop.engine, handlers={}, background=False)
    return app.test_client()


def _notes(shop: ConsoleShop, order_id: int) -> list[str]:
    with unit_of_work(shop.engine) as session:
        rows = session.exec(
            select(OutboxItem)
            .where(OutboxItem.resource == "order_note", OutboxItem.target_id == order_id)
            .order_by(col(OutboxItem.id))
        ).all()
        return [row.payload["data"]["note"] for row in rows if row.payload["data"]["customer_note"]]


def test_resend_queues_one_customer_note_on_the_latest_order_with_the_link(
    client, shop, settings
) -> None:
    """An admin's re-send: a customer note with the page's address on Ann's order, once per
    request; the page then says it was sent, and an audit row names the action."""
    log_in(client)
    ann = shop.learner_id("Ann")
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert "Personal page" in page and "No page link yet" in page
    answer = client.post(
        f"/console/learners/{ann}/page-link",
        data={"action": "resend", "csrf_token": csrf_of(page)},
    )
    assert answer.status_code == 302
    notes = [note for note in _notes(shop, 100) if f"{PUBLIC}/me/me-" in note]
    assert len(notes) == 1
    token = notes[0].rsplit("/", 1)[1]
    with unit_of_work(shop.engine) as session:
        learner = learner_for_page_token(session, token)
        assert learner is not None and learner.id == ann
        assert session.exec(
            select(AuditEvent.action).where(AuditEvent.subject == f"learner:{ann}")
        ).all() == ["learner_page.resend"]
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert "in a customer note" in page and "not opened yet" in page
    client.post(
        f"/console/learners/{ann}/page-link",
        data={"action": "resend", "csrf_token": csrf_of(page)},
    )
    assert len([note for note in _notes(shop, 100) if "/me/me-" in note]) == 1  # same minute


def test_opening_the_page_shows_on_the_console_and_a_new_link_ends_the_old(
    client, shop, settings
) -> None:
    """The console shows when the learner last opened their page; "new link" ends the old."""
    ann = shop.learner_id("Ann")
    with unit_of_work(shop.engine) as session:
        link = page_link(session, ann, SECRET, PUBLIC, create=True)
        session.commit()
    assert link is not None and link.token is not None
    assert client.get(f"/me/{link.token}").status_code == 200
    log_in(client)
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert "Last opened" in page and "not opened yet" not in page
    client.post(
        f"/console/learners/{ann}/page-link",
        data={"action": "rotate", "csrf_token": csrf_of(page)},
    )
    assert client.get(f"/me/{link.token}").status_code == 404


def test_a_viewer_cannot_resend_and_a_post_without_csrf_is_refused(client, shop) -> None:
    """Only admins change links; every change needs the session's CSRF token."""
    ann = shop.learner_id("Ann")
    log_in(client, VIEWER)
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert "Re-send the link" not in page
    refused = client.post(
        f"/console/learners/{ann}/page-link",
        data={"action": "resend", "csrf_token": csrf_of(page)},
    )
    assert refused.status_code == 403
    assert client.post(
        f"/console/learners/{ann}/page-link", data={"action": "resend"}
    ).status_code in (400, 403)
    assert _notes(shop, 100) == [note for note in _notes(shop, 100) if "/me/" not in note]
