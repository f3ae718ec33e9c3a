"""A learner's export and erasure on the console: admins only; the export downloads JSON; the
erasure shows what it would remove and keep first, and erases only when the word is typed."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bridge.services.ledger import find_learner
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, Learner
from tests.support.console import ADMIN, VIEWER, ConsoleShop, buyer_email, csrf_of, log_in
from webhooks import create_app

pytestmark = pytest.mark.both_databases


@pytest.fixture
def client(shop: ConsoleShop):  # type: ignore[no-untyped-def]
    app = create_app(shop.settings, shop.engine, handlers={}, background=False)
    return app.test_client()


def test_an_admin_exports_a_learner_as_a_json_download(client, shop) -> None:
    log_in(client)
    ann = shop.learner_id("Ann")
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert "Export (JSON)" in page and "Erase…" in page
    answer = client.get(f"/console/learners/{ann}/export")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="learner-{ann}-export.json"'
    )
    data = answer.get_json()
    assert data["learner"]["email"] == buyer_email("Ann")
    assert data["sections"]["seats"] and data["sections"]["events"]


def test_a_viewer_may_neither_export_nor_erase(client, shop) -> None:
    log_in(client, VIEWER)
    ann = shop.learner_id("Ann")
    assert "Erase…" not in client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert client.get(f"/console/learners/{ann}/export").status_code == 403
    assert client.get(f"/console/learners/{ann}/erase").status_code == 403
    assert client.post(f"/console/learners/{ann}/erase", data={"confirm": "erase"}).status_code in (
        400,
        403,
    )
    with unit_of_work(shop.engine) as session:
        assert find_learner(session, buyer_email("Ann")) is not None


def test_erasure_is_reviewed_then_confirmed_by_typing_the_word(client, shop) -> None:
    """The review page changes nothing; a wrong word is refused; the typed word erases, the
    audit row names the admin; a second confirmation changes nothing."""
    log_in(client)
    ann = shop.learner_id("Ann")
    review = client.get(f"/console/learners/{ann}/erase")
    text = review.get_data(as_text=True)
    assert review.status_code == 200
    assert f"erased-{ann}" in text and "retained as financial records" in text
    with unit_of_work(shop.engine) as session:
        assert find_learner(session, buyer_email("Ann")) is not None
    wrong = client.post(
        f"/console/learners/{ann}/erase", data={"confirm": "yes", "csrf_token": csrf_of(text)}
    )
    assert wrong.status_code == 400
    done = client.post(
        f"/console/learners/{ann}/erase",
        data={"confirm": "erase", "reason": "ticket 12", "csrf_token": csrf_of(text)},
    )
    assert done.status_code == 302
    with unit_of_work(shop.engine) as session:
        assert find_learner(session, buyer_email("Ann")) is None
        learner = session.get(Learner, ann)
        assert learner is not None and learner.name == f"erased-{ann}"
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "learner.erase")).all()
    assert [(row.operator, row.via, row.reason) for row in audit] == [
        (ADMIN, "console", "ticket 12")
    ]
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert "erased" in page and buyer_email("Ann") not in page
    again = client.get(f"/console/learners/{ann}/erase").get_data(as_text=True)
    assert "erased already" in again
    listing = client.get("/console/learners?q=ann").get_data(as_text=True)
    assert buyer_email("Ann") not in listing
