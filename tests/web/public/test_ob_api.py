"""The Open Badges 3.0 API from the other side, over real HTTP: Authlib's client (OAuth2Session)
registers, runs the authorization code grant with PKCE S256 through the consent page, walks
every page of getCredentials and verifies each compact JWS with jwcrypto against the JWKS;
refusals for a wrong verifier, a reused code, an expired token, another learner's token, a
missing scope, a disconnected app and a blocked client."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from sqlmodel import select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.credentials import import_csv, issuing_factory
from bridge.services.operations import add_operator
from bridge.services.wallets import register_client, save_token
from bridge.store.db import unit_of_work
from bridge.store.models import AuditEvent, Learner, WalletClient, WalletCode, WalletToken
from tests.support.browser import serve
from tests.support.console import ADMIN, PASSWORD, SECRET_KEY, csrf_of
from tests.support.credentials import PUBLIC_URL, buy, example_catalogue, verify_vc_jwt
from tests.support.learner_page import link_of, page_settings
from tests.support.paths import FIXTURES
from webhooks import create_app

pytestmark = pytest.mark.both_databases
API = "/ims/ob/v3p0"
SCOPE = "https://purl.imsglobal.org/spec/ob/v3p0/scope/"
READ = SCOPE + "credential.readonly"
PROFILE = SCOPE + "profile.readonly"
REDIRECT = "https://wallet.example.org/callback"
PROFILE_SCHEMA = FIXTURES / "credentials" / "schema" / "ghpages_profile.json"
STATUS_SCHEMA = FIXTURES / "credentials" / "schema" / "ghpages_imsx_statusinfo.json"
RESPONSE_SCHEMA = (
    FIXTURES / "credentials" / "schema" / "ghpages_getopenbadgecredentialsresponse.json"
)


class Clock:
    """The app's clock, moved by the tests (token and code expiry)."""

    def __init__(self) -> None:
        from bridge.store.models import utcnow

        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(engine, database_url, tmp_path, clock, monkeypatch) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Ann holds two credentials (assessment and project, on a catalogue without pathways, so
    no record), Bo one; the app served on 127.0.0.1."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on the loopback only
    settings = page_settings(database_url, tmp_path, console={"secret_key": SECRET_KEY})
    buy(engine, "ASSESS-DV", order_id=801)
    buy(engine, "PROJ-DATAVIZ", order_id=802)
    buy(engine, "ASSESS-DV", "bo@example.com", customer_id=8, order_id=803)
    csv = (
        "kind,learner,sku,occurred_at\n"
        "assessment_passed,ann@example.com,ASSESS-DV,2026-11-20\n"
        "project_accepted,ann@example.com,PROJ-DATAVIZ,2026-11-30\n"
        "assessment_passed,bo@example.com,ASSESS-DV,2026-11-21\n"
    )

    def no_pathways() -> Catalogue:
        return dataclasses.replace(example_catalogue(), pathways={})

    result = import_csv(engine, csv, "UTC", issuing=issuing_factory(settings, no_pathways))
    assert result.committed, result
    app = create_app(settings, engine, handlers={}, background=False, clock=clock)
    app.extensions["bridge"] = dataclasses.replace(
        app.extensions["bridge"], catalogue=example_catalogue
    )
    with serve(app) as base:
        yield {
            "base": base,
            "ann": link_of(engine, settings, "ann@example.com"),
            "bo": link_of(engine, settings, "bo@example.com"),
        }


def local(url: str, base: str) -> str:
    """The bridge's public URL (in discovery and Link headers) is served here on 127.0.0.1."""
    return url.replace(PUBLIC_URL, base)


