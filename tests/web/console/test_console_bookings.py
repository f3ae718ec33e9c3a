"""The console's bookings: held ones listed with one action each, and learners' booking links."""

from __future__ import annotations

import pytest

from bridge.services.ledger import find_learner
from bridge.services.operations import add_operator
from bridge.store.db import unit_of_work
from tests.support.bookings import (
    LENA,
    LINK_SECRET,
    booking_app,
    bookings_by_key,
    calcom_variant,
    post_calcom,
    raw,
)
from tests.support.console import (
    ADMIN,
    PASSWORD,
    SECRET_KEY,
    VIEWER,
    csrf_of,
    log_in,
)
from tests.support.redemptions import balance_of, fund
from webhooks import create_app

pytestmark = pytest.mark.both_databases


@pytest.fixture
def app(engine, settings):
    """Lena with 300 minutes, one booking that only typed her e-mail (held), one stranger's."""
    fund(engine, LENA, customer_id=3187)
    add_operator(engine, ADMIN, PASSWORD, "admin")
    add_operator(engine, VIEWER, PASSWORD, "viewer")
    app = booking_app(engine, settings.replace(console={"secret_key": SECRET_KEY}))
    client = app.test_client()
    post_calcom(client, raw("calcom_booking_created"))
    post_calcom(
        client,
        calcom_variant(
            "calcom_booking_created", uid="stranger", email="stranger@example.com", metadata={}
        ),
    )
    return app


def _held_id(engine) -> int:
    [held] = [b for b in bookings_by_key(engine).values() if b.status == "held_for_review"]
    return held.id


def test_the_home_page_names_held_bookings_with_the_way_to_review_them(app):
    """Health at a glance counts the held booking and links to the Bookings page."""
    client = app.test_client()
    log_in(client)
    html = client.get("/console/").get_data(as_text=True)
    assert "1 booking held for review" in html and 'href="/console/bookings"' in html


def test_the_bookings_page_lists_held_bookings_with_approve_and_reject(app, engine):
    """Filter by status; a held booking shows what it would spend and its two forms."""
    client = app.test_client()
    log_in(client)
    page = client.get("/console/bookings?status=held_for_review")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    booking_id = _held_id(engine)
    assert f"/console/bookings/{booking_id}/approve" in html
    assert f"/console/bookings/{booking_id}/reject" in html
    assert "60 mentor_minutes" in html and "stranger@example.com" not in html
    everything = client.get("/console/bookings").get_data(as_text=True)
    assert "stranger@example.com" in everything and "unknown_learner" in everything
    assert client.get("/console/bookings?status=lost").status_code == 400
    assert 'href="/console/bookings"' in everything  # in the navigation


def test_approving_from_the_console_needs_the_csrf_token_and_debits_once(app, engine):
    """Without the token: 400, nothing debited. With it: 60 debited; again: nothing more."""
    client = app.test_client()
    log_in(client)
    booking_id = _held_id(engine)
    url = f"/console/bookings/{booking_id}/approve"
    assert client.post(url, data={}).status_code == 400
    assert balance_of(engine, LENA) == 300
    token = csrf_of(client.get("/console/bookings").get_data(as_text=True))
    done = client.post(url, data={"csrf_token": token})
    assert done.status_code == 302
    assert "status=held_for_review" in done.headers["Location"]
    assert balance_of(engine, LENA) == 240
    again = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200 and "nothing changed" in again.get_data(as_text=True)
    assert balance_of(engine, LENA) == 240
    reject = client.post(f"/console/bookings/{booking_id}/reject", data={"csrf_token": token})
    assert reject.status_code == 409 and "already approved" in reject.get_data(as_text=True)
    assert (
        client.post("/console/bookings/99999/approve", data={"csrf_token": token}).status_code
        == 404
    )


def test_rejecting_from_the_console_keeps_the_reason_and_debits_nothing(app, engine):
    """Reject with a reason: listed as rejected, the reason on it, the balance untouched."""
    client = app.test_client()
    log_in(client)
    booking_id = _held_id(engine)
    token = csrf_of(client.get("/console/bookings").get_data(as_text=True))
    response = client.post(
        f"/console/bookings/{booking_id}/reject",
        data={"csrf_token": token, "reason": "not Lena"},
        follow_redirects=True,
    )
    assert response.status_code == 200 and "rejected; nothing was debited" in response.get_data(
        as_text=True
    )
    assert balance_of(engine, LENA) == 300
    rows = client.get("/console/bookings?status=rejected").get_data(as_text=True)
    assert "not Lena" in rows and ADMIN in rows


