"""The console's manual credits share the CLI's guard rails and leave audit rows; the audit page
filters, pages and exports them."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlmodel import select

from bridge.services.audit import Via, record_action
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, LedgerEntry
from tests.support.console import ADMIN, ConsoleShop, csrf_of, log_in
from webhooks import create_app

pytestmark = pytest.mark.both_databases


@pytest.fixture
def client(shop: ConsoleShop):  # type: ignore[no-untyped-def]
    app = create_app(shop.settings, shop.engine, handlers={}, background=False)
    return app.test_client()


def _review(client, learner_id: int, **fields: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    form = {
        "csrf_token": csrf_of(page),
        "direction": "grant",
        "amount": "45",
        "credit_type": "mentor_minutes",
        "reason": "late start",
        **fields,
    }
    return client.post(f"/console/learners/{learner_id}/adjust", data=form)


def _confirm(client, learner_id: int, review_html: str):  # type: ignore[no-untyped-def]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', review_html))
    return client.post(f"/console/learners/{learner_id}/adjust/confirm", data=fields)


def test_a_console_revoke_below_zero_needs_the_box_the_cli_calls_force(client, shop) -> None:
    """Ann holds 90 minutes: revoking 500 is refused (400, nothing written) until “Allow a
    negative balance” is ticked; then one ledger row and one audit row name the operator."""
    log_in(client)
    ann = shop.learner_id("Ann")
    refused = _review(client, ann, direction="revoke", amount="500", reason="charge-back")
    assert refused.status_code == 400
    assert "would leave" in refused.get_data(as_text=True)
    assert "Allow a negative balance" in refused.get_data(as_text=True)
    typo = _review(client, ann, credit_type="mentor_minuts")
    assert typo.status_code == 400 and "did you mean mentor_minutes" in typo.get_data(as_text=True)
    review = _review(
        client, ann, direction="revoke", amount="500", reason="charge-back", force="on"
    )
    assert review.status_code == 200, review.get_data(as_text=True)
    assert _confirm(client, ann, review.get_data(as_text=True)).status_code == 302
    with unit_of_work(shop.engine) as session:
        rows = session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all()
        events = session.exec(select(AuditEvent)).all()
    assert [(r.amount, r.actor) for r in rows] == [(-500, f"console:{ADMIN}")]
    assert [(e.operator, e.via, e.action, e.subject) for e in events] == [
        (ADMIN, "console", "credits.revoke", f"learner:{ann}")
    ]
    assert events[0].details and events[0].details["force"] is True
    page = client.get(f"/console/learners/{ann}").get_data(as_text=True)
    assert f"console:{ADMIN}" in page  # the ledger shows who


def test_the_audit_page_filters_pages_and_exports_every_matching_row(client, shop) -> None:
    """A grant made in the console appears beside one made with the CLI; filters narrow them,
    pages hold per_page rows, and ?format=csv gives a header and every matching row."""
    log_in(client)
    ann = shop.learner_id("Ann")
    review = _review(client, ann)
    assert _confirm(client, ann, review.get_data(as_text=True)).status_code == 302
    with unit_of_work(shop.engine) as session:
        for i in range(5):
            record_action(
                session,
                operator="dana",
                via=Via.CLI,
                action="outbox.retry",
                subject=f"outbox:{i}",
                reason="=HYPERLINK(1)" if i == 0 else "",
            )
        session.commit()
    page = client.get("/console/audit").get_data(as_text=True)
    assert "credits.grant" in page and "late start" in page and ADMIN in page
    assert 'href="/console/audit?format=csv"' in page
    only = client.get("/console/audit?action=credits&via=console").get_data(as_text=True)
    assert "credits.grant" in only and "outbox:3" not in only
    paged = client.get("/console/audit?operator=dana&per_page=2&page=3").get_data(as_text=True)
    assert "rows 5–5 of 5" in paged and "page 3 of 3" in paged
    exported = client.get("/console/audit?operator=dana&format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 5 and list(rows[0])[:3] == ["id", "at", "operator"]
    assert {row["reason"] for row in rows} == {"", "'=HYPERLINK(1)"}  # no formula runs
    assert client.get("/console/audit?since=not-a-day").status_code == 400
    assert client.get("/console/audit?via=fax").status_code == 400


def test_a_console_url_no_route_matches_is_the_consoles_html_404(client, shop) -> None:
    """/console/<anything> that does not exist is a console page, not the API's JSON."""
    log_in(client)
    page = client.get("/console/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "<!doctype html>" in page.get_data(as_text=True).lower()
    asked = client.get("/console/no-such-page", headers={"Accept": "application/json"})
    assert asked.status_code == 404 and asked.mimetype == "application/json"
    assert client.get("/api/v1/nothing-here").mimetype == "application/json"


def test_retrying_dead_rows_in_the_console_is_audited(client, shop) -> None:
    log_in(client)
    item = client.get(f"/console/outbox/{shop.dead_outbox_id}").get_data(as_text=True)
    assert (
        client.post(
            f"/console/outbox/{shop.dead_outbox_id}/retry", data={"csrf_token": csrf_of(item)}
        ).status_code
        == 302
    )
    with unit_of_work(shop.engine) as session:
        events = session.exec(select(AuditEvent)).all()
    assert [(e.operator, e.via, e.action, e.subject) for e in events] == [
        (ADMIN, "console", "outbox.retry", f"outbox:{shop.dead_outbox_id}")
    ]
