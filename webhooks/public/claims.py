"""GET and POST /claims/<code>: the public page where a team member claims a place.

No login: the code in the link is the credential (128 bits). The form carries a signed token
(issue time + HMAC under the claim secret, bound to the code), so another site cannot make a
visitor's browser submit it; a JSON POST needs no token, since a browser cannot send
``application/json`` across sites without a CORS preflight, which this service never grants.
Requests are limited per client address (in memory, per process). Nothing here answers 5xx
for bad input: unknown 404, claimed 409, void 410, limited 429, malformed 400.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy.exc import OperationalError

from bridge.rules.claims import ClaimPlaceStatus, form_token, form_token_valid, normalise_code
from bridge.rules.inbound.payloads import BodyRefused, parse_json_body
from bridge.services.team_packs import ClaimRefused, claim_place, view_place
from bridge.store.db import DatabaseUnavailable
from webhooks.runtime import client_address, runtime

log = logging.getLogger(__name__)
claims_page = Blueprint("claims_page", __name__, template_folder="templates")

FORM_MAX_AGE = 24 * 3600
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


class AddressLimiter:
    """At most ``limit`` requests per client address per minute, counted in this process."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(address, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle addresses: memory stays bounded
                cutoff = now - self.window
                for idle in [a for a, h in self._hits.items() if not h or h[-1] <= cutoff]:
                    del self._hits[idle]
            return True


def init_claims(app: Flask, attempts_per_minute: int) -> None:
    """Register the pages and their per-address limiter on the app."""
    app.extensions["claim_limiter"] = AddressLimiter(attempts_per_minute)
    app.register_blueprint(claims_page)


def _wants_json() -> bool:
    if request.method == "POST":
        # Only the page's own form gets a page back; anything else is an API call.
        return request.mimetype not in FORM_TYPES
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _answer(
    status: int, body: dict[str, Any], *, code: str = "", page: str = "claim.html", **context: Any
) -> Response:
    if _wants_json():
        response = jsonify(body)
    else:
        response = Response(
            render_template(page, status=status, body=body, code=code, **context),
            mimetype="text/html",
        )
    response.status_code = status
    response.headers.update(SECURITY_HEADERS)
    return response


def _refused(exc: ClaimRefused, code: str) -> Response:
    body: dict[str, Any] = {"error": str(exc), "code": exc.code}
    if exc.field:
        body["field"] = exc.field
    return _answer(exc.status, body, code=code)


def _limited(code: str) -> Response | None:
    limiter: AddressLimiter = current_app.extensions["claim_limiter"]
    if limiter.allow(client_address(runtime().settings.web.proxy_hops)):
        return None
    response = _answer(
        429,
        {"error": "too many requests from this address; wait a minute", "code": "rate_limited"},
        code=code,
    )
    response.headers["Retry-After"] = "60"
    return response


@claims_page.get("/claims/<code>")
def show(code: str) -> Response:
    """The claim form, or why the code cannot be claimed."""
    limited = _limited(code)
    if limited is not None:
        return limited
    rt = runtime()
    normal = normalise_code(code)
    try:
        if normal is None:
            raise ClaimRefused(404, "unknown_code", "no place has this code")
        place = view_place(rt.engine, normal, rt.settings)
    except ClaimRefused as exc:
        return _refused(exc, code)
    except (DatabaseUnavailable, OperationalError):
        return _answer(
            503,
            {"error": "database unavailable; try again shortly", "code": "unavailable"},
            code=code,
        )
    if place.status != ClaimPlaceStatus.OPEN:
        return _answer(
            409,
            {"error": "this place has already been claimed", "code": "already_claimed"},
            code=code,
        )
    if not rt.settings.claims.secret:
        # A real place, but no key to sign its form with: the service is misconfigured.
        log.error("claim page without BRIDGE_CLAIM_SECRET: its form cannot be signed")
        return _answer(
            503,
            {
                "error": "claims are not set up on this service yet; try later",
                "code": "not_configured",
            },
            code=code,
        )
    token = form_token(rt.settings.claims.secret or "", normal, int(time.time()))
    return _answer(
        200,
        {
            "status": ClaimPlaceStatus.OPEN,
            "offer": place.offer_sku,
            "title": place.title,
            "confers": place.confers,
        },
        code=normal,
        token=token,
        place=place,
    )


def _claimant() -> tuple[Any, Any, str | None]:
    """E-mail, name and form token from a JSON or form body; raises ClaimRefused on junk."""
    if request.mimetype == "application/json":
        try:
            data = parse_json_body(request.get_data(cache=False) or b"null", storable=True)
        except BodyRefused as exc:
            raise ClaimRefused(400, "invalid_json", str(exc).removeprefix("body ")) from None
        if not isinstance(data, dict):
            raise ClaimRefused(400, "invalid_json", "send a JSON object with email and name")
        return data.get("email"), data.get("name"), None
    if request.mimetype in FORM_TYPES:
        form = request.form
        return form.get("email"), form.get("name"), form.get("token") or ""
    raise ClaimRefused(
        415,
        "unsupported_media_type",
        "send application/json or a form (application/x-www-form-urlencoded)",
    )


@claims_page.post("/claims/<code>")
def claim(code: str) -> Response:
    """Claim the place for the e-mail and name given: 201 once, 409 after."""
    limited = _limited(code)
    if limited is not None:
        return limited
    rt = runtime()
    normal = normalise_code(code)
    try:
        email, name, token = _claimant()
        if normal is None:
            raise ClaimRefused(404, "unknown_code", "no place has this code")
        if token is not None and not form_token_valid(
            rt.settings.claims.secret or "", normal, token, int(time.time()), FORM_MAX_AGE
        ):
            raise ClaimRefused(
                400,
                "invalid_form_token",
                "the form has expired or did not come from this page; reload it",
            )
        result = claim_place(rt.engine, normal, email, name, rt.settings)
    except ClaimRefused as exc:
        return _refused(exc, code)
    except (DatabaseUnavailable, OperationalError):
        return _answer(
            503,
            {"error": "database unavailable; try again shortly", "code": "unavailable"},
            code=code,
        )
    return _answer(201, result.as_dict(), code=normal, result=result)
