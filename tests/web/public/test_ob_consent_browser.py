"""Connecting a wallet in Debian's Chromium on a phone (390 px), with axe-core injected: the
consent page (sign in with the page link, Allow) sends the browser back to the wallet with a
code Authlib's client exchanges, and the learner disconnects the app from their page. Nothing
serious or critical on any of the pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.support.axe import describe, new_axe_context, violations
from tests.support.credentials import PUBLIC_URL

pytestmark = pytest.mark.browser
API = "/ims/ob/v3p0"
READ = "https://purl.imsglobal.org/spec/ob/v3p0/scope/credential.readonly"
REDIRECT = "https://wallet.example.org/callback"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def loopback_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Authlib's client may speak OAuth over plain HTTP to the test server on the loopback."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def clean(page: Any) -> None:
    found = violations(page)
    assert found == [], describe(found)


def test_a_learner_connects_a_wallet_and_disconnects_it_in_chromium(browser, site) -> None:  # type: ignore[no-untyped-def]
    base, token = site
    client = requests.post(
        f"{base}{API}/register",
        json={
            "client_name": "Pocket Wallet",
            "client_uri": "https://wallet.example.org/",
            "logo_uri": "https://wallet.example.org/logo.png",
            "tos_uri": "https://wallet.example.org/tos",
            "policy_uri": "https://wallet.example.org/privacy",
            "software_id": "pocket-wallet",
            "software_version": "1.0",
            "redirect_uris": [REDIRECT],
            "scope": READ,
        },
        timeout=10,
    ).json()
    oauth = OAuth2Session(
        client["client_id"],
        client["client_secret"],
        scope=READ,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(f"{base}{API}/authorize", code_verifier=verifier)

    context = new_axe_context(browser, **PHONE)
    page = context.new_page()
    landed: list[str] = []

    def wallet(route: Any) -> None:  # the wallet's own site, which is not on this machine
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>wallet</title>")

    page.route("https://wallet.example.org/**", wallet)
    page.route("https://wallet.example.org/**/*", wallet)
    page.goto(url)
    assert page.get_by_role("heading", name="Pocket Wallet").is_visible()
    clean(page)
    page.get_by_label("Paste the link to your personal page").fill(f"{PUBLIC_URL}/me/{token}")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("heading", name="Allow Pocket Wallet?").is_visible()
    clean(page)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{REDIRECT}*")
    (back,) = [u for u in landed if u.startswith(REDIRECT)]
    assert parse_qs(urlsplit(back).query)["state"] == [state]
    tokens = oauth.fetch_token(
        f"{base}{API}/token", authorization_response=back, code_verifier=verifier, scope=READ
    )
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{base}{API}/credentials", headers=bearer, timeout=10).status_code == 200

    page.goto(f"{base}/me/{token}")
    page.get_by_role("link", name="Connected apps").click()
    assert page.get_by_text("Pocket Wallet").first.is_visible()
    clean(page)
    page.get_by_role("button", name="Disconnect Pocket Wallet").click()
    assert page.get_by_text("No app is connected.").is_visible()
    clean(page)
    refused = requests.get(f"{base}{API}/credentials", headers=bearer, timeout=10)
    assert refused.status_code == 401
    context.close()
