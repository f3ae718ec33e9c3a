"""The public claim page and its API, through the Flask app and a real threaded server."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from bridge.services.team_packs import list_claims
from tests.support.claims import apply, claim_settings, holdings, pack_order
from tests.support.paths import ROOT
from webhooks import create_app

PROJECT = {"balances": {"mentor_minutes": 60}, "access": ["PROJ-DATAVIZ"]}


@pytest.fixture
def config(database_url):
    return claim_settings(database_url, claims={"attempts_per_minute": 1000})


@pytest.fixture
def client(engine, config):
    app = create_app(config, engine, handlers={}, background=False)
    return app.test_client()


def codes(engine, config, order_id):
    return [place["code"] for place in list_claims(engine, order_id, config)["places"]]


def form_token(page: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_the_page_shows_a_form_with_a_signed_token_and_claiming_through_it_gives_201(
    engine, config, client
):
    """GET shows what the place gives and a form; posting it with its token claims the place."""
    apply(engine, config, pack_order(401))
    code = codes(engine, config, 401)[0]
    page = client.get(f"/claims/{code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="email"' in html and 'name="name"' in html
    assert "project access: Data-viz project, 6 weeks from the claim" in html
    assert page.headers["Cache-Control"] == "no-store"
    answer = client.post(
        f"/claims/{code}",
        data={"email": "ann@employer.example", "name": "Ann <b>A</b>", "token": form_token(html)},
    )
    assert answer.status_code == 201
    assert "The place is yours" in answer.get_data(as_text=True)
    assert holdings(engine, "ann@employer.example") == PROJECT
    again = client.get(f"/claims/{code}", headers={"Accept": "application/json"})
    assert again.status_code == 409


def test_a_form_post_without_a_valid_token_is_refused_before_anything_is_written(
    engine, config, client
):
    """No token, a forged one, or another code's token: 400 and the place stays open."""
    apply(engine, config, pack_order(402))
    first, second, *_ = codes(engine, config, 402)
    other_token = form_token(client.get(f"/claims/{second}").get_data(as_text=True))
    for token in ("", "123.abc", other_token):
        answer = client.post(
            f"/claims/{first}", data={"email": "a@example.com", "name": "A", "token": token}
        )
        assert answer.status_code == 400
    assert holdings(engine, "a@example.com") == {"balances": {}, "access": []}


def test_json_claims_answer_201_then_409_and_unknown_codes_404(engine, config, client):
    """The JSON API: 201 once with what was granted, 409 after, 404 for codes of no place."""
    apply(engine, config, pack_order(403))
    code = codes(engine, config, 403)[0]
    answer = client.post(f"/claims/{code}", json={"email": "bo@employer.example", "name": "Bo"})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["status"] == "claimed" and body["email"] == "bo@employer.example"
    assert (
        client.post(f"/claims/{code}", json={"email": "cy@example.com", "name": "Cy"}).status_code
        == 409
    )
    unknown = client.post("/claims/" + "a" * 26, json={"email": "cy@example.com", "name": "Cy"})
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "unknown_code"
    assert client.get("/claims/junk").status_code == 404


@pytest.mark.parametrize(
    "body, kwargs, status",
    [
        (None, {"data": b"{not json", "content_type": "application/json"}, 400),
        (None, {"data": b"[1, 2]", "content_type": "application/json"}, 400),
        (None, {"data": b"\xff\xfe", "content_type": "application/json"}, 400),
        ({"email": "x", "name": "X"}, {}, 400),
        ({"email": "x@example.com"}, {}, 400),
        ({"email": ["x@example.com"], "name": "X"}, {}, 400),
        (None, {"data": b"email=x", "content_type": "text/plain"}, 415),
    ],
)
def test_malformed_claims_are_4xx_with_a_json_error(engine, config, client, body, kwargs, status):
    """Bad bodies never reach the database and never answer 5xx."""
    apply(engine, config, pack_order(404))
    code = codes(engine, config, 404)[0]
    answer = (
        client.post(f"/claims/{code}", json=body, **kwargs)
        if body is not None
        else client.post(f"/claims/{code}", **kwargs)
    )
    assert answer.status_code == status
    assert "error" in answer.get_json()


def test_codes_of_a_refunded_order_answer_410(engine, config, client):
    """After the refund the page and the claim both say the code no longer works."""
    apply(engine, config, pack_order(405))
    code = codes(engine, config, 405)[0]
    apply(engine, config, pack_order(405, status="refunded", modified="2026-11-29T10:00:00"))
    assert client.get(f"/claims/{code}").status_code == 410
    answer = client.post(f"/claims/{code}", json={"email": "a@example.com", "name": "A"})
    assert answer.status_code == 410 and answer.get_json()["code"] == "void"