def test_a_viewer_sees_held_bookings_but_may_not_review_them_or_see_a_link(app, engine):
    """No forms for a viewer; a POST answers 403 and debits nothing; the token stays hidden."""
    admin = app.test_client()
    log_in(admin)
    learner_id = bookings_by_key(engine)["calcom:k3Hq8vN2pXc5RtY7wL9mZa:" + LENA].learner_id
    token = csrf_of(admin.get(f"/console/learners/{learner_id}").get_data(as_text=True))
    admin.post(
        f"/console/learners/{learner_id}/booking-link",
        data={"csrf_token": token, "action": "create"},
    )
    viewer = app.test_client()
    log_in(viewer, VIEWER)
    html = viewer.get("/console/bookings").get_data(as_text=True)
    assert "held_for_review" in html and "/approve" not in html
    csrf = csrf_of(html)
    response = viewer.post(
        f"/console/bookings/{_held_id(engine)}/approve", data={"csrf_token": csrf}
    )
    assert response.status_code == 403 and balance_of(engine, LENA) == 300
    page = viewer.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    assert "has a booking link" in page and "bk-" not in page


def test_an_admin_makes_rotates_and_revokes_a_learners_booking_link(app, engine):
    """Make: the page shows the Cal.com and Calendly parameters; rotate: another token;
    revoke: none; a booking through a rotated-away token is held, the new one debits."""
    client = app.test_client()
    log_in(client)
    learner_id = bookings_by_key(engine)["calcom:k3Hq8vN2pXc5RtY7wL9mZa:" + LENA].learner_id
    page = f"/console/learners/{learner_id}"
    html = client.get(page).get_data(as_text=True)
    assert "No booking link yet" in html
    token = csrf_of(html)
    made = client.post(
        f"{page}/booking-link",
        data={"csrf_token": token, "action": "create"},
        follow_redirects=True,
    ).get_data(as_text=True)
    first = made.split("metadata[booking_token]=")[1][:29]
    assert first.startswith("bk-") and f"utm_content={first}" in made
    rotated = client.post(
        f"{page}/booking-link",
        data={"csrf_token": token, "action": "rotate"},
        follow_redirects=True,
    ).get_data(as_text=True)
    second = rotated.split("metadata[booking_token]=")[1][:29]
    assert second != first and "the old one no longer debits anyone" in rotated
    hook = app.test_client()
    post_calcom(hook, calcom_variant("calcom_booking_created", uid="old", token=first))
    post_calcom(hook, calcom_variant("calcom_booking_created", uid="new", token=second))
    statuses = {b.external_id: b.status for b in bookings_by_key(engine).values()}
    assert (statuses["old"], statuses["new"]) == ("held_for_review", "debited")
    revoked = client.post(
        f"{page}/booking-link",
        data={"csrf_token": token, "action": "revoke"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "booking link revoked" in revoked and "No booking link yet" in revoked
    assert (
        client.post(f"{page}/booking-link", data={"csrf_token": token, "action": "x"}).status_code
        == 400
    )
    assert (
        client.post(
            "/console/learners/99999/booking-link", data={"csrf_token": token, "action": "create"}
        ).status_code
        == 404
    )


def test_without_the_claim_secret_the_learner_page_says_what_to_set(engine, settings):
    """No BRIDGE_CLAIM_SECRET: the section names it instead of offering a link."""
    fund(engine, LENA, customer_id=3187)
    add_operator(engine, ADMIN, PASSWORD, "admin")
    app = create_app(
        settings.replace(
            console={"secret_key": SECRET_KEY},
            claims={"secret": None},
        ),
        engine,
        handlers={},
        background=False,
    )
    client = app.test_client()
    log_in(client)
    with unit_of_work(engine) as session:
        learner_id = find_learner(session, LENA).id
    html = client.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    assert "BRIDGE_CLAIM_SECRET is not set" in html and "Make a booking link" not in html
    assert LINK_SECRET not in html
