"""Console sessions kept in the database: logout, a new password and removal end them; idle and
absolute lifetimes; a new id at each login; a `next` that is not a console path is ignored."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bridge.services.operations import add_operator, list_operators, remove_operator
from bridge.store.db import unit_of_work
from bridge.store.models import ConsoleSession, LedgerEntry
from tests.support.console import (
    ADMIN,
    PASSWORD,
    VIEWER,
    Clock,
    ConsoleShop,
    csrf_of,
    log_in,
)
from webhooks import create_app

pytestmark = pytest.mark.both_databases
COOKIE = "bridge_console"


@pytest.fixture
def new_client(shop: ConsoleShop, clock: Clock) -> Any:
    """Makes test clients of one app (one per browser), on the test's clock."""
    app = create_app(shop.settings, shop.engine, handlers={}, background=False, clock=clock)
    return app.test_client


def cookie_of(client: Any) -> str:
    cookie = client.get_cookie(COOKIE, path="/console")
    assert cookie is not None
    return str(cookie.value)


def replay(new_client: Any, cookie: str) -> Any:
    """A second browser holding a saved copy of the cookie."""
    other = new_client()
    other.set_cookie(COOKIE, cookie, path="/console")
    return other


def log_in_again(client: Any, email: str = ADMIN) -> Any:
    """Send the login form from a browser that is logged in already (the page redirects)."""
    with client.session_transaction("/console/") as cookie_session:
        token = cookie_session["csrf"]
    return client.post(
        "/console/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )


def sessions(engine: Engine) -> list[ConsoleSession]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(ConsoleSession)).all())


def grant_form(client: Any, learner_id: int) -> dict[str, str]:
    page = client.get(f"/console/learners/{learner_id}").get_data(as_text=True)
    return {
        "direction": "grant",
        "amount": "60",
        "credit_type": "mentor_minutes",
        "reason": "goodwill",
        "reference": "r" * 20,
        "csrf_token": csrf_of(page),
    }


