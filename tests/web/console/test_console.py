"""The console through Flask's test client: auth, CSRF, roles, pages, grants and retries."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bridge.services.operations.login_throttle import ADDRESS_LIMIT
from bridge.store.db import unit_of_work
from bridge.store.models import LedgerEntry, OutboxItem
from tests.support.console import (
    ADMIN,
    PASSWORD,
    VIEWER,
    ConsoleShop,
    csrf_of,
    log_in,
)
from webhooks import create_app

pytestmark = pytest.mark.both_databases


@pytest.fixture
def client(shop: ConsoleShop):  # type: ignore[no-untyped-def]
    app = create_app(shop.settings, shop.engine, handlers={}, background=False)
    return app.test_client()


def test_anonymous_requests_are_sent_to_the_login_and_shown_nothing(client, shop) -> None:
    """Every console page redirects an anonymous visitor to the login, with no learner data."""
    for path in (
        "/console/",
        "/console/learners?q=ann",
        f"/console/learners/{shop.learner_id('Ann')}",
        "/console/cohorts/DV-2027-01",
        "/console/outbox",
        "/console/inbox",
        "/console/catalogue",
        "/console/report",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/console/login?next=")
        assert b"example.com" not in response.data
    assert client.get("/").headers["Location"] == "/console/"


def test_logging_in_sets_an_httponly_lax_cookie_that_is_secure_over_https(client) -> None:
    """The session cookie is HttpOnly and SameSite=Lax, and Secure behind an https proxy."""
    response = log_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get(
        "/console/login", headers={"X-Forwarded-Proto": "https"}, base_url="https://localhost"
    )
    assert page.status_code == 302  # already logged in
    other = create_app(
        client.application.extensions["bridge"].settings,
        client.application.extensions["bridge"].engine,
        handlers={},
        background=False,
    ).test_client()
    login = other.get("/console/login", base_url="https://localhost")
    assert "Secure" in login.headers["Set-Cookie"]


def test_a_session_made_by_one_worker_is_accepted_by_another(client, shop) -> None:
    """Two apps with the same BRIDGE_SECRET_KEY (two gunicorn workers) accept one cookie."""
    log_in(client)
    cookie = client.get_cookie("bridge_console", path="/console")
    assert cookie is not None
    other = create_app(shop.settings, shop.engine, handlers={}, background=False).test_client()
    other.set_cookie("bridge_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 200


def test_a_post_without_the_csrf_token_is_refused_before_it_changes_anything(client, shop) -> None:
    """A grant confirmation with a missing or wrong token answers 400 and writes no row."""
    log_in(client)
    learner_id = shop.learner_id("Ann")
    form = {
        "direction": "grant",
        "amount": "60",
        "credit_type": "mentor_minutes",
        "reason": "goodwill",
        "reference": "r" * 20,
    }
    for token in (None, "wrong-token-0123456789012345678901234"):
        data = dict(form) if token is None else {**form, "csrf_token": token}
        response = client.post(f"/console/learners/{learner_id}/adjust/confirm", data=data)
        assert response.status_code == 400
        assert b"security token" in response.data
    with unit_of_work(shop.engine) as session:
        assert session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all() == []


def test_repeated_wrong_passwords_from_one_address_get_429(client) -> None:
    """Wrong passwords answer 401 until the limit; then even the right one gets 429."""
    for _ in range(ADDRESS_LIMIT - 1):
        assert log_in(client, password="not the password").status_code == 401
    response = log_in(client, password="not the password")
    assert response.status_code == 429 and response.headers["Retry-After"]
    assert log_in(client).status_code == 429


def test_a_grant_needs_a_confirmation_and_a_repeated_confirmation_writes_once(client, shop) -> None:
    """Review shows the balance change and writes nothing; confirming twice writes one row."""
    log_in(client)
    learner_id = shop.learner_id("Ann")
    page = client.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    review = client.post(
        f"/console/learners/{learner_id}/adjust",
        data={
            "csrf_token": csrf_of(page),
            "direction": "grant",
            "amount": "45",
            "credit_type": "mentor_minutes",
            "reason": "late start",
        },
    )
    html = review.get_data(as_text=True)
    assert review.status_code == 200 and "Confirm grant" in html
    # The project's 60 minutes and the complimentary 30-minute call, plus 45.
    assert "90 → <strong>135</strong>" in html
    with unit_of_work(shop.engine) as session:
        assert session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all() == []
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    for _ in range(2):
        done = client.post(f"/console/learners/{learner_id}/adjust/confirm", data=fields)
        assert done.status_code == 302
    with unit_of_work(shop.engine) as session:
        rows = session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all()
    assert [(r.amount, r.note, r.actor) for r in rows] == [(45, "late start", f"console:{ADMIN}")]
    assert "already applied" in client.get(f"/console/learners/{learner_id}").get_data(as_text=True)


def test_bad_adjustments_answer_400_and_viewers_may_not_change_anything(client, shop) -> None:
    """A zero amount is a 400 on the form; a viewer's grant or retry is a 403."""
    log_in(client)
    learner_id = shop.learner_id("Ben")
    page = client.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    bad = client.post(
        f"/console/learners/{learner_id}/adjust",
        data={
            "csrf_token": csrf_of(page),
            "direction": "grant",
            "amount": "0",
            "credit_type": "mentor_minutes",
            "reason": "x",
        },
    )
    assert bad.status_code == 400 and b"whole number" in bad.data
    client.post("/console/logout", data={"csrf_token": csrf_of(page)})
    log_in(client, VIEWER, PASSWORD)
    page = client.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    assert "Grant or revoke" not in page
    token = csrf_of(page)
    assert (
        client.post(
            f"/console/learners/{learner_id}/adjust",
            data={
                "csrf_token": token,
                "direction": "grant",
                "amount": "5",
                "credit_type": "mentor_minutes",
                "reason": "x",
            },
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/console/outbox/{shop.dead_outbox_id}/retry", data={"csrf_token": token}
        ).status_code
        == 403
    )