def test_claims_are_limited_per_client_address(engine, database_url):
    """The fourth request in a minute from one address is 429 with Retry-After."""
    config = claim_settings(database_url, claims={"attempts_per_minute": 3})
    client = create_app(config, engine, handlers={}, background=False).test_client()
    statuses = [client.get("/claims/" + "a" * 26).status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    limited = client.get("/claims/" + "a" * 26, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert limited.status_code == 404
    answer = client.post("/claims/" + "a" * 26, json={})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "60"


def test_ten_concurrent_claims_of_one_code_give_exactly_one_place(engine, config):
    """Ten threads against a real threaded server: one 201, nine 409, one holder."""
    apply(engine, config, pack_order(406))
    code = codes(engine, config, 406)[0]
    server = make_server(
        "127.0.0.1", 0, create_app(config, engine, handlers={}, background=False), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/claims/{code}"
    barrier = threading.Barrier(10)

    def claim(index: int) -> int:
        barrier.wait(timeout=10)
        return requests.post(
            url, json={"email": f"e{index}@employer.example", "name": "E"}, timeout=30
        ).status_code

    try:
        with ThreadPoolExecutor(10) as pool:
            statuses = sorted(pool.map(claim, range(10)))
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert statuses == [201] + [409] * 9
    holders = [i for i in range(10) if holdings(engine, f"e{i}@employer.example") == PROJECT]
    assert len(holders) == 1


def test_deeply_nested_json_is_400_not_500(engine, config, client):
    """A body that recurses past the parser's limit is refused as malformed."""
    apply(engine, config, pack_order(407))
    code = codes(engine, config, 407)[0]
    body = b"[" * 100_000 + b"]" * 100_000
    answer = client.post(f"/claims/{code}", data=body, content_type="application/json")
    assert answer.status_code == 400


def test_doctor_fails_the_team_pack_check_without_the_claim_secret(database_url, tmp_path):
    """With a team pack in the catalogue, doctor names BRIDGE_CLAIM_SECRET when it is unset."""
    import shutil

    from bridge.services.operations import run_checks
    from bridge.store.db import make_engine

    catalogue = tmp_path / "catalog.toml"
    shutil.copy(ROOT / "catalog.example.toml", catalogue)
    engine = make_engine(database_url)
    try:
        without = {
            row["check"]: row
            for row in run_checks(
                claim_settings(
                    database_url, claims={"secret": None}, catalogue={"file": catalogue}
                ),
                engine,
            )
        }
        with_secret = {
            row["check"]: row
            for row in run_checks(
                claim_settings(database_url, catalogue={"file": catalogue}), engine
            )
        }
    finally:
        engine.dispose()
    assert without["team packs"]["ok"] is False
    assert "BRIDGE_CLAIM_SECRET" in without["team packs"]["fix"]
    assert with_secret["team packs"]["ok"] is True
    assert "https://bridge.example.com" in with_secret["team packs"]["detail"]


def test_doctor_fails_the_team_pack_check_without_the_public_url(database_url, tmp_path):
    """Claim links in a note WooCommerce e-mails must be absolute: no BRIDGE_PUBLIC_URL fails."""
    import shutil

    from bridge.services.operations import run_checks
    from bridge.store.db import make_engine

    catalogue = tmp_path / "catalog.toml"
    shutil.copy(ROOT / "catalog.example.toml", catalogue)
    engine = make_engine(database_url)
    try:
        rows = {
            row["check"]: row
            for row in run_checks(
                claim_settings(
                    database_url, web={"public_url": None}, catalogue={"file": catalogue}
                ),
                engine,
            )
        }
    finally:
        engine.dispose()
    assert rows["team packs"]["ok"] is False
    assert "BRIDGE_PUBLIC_URL" in rows["team packs"]["fix"]


def test_behind_a_proxy_the_limit_counts_the_forwarded_client_address(engine, database_url):
    """With one proxy hop, two clients behind the same proxy are limited apart."""
    config = claim_settings(database_url, claims={"attempts_per_minute": 2}, web={"proxy_hops": 1})
    client = create_app(config, engine, handlers={}, background=False).test_client()

    def get(address: str) -> int:
        return client.get(
            "/claims/" + "a" * 26, headers={"X-Forwarded-For": f"203.0.113.9, {address}"}
        ).status_code

    assert [get("198.51.100.1") for _ in range(3)] == [404, 404, 429]
    assert get("198.51.100.2") == 404
