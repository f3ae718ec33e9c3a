"""The console's Outbox shows a note held for want of BRIDGE_PUBLIC_URL, and will not retry it
(issue 29, item 7), on both databases."""

from __future__ import annotations

import pytest

from bridge.services.writeback.queue import NOTE, Update, enqueue_creates
from bridge.store.db import unit_of_work
from tests.support.console import ConsoleShop, csrf_of, log_in
from tests.support.writeback import outbox
from webhooks import create_app

pytestmark = pytest.mark.both_databases


def test_a_held_note_is_listed_as_waiting_for_the_url_and_is_not_retried(shop: ConsoleShop):
    """Its status 'held' and why; a retry leaves it held."""
    note = Update(
        NOTE,
        5001,
        "order:5001:note:claims",
        {"note": "Claim your place: /claims/abcdefghijklmnopqrstuvwxyz", "customer_note": True},
        {"relative_links": ["/claims/abcdefghijklmnopqrstuvwxyz"]},
    )
    with unit_of_work(shop.engine) as session:
        enqueue_creates(session, [note])
        session.commit()
    [row] = outbox(shop.engine, target_key="order:5001:note:claims")
    app = create_app(shop.settings, shop.engine, handlers={}, background=False)
    client = app.test_client()
    log_in(client)
    page = client.get("/console/outbox").get_data(as_text=True)
    assert '<span class="badge held">held</span>' in page
    assert "waiting for BRIDGE_PUBLIC_URL" in page
    assert "waiting for BRIDGE_PUBLIC_URL" in client.get("/console/outbox?status=held").get_data(
        as_text=True
    )
    item = client.get(f"/console/outbox/{row.id}").get_data(as_text=True)
    client.post(f"/console/outbox/{row.id}/retry", data={"csrf_token": csrf_of(item)})
    assert outbox(shop.engine, id=row.id)[0].status == "held"
