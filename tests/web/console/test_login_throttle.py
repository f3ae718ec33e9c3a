"""The console login's throttle on both databases: attempts are counted before passwords are
evaluated, per address and per account, and only a good password gives its own count back.

Passwords evaluated are counted by wrapping the hasher's verify, not by timing.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy import func
from sqlmodel import select

from bridge.services.operations import operators
from bridge.services.operations.login_throttle import (
    ACCOUNT_LIMIT,
    ADDRESS_LIMIT,
    WINDOW,
    account_key,
)
from bridge.store.db import unit_of_work
from bridge.store.models import LoginThrottle
from tests.support.browser import serve
from tests.support.console import (
    ADMIN,
    CSRF,
    PASSWORD,
    VIEWER,
    Clock,
    ConsoleShop,
    csrf_of,
)
from webhooks import create_app

pytestmark = pytest.mark.both_databases
WRONG = "not the password at all"


class CountingHasher(PasswordHasher):
    """The fast test hasher, counting every password it evaluates (from any thread)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.evaluated = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        with self._lock:
            self.evaluated += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(shop: ConsoleShop, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(operators, "_hasher", counting)
    operators.dummy_hash()  # made before counting starts, as the app does at start
    return counting


@pytest.fixture
def app(shop: ConsoleShop, hasher: CountingHasher, clock: Clock) -> Any:
    return create_app(shop.settings, shop.engine, handlers={}, background=False, clock=clock)


def browser(app: Any, address: str = "192.0.2.1") -> Any:
    """A test client whose requests come from one address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(client: Any, email: str, password: str, **headers: str) -> Any:
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers=headers,
    )


def log_out(client: Any) -> None:
    with client.session_transaction("/console/") as cookie_session:
        token = cookie_session["csrf"]
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302


def test_another_accounts_good_login_does_not_clear_an_addresss_wrong_passwords(
    app, hasher
) -> None:
    """The probe's trick (4 wrong admin guesses + 1 good viewer login, five times) gets 429
    at the fifth wrong guess: 5 wrong passwords evaluated, not 20."""
    client = browser(app)
    statuses = []
    for _ in range(5):
        for _ in range(4):
            statuses.append(attempt(client, ADMIN, WRONG).status_code)
        good = attempt(client, VIEWER, PASSWORD)
        statuses.append(good.status_code)
        if good.status_code == 302:
            log_out(client)
    assert statuses[:6] == [401, 401, 401, 401, 302, 429]
    assert set(statuses[6:]) == {429}
    assert hasher.evaluated == 4 + 1 + 1  # four wrong, the viewer's good one, the fifth wrong


def test_a_good_password_gives_back_only_its_own_attempt(app, hasher) -> None:
    """Wrong guesses stay counted after the account's own good login from the same address."""
    client = browser(app)
    for _ in range(3):
        assert attempt(client, ADMIN, WRONG).status_code == 401
    assert attempt(client, ADMIN, PASSWORD).status_code == 302
    log_out(client)
    assert attempt(client, ADMIN, WRONG).status_code == 401
    assert attempt(client, ADMIN, WRONG).status_code == 429  # the fifth wrong one
    assert attempt(client, ADMIN, PASSWORD).status_code == 429


def test_forty_concurrent_wrong_guesses_evaluate_at_most_five_passwords(app, hasher) -> None:
    """Forty threads against a real threaded server, released at once from one address: the
    count is taken before the password, so five are evaluated and 36 answer 429 at once."""
    with serve(app) as base:
        http = requests.Session()
        http.trust_env = False
        token = csrf_of(http.get(f"{base}/console/login", timeout=30).text)
        cookie = http.cookies.get("bridge_console")
        start = threading.Barrier(40)
        answers: list[tuple[int, str | None]] = []
        lock = threading.Lock()

        def guess(index: int) -> None:
            own = requests.Session()
            own.trust_env = False
            start.wait(timeout=60)
            response = own.post(
                f"{base}/console/login",
                cookies={"bridge_console": cookie},
                timeout=120,
                data={"email": ADMIN, "password": f"{WRONG} {index}", "csrf_token": token},
            )
            with lock:
                answers.append((response.status_code, response.headers.get("Retry-After")))

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
    statuses = Counter(status for status, _ in answers)
    assert hasher.evaluated == ADDRESS_LIMIT
    assert statuses == {401: ADDRESS_LIMIT - 1, 429: 40 - ADDRESS_LIMIT + 1}
    assert all(retry and int(retry) > 0 for status, retry in answers if status == 429)


def test_ten_addresses_with_four_guesses_each_are_throttled_per_account(app, hasher) -> None:
    """40 guesses at one account from ten addresses: ten evaluated, then 429 from everywhere,
    even with the right password; another account is not locked."""
    statuses = []
    for n in range(10):
        client = browser(app, f"198.51.100.{n + 1}")
        statuses += [attempt(client, ADMIN, WRONG).status_code for _ in range(4)]
    assert hasher.evaluated == ACCOUNT_LIMIT
    assert statuses[:ACCOUNT_LIMIT] == [401] * (ACCOUNT_LIMIT - 1) + [429]
    assert set(statuses[ACCOUNT_LIMIT:]) == {429}
    fresh = browser(app, "203.0.113.9")
    locked = attempt(fresh, ADMIN, PASSWORD)
    assert locked.status_code == 429 and "for this account" in locked.get_data(as_text=True)
    assert attempt(fresh, VIEWER, PASSWORD).status_code == 302


def test_an_unknown_account_is_answered_and_counted_like_a_real_one(app, hasher) -> None:
    """Same answers, same number of passwords evaluated (the dummy hash), same lockout."""
    real, unknown = browser(app, "192.0.2.10"), browser(app, "192.0.2.11")
    seen: dict[str, list[tuple[int, str]]] = {}
    evaluated = {}
    for name, client, email in (("real", real, ADMIN), ("unknown", unknown, "nobody@example.com")):
        before = hasher.evaluated
        answers = [attempt(client, email, WRONG) for _ in range(ADDRESS_LIMIT + 1)]
        evaluated[name] = hasher.evaluated - before
        seen[name] = [
            (a.status_code, CSRF.sub("TOKEN", a.get_data(as_text=True)).replace(email, "EMAIL"))
            for a in answers
        ]
    assert seen["real"] == seen["unknown"]
    assert evaluated == {"real": ADDRESS_LIMIT, "unknown": ADDRESS_LIMIT}


def test_a_lockout_answers_429_with_retry_after_until_the_window_ends(app, clock) -> None:
    """Retry-After says when the window ends (as a page, or JSON when asked); after it the
    address may try again."""
    client = browser(app)
    for _ in range(ADDRESS_LIMIT - 1):
        assert attempt(client, ADMIN, WRONG).status_code == 401
    locked = attempt(client, ADMIN, WRONG)
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "900"
    assert "too many wrong passwords from your address: try again in 15 minutes" in locked.get_data(
        as_text=True
    )
    clock.now += timedelta(minutes=10)
    as_json = attempt(client, ADMIN, PASSWORD, Accept="application/json")
    assert as_json.status_code == 429 and as_json.headers["Retry-After"] == "300"
    assert as_json.get_json() == {
        "error": "too many wrong passwords from your address: try again in 5 minutes"
    }
    clock.now += timedelta(minutes=5)
    assert attempt(client, ADMIN, PASSWORD).status_code == 302


def test_counts_of_ended_windows_are_deleted_and_accounts_are_stored_as_digests(
    app, shop, clock
) -> None:
    """A new window for an address deletes the rows whose window has ended; the account's key
    is a SHA-256, so what was typed as the e-mail is not stored."""
    attempt(browser(app, "192.0.2.20"), "typed-secret@example.com", WRONG)
    with unit_of_work(shop.engine) as session:
        keys = set(session.exec(select(LoginThrottle.key)).all())
    assert keys == {"address:192.0.2.20", account_key("typed-secret@example.com")}
    assert not any("typed-secret" in key for key in keys)
    clock.now += WINDOW
    attempt(browser(app, "192.0.2.21"), ADMIN, WRONG)
    with unit_of_work(shop.engine) as session:
        keys = set(session.exec(select(LoginThrottle.key)).all())
        total = session.exec(select(func.sum(LoginThrottle.attempts))).one()
    assert keys == {"address:192.0.2.21", account_key(ADMIN)} and total == 2