def test_a_cookie_saved_before_logout_opens_nothing_after_it(new_client, shop) -> None:
    """After logout the saved cookie is sent to the login for pages and refused (401, JSON
    when asked) for forms, which change nothing; the session row is gone."""
    client = new_client()
    assert log_in(client).status_code == 302
    learner_id = shop.learner_id("Ann")
    form = grant_form(client, learner_id)
    saved = cookie_of(client)
    assert len(sessions(shop.engine)) == 1
    client.post("/console/logout", data={"csrf_token": form["csrf_token"]})
    assert sessions(shop.engine) == []
    thief = replay(new_client, saved)
    for path in ("/console/", f"/console/learners/{learner_id}", "/console/outbox"):
        response = thief.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/console/login?next=")
    thief = replay(new_client, saved)
    refused = thief.post(f"/console/learners/{learner_id}/adjust/confirm", data=form)
    assert refused.status_code == 401
    assert "log in again" in refused.get_data(as_text=True)
    thief = replay(new_client, saved)
    as_json = thief.post(
        f"/console/learners/{learner_id}/adjust/confirm",
        data=form,
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 401 and "log in again" in as_json.get_json()["error"]
    thief = replay(new_client, saved)
    retry = thief.post(
        f"/console/outbox/{shop.dead_outbox_id}/retry", data={"csrf_token": form["csrf_token"]}
    )
    assert retry.status_code == 401
    with unit_of_work(shop.engine) as session:
        assert session.exec(select(LedgerEntry).where(LedgerEntry.reason == "manual")).all() == []


def test_each_login_makes_a_new_session_id_and_only_its_hash_is_stored(new_client, shop) -> None:
    """Logging in again replaces the session (the cookie held before opens nothing); the
    database keeps the SHA-256 of the id, never the id."""
    client = new_client()
    log_in(client)
    first = cookie_of(client)
    first_hash = sessions(shop.engine)[0].id_hash
    assert log_in_again(client).status_code == 302
    second = cookie_of(client)
    [row] = sessions(shop.engine)
    assert row.id_hash != first_hash
    assert replay(new_client, first).get("/console/").status_code == 302
    assert replay(new_client, second).get("/console/").status_code == 200
    stored = sessions(shop.engine)[0].id_hash
    assert len(stored) == 64 and stored not in second
    with client.session_transaction("/console/") as cookie_session:
        session_id = cookie_session["sid"]
    assert hashlib.sha256(session_id.encode()).hexdigest() == stored


def test_an_anonymous_cookie_is_not_carried_into_the_login(new_client, shop) -> None:
    """The cookie a visitor holds before logging in (planted by someone else, say) is not the
    one that is logged in: its copy stays anonymous."""
    client = new_client()
    client.get("/console/login")
    planted = cookie_of(client)
    assert log_in(client).status_code == 302
    assert cookie_of(client) != planted
    assert replay(new_client, planted).get("/console/").status_code == 302


def test_a_new_password_ends_every_session_of_that_operator_only(new_client, shop) -> None:
    """Two browsers of the admin are logged out by a new password; the viewer's stays."""
    admin_one, admin_two, viewer = new_client(), new_client(), new_client()
    log_in(admin_one)
    log_in(admin_two)
    log_in(viewer, VIEWER)
    add_operator(shop.engine, ADMIN, "a brand new password", "admin")
    assert admin_one.get("/console/").status_code == 302
    assert admin_two.get("/console/").status_code == 302
    assert viewer.get("/console/").status_code == 200
    assert log_in(admin_one).status_code == 401  # the old password
    assert log_in(admin_one, ADMIN, "a brand new password").status_code == 302
    assert admin_one.get("/console/").status_code == 200


def test_removing_an_operator_ends_their_sessions(new_client, shop) -> None:
    """The removed operator's cookie opens nothing and their session rows are gone."""
    admin, viewer = new_client(), new_client()
    log_in(admin)
    log_in(viewer, VIEWER)
    remove_operator(shop.engine, VIEWER)
    assert viewer.get("/console/").status_code == 302
    assert admin.get("/console/").status_code == 200
    assert len(sessions(shop.engine)) == 1


def test_a_session_ends_after_an_hour_idle_and_after_twelve_hours_however_active(
    new_client, shop, clock
) -> None:
    """The defaults: 60 idle minutes, 12 hours in all; ended rows are deleted at a login."""
    idle = new_client()
    log_in(idle)
    clock.advance(minutes=59)
    assert idle.get("/console/").status_code == 200
    clock.advance(minutes=60)
    assert idle.get("/console/").status_code == 302
    busy = new_client()
    log_in(busy)
    for _ in range(14):  # a request every 50 minutes: 11 h 40 min
        clock.advance(minutes=50)
        assert busy.get("/console/").status_code == 200
    clock.advance(minutes=20)
    assert busy.get("/console/").status_code == 302
    stale = new_client()
    log_in(stale)
    clock.advance(hours=2)
    log_in(new_client(), VIEWER)
    viewer_id = next(op.id for op in list_operators(shop.engine) if op.email == VIEWER)
    assert [row.operator_id for row in sessions(shop.engine)] == [viewer_id]


def test_lifetimes_are_settings(shop, clock) -> None:
    """BRIDGE_CONSOLE_SESSION_IDLE_MINUTES and _MAX_HOURS set the two lifetimes."""
    settings = shop.settings.replace(console={"session_idle_minutes": 5, "session_max_hours": 1})
    app = create_app(settings, shop.engine, handlers={}, background=False, clock=clock)
    client = app.test_client()
    log_in(client)
    clock.advance(minutes=4)
    assert client.get("/console/").status_code == 200
    clock.advance(minutes=6)
    assert client.get("/console/").status_code == 302
    log_in(client)
    for _ in range(14):
        clock.advance(minutes=4)
        assert client.get("/console/").status_code == 200
    clock.advance(minutes=4)
    assert client.get("/console/").status_code == 302  # an hour after the login


def test_reading_pages_writes_the_last_use_at_most_once_a_minute(new_client, shop, clock) -> None:
    """Requests within a minute of the last recorded use do not write; the next one does."""
    client = new_client()
    log_in(client)
    started = clock.now
    for _ in range(5):
        clock.advance(seconds=10)
        assert client.get("/console/").status_code == 200
    assert sessions(shop.engine)[0].last_seen_at == started
    clock.advance(seconds=15)
    client.get("/console/")
    assert sessions(shop.engine)[0].last_seen_at == clock.now


@pytest.mark.parametrize(
    "target",
    [
        "/console\r\nX",
        "/console%0d%0aX",
        "/console/\tx",
        "/console/\x7f",
        "//evil.example/console",
        "https://evil.example/console",
        "/consolex",
        "/console\\@evil.example",
        "/console/ x",
        "/console/\u2028x",
    ],
)
def test_a_next_that_is_not_a_plain_console_path_is_ignored(new_client, target) -> None:
    """After a correct password the login goes to /console/ instead (never a 500)."""
    client = new_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    response = client.post(
        "/console/login",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    again = client.get("/console/login", query_string={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/console/"


def test_the_probes_next_with_cr_lf_logs_in_to_the_home_page(new_client) -> None:
    """`/console/login?next=/console%0d%0aX` with a correct password: 302 to /console/."""
    client = new_client()
    page = client.get("/console/login?next=/console%0d%0aX")
    assert page.status_code == 200
    token = csrf_of(page.get_data(as_text=True))
    response = client.post(
        "/console/login?next=/console%0d%0aX",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/console/"


def test_a_console_next_is_kept(new_client, shop) -> None:
    """A page asked for before logging in is where the login goes."""
    client = new_client()
    target = f"/console/learners/{shop.learner_id('Ann')}?tab=ledger"
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    response = client.post(
        "/console/login",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert response.headers["Location"] == target
