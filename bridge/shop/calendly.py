"""Create the Calendly webhook subscription the bridge needs, through Calendly's API v2.

The HTTP session is passed in (a ``requests.Session``), so tests fake Calendly with
``responses``. The personal access token is used for these calls only and never stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from bridge.errors import PermanentError, RetryableError

API = "https://api.calendly.com"
EVENTS = (
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
)
TIMEOUT = (5.0, 15.0)


class CalendlyRefused(PermanentError):
    """Calendly refused a call (token, plan, scope); the message says what to do."""


class CalendlyUnavailable(RetryableError):
    """Calendly could not be reached or answered 5xx."""


@dataclass(frozen=True)
class Installed:
    action: str  # created, exists, replaced
    uri: str
    callback_url: str
    scope: str
    events: tuple[str, ...]
    state: str


def _call(http: requests.Session, method: str, path: str, token: str, **kwargs: Any) -> Any:
    url = path if path.startswith("http") else API + path
    try:
        response = http.request(
            method, url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
    except requests.RequestException as exc:
        raise CalendlyUnavailable(f"Calendly is unreachable: {type(exc).__name__}") from None
    if response.status_code >= 500:
        raise CalendlyUnavailable(f"Calendly answered {response.status_code}; try again later")
    if response.status_code in (401, 403):
        what = (
            (
                "the token was refused: create a personal access token in Calendly "
                "(Integrations > API & Webhooks)"
            )
            if response.status_code == 401
            else (
                "Calendly refused: webhooks need a paid plan, and organization scope needs an "
                "owner's or admin's token"
            )
        )
        raise CalendlyRefused(f"{what} ({response.status_code} {_message(response)})")
    if response.status_code >= 400:
        raise CalendlyRefused(f"Calendly answered {response.status_code}: {_message(response)}")
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise CalendlyUnavailable("Calendly answered something that is not JSON") from None


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, Mapping):
        return str(body.get("message") or body.get("title") or "")[:300]
    return ""


def install_calendly_webhook(
    http: requests.Session,
    token: str,
    callback_url: str,
    signing_key: str,
    *,
    scope: str = "organization",
    replace: bool = False,
    events: Sequence[str] = EVENTS,
) -> Installed:
    """Subscribe ``callback_url`` to invitee events, signed with ``signing_key``.

    An active subscription to the same URL is kept (Calendly cannot show its signing key)
    unless ``replace``; a disabled one is deleted and created again, as Calendly requires.
    """
    me = _call(http, "GET", "/users/me", token).get("resource") or {}
    user, organization = me.get("uri"), me.get("current_organization")
    if not user or not organization:
        raise CalendlyRefused("Calendly's /users/me named no user or organization")
    params = {"organization": organization, "scope": scope}
    if scope == "user":
        params["user"] = user
    existing = None
    page = _call(http, "GET", "/webhook_subscriptions", token, params=params)
    for hook in page.get("collection") or []:
        if isinstance(hook, Mapping) and hook.get("callback_url") == callback_url:
            existing = hook
    action = "created"
    if existing is not None:
        if existing.get("state") == "active" and not replace:
            return Installed(
                "exists",
                str(existing.get("uri")),
                callback_url,
                scope,
                tuple(existing.get("events") or ()),
                "active",
            )
        _call(http, "DELETE", str(existing["uri"]), token)
        action = "replaced"
    body: dict[str, Any] = {
        "url": callback_url,
        "events": list(events),
        "organization": organization,
        "scope": scope,
        "signing_key": signing_key,
    }
    if scope == "user":
        body["user"] = user
    created = _call(http, "POST", "/webhook_subscriptions", token, json=body).get("resource") or {}
    return Installed(
        action,
        str(created.get("uri", "")),
        callback_url,
        scope,
        tuple(created.get("events") or events),
        str(created.get("state", "active")),
    )