def register(base: str, scope: str = f"{READ} {PROFILE} offline_access") -> dict[str, Any]:
    discovery = requests.get(f"{base}{API}/discovery", timeout=10).json()
    scheme = discovery["components"]["securitySchemes"]["OAuth2ACG"]
    answer = requests.post(
        local(scheme["x-imssf-registrationUrl"], base),
        json={
            "client_name": "Pocket Wallet",
            "client_uri": "https://wallet.example.org/",
            "logo_uri": "https://wallet.example.org/logo.png",
            "tos_uri": "https://wallet.example.org/tos",
            "policy_uri": "https://wallet.example.org/privacy",
            "software_id": "pocket-wallet",
            "software_version": "1.0",
            "redirect_uris": [REDIRECT],
            "scope": scope,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["client_secret_expires_at"] == 0 and body["client_id_issued_at"] > 0
    body["flows"] = scheme["flows"]["authorizationCode"]
    return body


def session_for(client: dict[str, Any], scope: str = f"{READ} {PROFILE}") -> OAuth2Session:
    return OAuth2Session(
        client["client_id"],
        client["client_secret"],
        scope=scope,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def consent(base: str, url: str, page_token: str, step: str = "approve") -> requests.Response:
    """The learner in a browser: opens the authorize URL, pastes their page link, decides."""
    browser = requests.Session()
    page = browser.get(local(url, base), timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    target = local(url, base)
    link = f"{PUBLIC_URL}/me/{page_token}"
    asked = browser.post(
        target, data={"csrf": csrf.group(1), "step": "sign-in", "link": link}, timeout=10
    )
    assert asked.status_code == 200 and "Allow Pocket Wallet?" in asked.text, asked.text
    return browser.post(
        target,
        data={"csrf": csrf.group(1), "step": step, "link": link},
        allow_redirects=False,
        timeout=10,
    )


def connect(served: dict[str, Any], client: dict[str, Any], who: str = "ann") -> dict[str, Any]:
    """Authorize and exchange the code: the token Authlib's client holds."""
    oauth = session_for(client)
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(
        client["flows"]["authorizationUrl"], code_verifier=verifier, state=generate_token(16)
    )
    answer = consent(served["base"], url, served[who])
    assert answer.status_code == 302
    back = answer.headers["Location"]
    assert back.startswith(REDIRECT) and parse_qs(urlsplit(back).query)["state"] == [state]
    token: dict[str, Any] = oauth.fetch_token(
        local(client["flows"]["tokenUrl"], served["base"]),
        authorization_response=back,
        code_verifier=verifier,
        scope=f"{READ} {PROFILE}",
    )
    return token


def jwks(base: str) -> dict[str, Any]:
    document: dict[str, Any] = requests.get(f"{base}/issuer/jwks.json", timeout=10).json()
    return document


def api_get(base: str, path: str, token: dict[str, Any]) -> requests.Response:
    """GET an Open Badges API path with the wallet's access token."""
    return requests.get(
        f"{base}{API}{path}",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )


def imsx(answer: requests.Response, status: int, minor: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    jsonschema.validate(body, json.loads(STATUS_SCHEMA.read_text(encoding="utf-8")))
    field = body["imsx_codeMinor"]["imsx_codeMinorField"][0]
    assert field["imsx_codeMinorFieldValue"] == minor


def walk(base: str, token: dict[str, Any], limit: int = 1) -> list[str]:
    """Every page of getCredentials by its Link next, checking the paging headers."""
    url = f"{base}{API}/credentials?limit={limit}&offset=0"
    found: list[str] = []
    schema = json.loads(RESPONSE_SCHEMA.read_text(encoding="utf-8"))
    while url:
        answer = requests.get(
            url, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        jsonschema.validate(answer.json(), schema)
        found += answer.json()["compactJwsString"]
        links = answer.links
        assert "last" in links and "first" in links
        total = int(answer.headers["X-Total-Count"])
        url = local(links["next"]["url"], base) if "next" in links else ""
        assert len(found) <= total
    assert len(found) == total
    return found


def test_a_wallet_connects_pages_refreshes_and_is_disconnected_by_the_learner(served, engine):  # type: ignore[no-untyped-def]
    """Done when: register, authorize as Ann (two credentials), pages of one with
    X-Total-Count 2 and Link next/last, refresh, disconnect on Ann's page, next call refused."""
    base = served["base"]
    client = register(base)
    token = connect(served, client)
    assert token["token_type"].lower() == "bearer" and token["expires_in"] == 3600
    assert set(token["scope"].split()) == {READ, PROFILE}
    first = api_get(base, "/credentials?limit=1", token)
    assert first.headers["X-Total-Count"] == "2"
    assert set(first.links) == {"next", "last", "first"}
    tokens = walk(base, token)
    keys = jwks(base)
    payloads = [verify_vc_jwt(jws, keys) for jws in tokens]
    assert len(payloads) == 2 and len({p["id"] for p in payloads}) == 2
    skus = sorted(p["credentialSubject"]["achievement"]["name"] for p in payloads)
    assert skus == sorted(set(skus))  # the two different achievements

    profile = api_get(base, "/profile", token).json()
    assert profile["email"] == "ann@example.com" and profile["type"] == ["Profile"]
    jsonschema.validate(profile, json.loads(PROFILE_SCHEMA.read_text(encoding="utf-8")))

    refreshed = session_for(client).refresh_token(
        local(client["flows"]["refreshUrl"], base),
        refresh_token=token["refresh_token"],
        scope=f"{READ} {PROFILE}",
    )
    assert refreshed["access_token"] != token["access_token"]
    old = api_get(base, "/credentials", token)
    imsx(old, 401, "unauthorizedrequest")
    assert len(walk(base, refreshed, limit=5)) == 2

    page = requests.get(f"{base}/me/{served['ann']}", timeout=10).text
    apps_path = re.search(r'href="(/me/[^"]+/apps)"', page)
    assert apps_path is not None, "the learner's page links to the connected apps"
    apps = requests.get(f"{base}{apps_path.group(1)}", timeout=10)
    assert "Pocket Wallet" in apps.text and apps.headers["X-Frame-Options"] == "DENY"
    action = re.search(r'<form method="post" action="([^"]+)"', apps.text)
    assert action is not None
    gone = requests.post(f"{base}{action.group(1)}", timeout=10)
    assert gone.status_code == 200 and "No app is connected." in gone.text
    refused = api_get(base, "/credentials", refreshed)
    imsx(refused, 401, "unauthorizedrequest")
    with pytest.raises(Exception, match="invalid_grant"):
        session_for(client).refresh_token(
            local(client["flows"]["refreshUrl"], base),
            refresh_token=refreshed["refresh_token"],
            scope=READ,
        )
    with unit_of_work(engine) as session:
        stored = session.exec(select(WalletToken)).all()
        assert all(len(row.access_hash) == 64 for row in stored)
        assert not {row.access_hash for row in stored} & {
            token["access_token"],
            refreshed["access_token"],
        }
        (row,) = session.exec(select(WalletClient)).all()
        assert row.secret_hash != client["client_secret"]


def _code_and_verifier(served: dict[str, Any], client: dict[str, Any]) -> tuple[str, str, str]:
    oauth = session_for(client)
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(
        client["flows"]["authorizationUrl"], code_verifier=verifier, state="s1"
    )
    answer = consent(served["base"], url, served["ann"])
    back = answer.headers["Location"]
    return back, verifier, parse_qs(urlsplit(back).query)["code"][0]


def test_wrong_verifier_reused_code_and_expired_token_are_refused(served, engine, clock):  # type: ignore[no-untyped-def]
    base = served["base"]
    client = register(base)
    token_url = local(client["flows"]["tokenUrl"], base)
    back, verifier, _ = _code_and_verifier(served, client)
    with pytest.raises(Exception, match="invalid_grant"):
        session_for(client).fetch_token(
            token_url, authorization_response=back, code_verifier=generate_token(48), scope=READ
        )

    back, verifier, _ = _code_and_verifier(served, client)
    token = session_for(client).fetch_token(
        token_url, authorization_response=back, code_verifier=verifier, scope=READ
    )
    with pytest.raises(Exception, match="invalid_grant"):
        session_for(client).fetch_token(
            token_url, authorization_response=back, code_verifier=verifier, scope=READ
        )
    # The reuse revoked what the code had issued.
    imsx(
        api_get(base, "/credentials", token),
        401,
        "unauthorizedrequest",
    )

    token = connect(served, client)
    clock.now += timedelta(hours=1, seconds=1)
    imsx(
        api_get(base, "/credentials", token),
        401,
        "unauthorizedrequest",
    )
    with unit_of_work(engine) as session:
        assert all(row.used_at is not None for row in session.exec(select(WalletCode)).all())


def test_another_learners_token_missing_scope_and_a_blocked_client(served, engine, clock):  # type: ignore[no-untyped-def]
    base = served["base"]
    reader = register(base, scope=READ)
    bo = connect_with(served, reader, "bo", scope=READ)
    bo_tokens = walk(base, bo)
    assert len(bo_tokens) == 1  # Bo's one credential, never Ann's
    subject = verify_vc_jwt(bo_tokens[0], jwks(base))["credentialSubject"]
    assert "ann@example.com" not in json.dumps(subject)
    imsx(
        api_get(base, "/profile", bo),
        403,
        "forbidden",
    )
    imsx(requests.get(f"{base}{API}/credentials", timeout=10), 401, "unauthorizedrequest")
    imsx(
        api_get(base, "/credentials?limit=0", bo),
        400,
        "invalid_query_parameter",
    )
    # An admin blocks the app on the console (over HTTP, with the session's CSRF token).
    add_operator(engine, ADMIN, PASSWORD, "admin")
    console = requests.Session()
    login = console.get(f"{base}/console/login", timeout=10).text
    console.post(
        f"{base}/console/login",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(login)},
        timeout=10,
    )
    listing = console.get(f"{base}/console/apps", timeout=10)
    assert listing.status_code == 200 and "Pocket Wallet" in listing.text
    assert reader["client_id"] in listing.text
    blocked = console.post(
        f"{base}/console/apps/{reader['client_id']}/block",
        data={"csrf_token": csrf_of(listing.text), "reason": "leaked secret"},
        timeout=10,
    )
    assert blocked.status_code == 200 and "blocked" in blocked.text
    with unit_of_work(engine) as session:
        (audit,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "wallet_client.block")
        ).all()
        assert (audit.operator, audit.reason) == (ADMIN, "leaked secret")
    imsx(
        api_get(base, "/credentials", bo),
        401,
        "unauthorizedrequest",
    )


def connect_with(
    served: dict[str, Any], client: dict[str, Any], who: str, scope: str
) -> dict[str, Any]:
    oauth = session_for(client, scope=scope)
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(
        client["flows"]["authorizationUrl"], code_verifier=verifier, state="s2"
    )
    answer = consent(served["base"], url, served[who])
    token: dict[str, Any] = oauth.fetch_token(
        local(client["flows"]["tokenUrl"], served["base"]),
        authorization_response=answer.headers["Location"],
        code_verifier=verifier,
        scope=scope,
    )
    return token


def test_registration_refuses_incomplete_metadata_and_authorize_refuses_plain_pkce(served):  # type: ignore[no-untyped-def]
    base = served["base"]
    bad = requests.post(
        f"{base}{API}/register",
        json={"client_name": "X", "redirect_uris": ["http://evil.example/cb"], "scope": READ},
        timeout=10,
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client_metadata"
    client = register(base)
    plain = requests.get(
        f"{base}{API}/authorize",
        params={
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "scope": READ,
            "state": "x",
            "code_challenge": "a" * 43,
            "code_challenge_method": "plain",
        },
        timeout=10,
    )
    assert plain.status_code == 400
    forged = requests.post(
        f"{base}{API}/authorize",
        params={
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "scope": READ,
            "state": "x",
            "code_challenge": "a" * 43,
            "code_challenge_method": "S256",
        },
        data={"csrf": "guess", "step": "approve", "link": f"{PUBLIC_URL}/me/{served['ann']}"},
        allow_redirects=False,
        timeout=10,
    )
    assert forged.status_code == 400 and "Location" not in forged.headers


def test_an_erased_learners_tokens_stop_working(served, engine, clock):  # type: ignore[no-untyped-def]
    """Erasure (issue 34) sets erased_at: the app's next call is refused, its tokens revoked."""
    base = served["base"]
    token = connect(served, register(base))
    with unit_of_work(engine) as session:
        learner = session.exec(select(Learner).where(Learner.email == "ann@example.com")).one()
        learner.erased_at = clock()
        session.add(learner)
        session.commit()
    imsx(
        api_get(base, "/credentials", token),
        401,
        "unauthorizedrequest",
    )
    with unit_of_work(engine) as session:
        assert all(row.revoked_at is not None for row in session.exec(select(WalletToken)).all())


def test_behind_a_tls_proxy_the_oauth_endpoints_work_and_plain_http_is_refused(
    engine, database_url, tmp_path
):  # type: ignore[no-untyped-def]
    """TLS ends at the proxy (X-Forwarded-Proto: https): Authlib sees the https URL the client
    used. Plain HTTP from outside the loopback gets an OAuth error, never a 500."""
    app = create_app(page_settings(database_url, tmp_path), engine, handlers={}, background=False)
    web = app.test_client()
    outside = {"base_url": "http://bridge.example.com"}
    plain = web.post(f"{API}/token", data={"grant_type": "authorization_code"}, **outside)
    assert plain.status_code == 400 and plain.get_json()["error"] == "insecure_transport"
    proxied = web.post(
        f"{API}/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"X-Forwarded-Proto": "https"},
        auth=("nobody", "wrong"),
        **outside,
    )
    assert proxied.status_code == 401 and proxied.get_json()["error"] == "invalid_client"


def test_records_are_served_with_the_credentials_and_since_filters(
    engine, database_url, tmp_path, clock
):  # type: ignore[no-untyped-def]
    """A completed pathway's CLR 2.0 record comes with the two credentials it carries, each a
    JWS that verifies; `since` after the last issue leaves none (X-Total-Count 0). The
    discovery document carries what the spec requires."""
    settings = page_settings(database_url, tmp_path)
    buy(engine, "PROJ-DATAVIZ", order_id=811)
    buy(engine, "ASSESS-DV", order_id=812)
    csv = (
        "kind,learner,sku,occurred_at\n"
        "project_accepted,ann@example.com,PROJ-DATAVIZ,2026-11-20\n"
        "assessment_passed,ann@example.com,ASSESS-DV,2026-11-30\n"
    )
    issuing = issuing_factory(settings, example_catalogue)
    assert import_csv(engine, csv, "UTC", issuing=issuing).committed
    with unit_of_work(engine) as session:
        ann = session.exec(select(Learner).where(Learner.email == "ann@example.com")).one()
        register_client(session, "c1", "s1", {"redirect_uris": [REDIRECT]}, clock())
        save_token(
            session,
            {"access_token": "t" * 42, "expires_in": 3600, "scope": READ},
            client_id="c1",
            learner_id=ann.id,
            code_id=None,
            now=clock(),
        )
        session.commit()
    app = create_app(settings, engine, handlers={}, background=False, clock=clock)
    web = app.test_client()
    bearer = {"Authorization": "Bearer " + "t" * 42}
    answer = web.get(f"{API}/credentials", headers=bearer)
    assert answer.status_code == 200 and answer.headers["X-Total-Count"] == "3"
    keys = web.get("/issuer/jwks.json").get_json()
    types = sorted(
        verify_vc_jwt(jws, keys)["type"][-1] for jws in answer.get_json()["compactJwsString"]
    )
    assert types == ["ClrCredential", "OpenBadgeCredential", "OpenBadgeCredential"]
    later = (clock() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    none = web.get(f"{API}/credentials?since={later}", headers=bearer)
    assert none.headers["X-Total-Count"] == "0" and none.get_json() == {"compactJwsString": []}
    discovery = web.get(f"{API}/discovery").get_json()
    info = discovery["info"]
    assert info["termsOfService"] and info["x-imssf-privacyPolicyUrl"] and info["version"]
    scheme = discovery["components"]["securitySchemes"]["OAuth2ACG"]
    assert scheme["type"] == "oauth2"
    assert scheme["x-imssf-registrationUrl"] == f"{PUBLIC_URL}{API}/register"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"].startswith("https://") and READ in flow["scopes"]


UPSERT = SCOPE + "credential.upsert"
ELSEWHERE = "https://college.example.edu"


def elsewhere_credential(number: int, name: str = "Statistics I") -> dict[str, Any]:
    """An OB 3.0 AchievementCredential another issuer gave Ann (valid by the OB schema)."""
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": f"{ELSEWHERE}/credentials/{number}",
        "type": ["VerifiableCredential", "AchievementCredential"],
        "issuer": {"id": f"{ELSEWHERE}/issuer", "type": ["Profile"], "name": "College"},
        "validFrom": "2026-06-01T00:00:00Z",
        "name": name,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "achievement": {
                "id": f"{ELSEWHERE}/achievements/{number}",
                "type": ["Achievement"],
                "name": name,
                "description": "A course passed elsewhere.",
                "criteria": {"narrative": "Passed the exam."},
            },
        },
    }


def signed_elsewhere(document: dict[str, Any]) -> str:
    """The credential as a VC-JWT of its own issuer, signed with jwcrypto (not the bridge)."""
    from jwcrypto import jwk, jws

    key = jwk.JWK.generate(kty="EC", crv="P-256")
    claims = {**document, "iss": document["issuer"]["id"], "jti": document["id"]}
    signed = jws.JWS(json.dumps(claims).encode())
    signed.add_signature(key, alg="ES256", protected={"alg": "ES256", "typ": "JWT"})
    compact: str = signed.serialize(compact=True)
    return compact


def test_an_app_stores_credentials_for_the_learner_and_never_replaces_the_bridges(served, engine):  # type: ignore[no-untyped-def]
    """upsertCredential through Authlib's client: a JWS and a JSON credential from elsewhere
    are created (201), the JSON one replaced (200), getCredentials returns both as sent after
    Ann's own; one the bridge issued is refused (409), so is a bad shape, a token without the
    upsert scope, and Bo never sees Ann's."""
    base = served["base"]
    discovery = requests.get(f"{base}{API}/discovery", timeout=10).json()
    post = discovery["paths"]["/credentials"]["post"]
    assert post["operationId"] == "upsertCredential"
    assert post["security"] == [{"OAuth2ACG": [UPSERT]}]
    assert (
        UPSERT
        in discovery["components"]["securitySchemes"]["OAuth2ACG"]["flows"]["authorizationCode"][
            "scopes"
        ]
    )
    client = register(base, scope=f"{READ} {UPSERT}")
    wallet = session_for(client, scope=f"{READ} {UPSERT}")
    wallet.token = connect_with(served, client, "ann", scope=f"{READ} {UPSERT}")
    url = f"{base}{API}/credentials"
    compact = signed_elsewhere(elsewhere_credential(1))
    created = wallet.post(url, data=compact, headers={"Content-Type": "text/plain"}, timeout=10)
    assert created.status_code == 201 and created.text == compact
    first = wallet.post(url, json=elsewhere_credential(2), timeout=10)
    assert first.status_code == 201 and first.json()["name"] == "Statistics I"
    again = wallet.post(url, json=elsewhere_credential(2, "Statistics II"), timeout=10)
    assert again.status_code == 200 and again.json()["name"] == "Statistics II"

    listing = wallet.get(f"{url}?limit=50", timeout=10)
    assert listing.status_code == 200 and listing.headers["X-Total-Count"] == "4"
    body = listing.json()
    jsonschema.validate(body, json.loads(RESPONSE_SCHEMA.read_text(encoding="utf-8")))
    assert len(body["compactJwsString"]) == 3 and body["compactJwsString"][-1] == compact
    assert body["credential"] == [elsewhere_credential(2, "Statistics II")]
    pages = [wallet.get(f"{url}?limit=1&offset={n}", timeout=10).json() for n in range(4)]
    assert [len(p["compactJwsString"]) + len(p.get("credential", [])) for p in pages] == [1] * 4
    assert pages[3]["credential"] == body["credential"]

    ours = body["compactJwsString"][0]
    own = verify_vc_jwt(ours, jwks(base))
    imsx(wallet.post(url, data=ours, headers={"Content-Type": "text/plain"}), 409, "forbidden")
    forged = {**elsewhere_credential(3), "id": own["id"]}
    imsx(wallet.post(url, json=forged, timeout=10), 409, "forbidden")
    imposter = {**elsewhere_credential(4), "issuer": {"id": f"{PUBLIC_URL}/issuer"}}
    imsx(wallet.post(url, json=imposter, timeout=10), 409, "forbidden")
    imsx(wallet.post(url, json={"type": ["VerifiableCredential"]}, timeout=10), 400, "invalid_data")
    imsx(
        wallet.post(url, data="not.a.jws", headers={"Content-Type": "text/plain"}),
        400,
        "invalid_data",
    )
    imsx(
        wallet.post(url, data=b"x" * 300_000, headers={"Content-Type": "text/plain"}),
        413,
        "invalid_data",
    )
    imsx(
        wallet.post(url, data="<vc/>", headers={"Content-Type": "application/xml"}),
        415,
        "invalid_data",
    )
    assert wallet.get(f"{url}?limit=50", timeout=10).headers["X-Total-Count"] == "4"
    assert verify_vc_jwt(ours, jwks(base))["id"] == own["id"]  # the bridge's is untouched

    reader = register(base, scope=READ)
    refused = requests.post(
        url,
        json=elsewhere_credential(5),
        headers={
            "Authorization": f"Bearer {connect_with(served, reader, 'ann', READ)['access_token']}"
        },
        timeout=10,
    )
    imsx(refused, 403, "forbidden")
    bo = connect_with(served, reader, "bo", scope=READ)
    bos = requests.get(url, headers={"Authorization": f"Bearer {bo['access_token']}"}, timeout=10)
    assert bos.headers["X-Total-Count"] == "1" and "credential" not in bos.json()
    assert compact not in bos.text and "Statistics" not in bos.text