def test_retrying_a_dead_write_back_queues_it_again_with_fresh_attempts(client, shop) -> None:
    """The outbox page shows the dead row's error; retry makes it pending with 0 attempts."""
    log_in(client)
    listing = client.get("/console/outbox?status=dead").get_data(as_text=True)
    assert "woocommerce_rest_cannot_edit" in listing
    item = client.get(f"/console/outbox/{shop.dead_outbox_id}").get_data(as_text=True)
    response = client.post(
        f"/console/outbox/{shop.dead_outbox_id}/retry", data={"csrf_token": csrf_of(item)}
    )
    assert response.status_code == 302
    with unit_of_work(shop.engine) as session:
        row = session.get(OutboxItem, shop.dead_outbox_id)
        assert row is not None and (row.status, row.attempts) == ("pending", 0)
    again = client.post(
        f"/console/outbox/{shop.dead_outbox_id}/retry", data={"csrf_token": csrf_of(item)}
    )
    assert again.status_code == 302  # a pending row may be made due again


def test_the_cohort_page_shows_capacity_and_why_the_roster_and_the_waitlist_in_order(
    client,
) -> None:
    """Three active seats, capacity from 1 mentor x 3 learners, and the three who wait in order."""
    log_in(client)
    html = client.get("/console/cohorts/DV-2027-01").get_data(as_text=True)
    assert "1 mentor x 3 learners per mentor = 3 seats (5 assessment slots do not bound it)" in html
    waitlist = html[html.index('id="waitlist"') :]
    assert [m for m in re.findall(r">(\w+)@example.com</a>", waitlist)] == ["dan", "eve", "fay"]
    assert client.get("/console/cohorts/NOPE").status_code == 404


def test_pages_answer_4xx_for_bad_input(client) -> None:
    """Unknown ids 404, a bad status filter or report date 400, an over-long search 400."""
    log_in(client)
    assert client.get("/console/learners/999999").status_code == 404
    assert client.get("/console/learners/abc").status_code == 404
    assert client.get("/console/inbox?status=exploded").status_code == 400
    assert client.get("/console/outbox/999999").status_code == 404
    assert client.get("/console/inbox/999999").status_code == 404
    assert client.get("/console/report?since=yesterday").status_code == 400
    assert client.get("/console/learners?q=" + "x" * 300).status_code == 400


def test_search_finds_learners_by_email_name_or_customer_id(client) -> None:
    """Part of an e-mail, part of a name, or the customer id find the same learner."""
    log_in(client)
    for query in ("cara@", "Cole", "33"):
        html = client.get(f"/console/learners?q={query}").get_data(as_text=True)
        assert "cara@example.com" in html and "ann@example.com" not in html, query


def test_the_home_page_names_each_problem_with_its_fix(client) -> None:
    """Dead deliveries and write-backs appear with what to do about them."""
    log_in(client)
    html = client.get("/console/").get_data(as_text=True)
    assert "1 webhook delivery dead-lettered" in html
    assert "1 write-back to WooCommerce dead-lettered" in html
    assert html.count("Fix:") >= 3


def test_the_console_answers_503_with_the_fix_when_no_secret_key_is_set(shop) -> None:
    """Without BRIDGE_SECRET_KEY no session can be signed: the console says how to set it."""
    app = create_app(
        shop.settings.replace(console={"secret_key": None}),
        shop.engine,
        handlers={},
        background=False,
    )
    response = app.test_client().get("/console/login")
    assert response.status_code == 503 and b"BRIDGE_SECRET_KEY" in response.data
    assert app.test_client().get("/outcomes").status_code == 200
