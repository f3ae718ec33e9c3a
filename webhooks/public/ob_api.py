"""The Open Badges 3.0 API under /ims/ob/v3p0/ for wallets and employers' systems.

Unprotected: ``GET discovery`` (the service description document). OAuth 2.0 (Authlib, see
webhooks.public.ob_oauth): ``POST register`` (RFC 7591), ``GET/POST authorize`` (the learner
signs in with their personal page link and approves the app on a consent page), ``POST token``
(code with PKCE S256, refresh), ``POST revoke`` (RFC 7009). With a bearer token:
``GET credentials`` (compact JWS, paged with X-Total-Count and Link), ``POST credentials``
(upsertCredential: a credential from elsewhere stored for the learner) and ``GET profile``.
API errors are imsx_StatusInfo bodies; the OAuth endpoints answer RFC 6749/7591 errors.

The learner sees and disconnects the apps they connected at ``/me/<token>/apps``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6750 import InsufficientScopeError
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from bridge import __version__
from bridge.rules.learner_page import is_token
from bridge.rules.wallets import (
    API_PATH,
    CREDENTIAL_READ,
    CREDENTIAL_UPSERT,
    JWS_FORMAT,
    MAX_UPSERT_BYTES,
    PROFILE_READ,
    SCOPES,
    PagingError,
    UpsertError,
    link_header,
    parse_paging,
    parse_upsert,
    service_description,
    status_info,
)
from bridge.services.learner_links import learner_for_page_token
from bridge.services.wallets import (
    CREATED,
    REFUSED,
    connected_apps,
    disconnect,
    find_client,
    learner_credentials,
    learner_profile,
    touch,
    upsert_credential,
)
from bridge.store.db import unit_of_work
from webhooks.public.claims import AddressLimiter
from webhooks.public.ob_oauth import (
    Client,
    Token,
    WalletUser,
    init_oauth,
    oauth_server,
    query_client,
    resource_protector,
)
from webhooks.runtime import client_address, runtime

log = logging.getLogger(__name__)
ob_api = Blueprint("ob_api", __name__, template_folder="templates")
LIMITER = "ob_api_limiter"
CSRF_COOKIE = "ob_csrf"
PAGE_HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'{extra}"
)


def init_ob_api(app: Flask, requests_per_minute: int) -> None:
    """Authlib's server, a per-address limiter for sign-ins and registrations, the routes."""
    init_oauth(app)
    app.extensions[LIMITER] = AddressLimiter(requests_per_minute)
    app.register_blueprint(ob_api)


def _public_url() -> str:
    url = runtime().settings.web.public_url
    return (url or request.host_url).rstrip("/")


def _status(status: int, minor: str, description: str) -> Response:
    response = jsonify(status_info(minor, description))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _limited() -> bool:
    limiter: AddressLimiter = current_app.extensions[LIMITER]
    return not limiter.allow(client_address(runtime().settings.web.proxy_hops))


# --- discovery ---------------------------------------------------------------------------


@ob_api.get(f"{API_PATH}/discovery")
def discovery() -> Response:
    """The service description document: unprotected, cacheable for an hour."""
    settings = runtime().settings
    base = _public_url()
    title = settings.credentials.issuer_name or "creator-bridge"
    about = f"{base}{API_PATH}/about"
    response = jsonify(
        service_description(base, title, terms_url=about, privacy_url=about, version=__version__)
    )
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@ob_api.get(f"{API_PATH}/about")
def about() -> Response:
    """What an app connected to this API can see (the terms and privacy link of discovery)."""
    return _page(render_template("wallet/about.html", scopes=SCOPES))


# --- OAuth 2.0 ---------------------------------------------------------------------------


@ob_api.post(f"{API_PATH}/register")
def register() -> Response:
    if _limited():
        response = jsonify({"error": "slow_down", "error_description": "too many registrations"})
        response.status_code = 429
        response.headers["Retry-After"] = "60"
        return response
    answer: Response = oauth_server().create_endpoint_response("client_registration")
    return answer


@ob_api.post(f"{API_PATH}/token")
def token() -> Response:
    try:
        answer: Response = oauth_server().create_token_response()
    except OAuth2Error as error:  # plain HTTP from outside: Authlib refuses before it answers
        return _oauth_error(error)
    return answer


@ob_api.post(f"{API_PATH}/revoke")
def revoke() -> Response:
    try:
        answer: Response = oauth_server().create_endpoint_response("revocation")
    except OAuth2Error as error:
        return _oauth_error(error)
    return answer


def _oauth_error(error: OAuth2Error) -> Response:
    response = jsonify({"error": error.error, "error_description": error.description or ""})
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(body: str, status: int = 200, *, form_target: str = "") -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = CSP.format(extra=form_target)
    return response


def _redirect_origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f" {parts.scheme}://{parts.netloc}" if parts.scheme == "https" else ""


def _csrf() -> str:
    """This browser's consent form token (double-submit: cookie and hidden field)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def _with_csrf(response: Response, value: str) -> Response:
    response.set_cookie(
        CSRF_COOKIE,
        value,
        path=API_PATH,
        httponly=True,
        samesite="Strict",
        # Secure whenever the browser came over HTTPS (directly or through the proxy).
        secure=request.is_secure or request.headers.get("X-Forwarded-Proto") == "https",
    )
    return response


def _csrf_ok() -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.form.get("csrf", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


def _learner_from_link(text: str) -> int | None:
    """The learner a pasted personal page link (or its token) names, or None."""
    token = text.strip().split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    if not is_token(token):
        return None
    with unit_of_work(runtime().engine) as session:
        learner = learner_for_page_token(session, token)
        if learner is None or learner.id is None or learner.erased_at is not None:
            return None
        return learner.id


def _consent_view(grant: Any) -> dict[str, Any]:
    client: Client = grant.client
    metadata = client.row.client_metadata or {}
    asked = client.get_allowed_scope(grant.request.payload.scope)
    return {
        "client": {
            "name": client.row.client_name,
            "uri": client.row.client_uri,
            "logo": metadata.get("logo_uri"),
            "tos": metadata.get("tos_uri"),
            "policy": metadata.get("policy_uri"),
        },
        "scopes": [SCOPES[s] for s in asked.split() if s in SCOPES],
        "action": request.full_path,
    }


@ob_api.route(f"{API_PATH}/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    """Sign in with the personal page link, then approve or deny the app."""
    try:
        grant = oauth_server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _page(
            render_template("wallet/error.html", message=error.description or error.error), 400
        )
    payload = grant.request.payload
    if not payload.state:
        return _page(render_template("wallet/error.html", message="state is required"), 400)
    if not grant.client.get_allowed_scope(payload.scope):
        return _page(render_template("wallet/error.html", message="no scope offered"), 400)
    csrf = _csrf()
    view = _consent_view(grant)
    form_target = _redirect_origin(payload.redirect_uri)
    if request.method == "GET":
        page = render_template("wallet/sign_in.html", csrf=csrf, **view)
        return _with_csrf(_page(page, form_target=form_target), csrf)
    if not _csrf_ok():
        page = render_template("wallet/error.html", message="the form expired; start again")
        return _with_csrf(_page(page, 400), secrets.token_urlsafe(32))
    if _limited():
        return _page(render_template("wallet/error.html", message="too many attempts"), 429)
    step = request.form.get("step")
    learner_id = _learner_from_link(request.form.get("link", ""))
    if learner_id is None:
        page = render_template(
            "wallet/sign_in.html",
            csrf=csrf,
            problem="That link is not a working page link.",
            **view,
        )
        return _page(page, 400, form_target=form_target)
    if step == "approve":
        log.info("wallet app approved", extra={"client": grant.client.get_client_id()})
        answer: Response = oauth_server().create_authorization_response(
            grant_user=WalletUser(learner_id), grant=grant
        )
        return answer
    if step == "deny":
        denied: Response = oauth_server().create_authorization_response(
            grant_user=None, grant=grant
        )
        return denied
    page = render_template(
        "wallet/consent.html", csrf=csrf, link=request.form.get("link", "").strip(), **view
    )
    return _page(page, form_target=form_target)


# --- the API -----------------------------------------------------------------------------


def _bearer(scope: str) -> Token | Response:
    """The request's token if it is live and has the scope, else the imsx error to answer."""
    try:
        token: Token = resource_protector().acquire_token([scope])
    except InsufficientScopeError:
        return _status(403, "forbidden", f"the token lacks the scope {scope}")
    except OAuth2Error:
        response = _status(401, "unauthorizedrequest", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="ob"'
        return response
    if query_client(token.row.client_id) is None:
        return _status(401, "unauthorizedrequest", "the app is blocked")
    with unit_of_work(runtime().engine) as session:
        live = touch(session, token.row, runtime().clock())
        session.commit()
    if not live:
        return _status(401, "unauthorizedrequest", "a valid bearer token is required")
    return token


@ob_api.get(f"{API_PATH}/credentials")
def get_credentials() -> Response:
    token = _bearer(CREDENTIAL_READ)
    if isinstance(token, Response):
        return token
    try:
        page = parse_paging(request.args)
    except PagingError as exc:
        return _status(400, "invalid_query_parameter", str(exc))
    with unit_of_work(runtime().engine, read_only=True) as session:
        found = learner_credentials(session, token.row.learner_id, page)
    body: dict[str, Any] = {"compactJwsString": found.compact}
    if found.documents:
        body["credential"] = found.documents
    response = jsonify(body)
    response.headers["X-Total-Count"] = str(found.total)
    url = f"{_public_url()}{API_PATH}/credentials"
    response.headers["Link"] = link_header(url, page, found.total)
    response.headers["Cache-Control"] = "no-store"
    return response


@ob_api.get(f"{API_PATH}/profile")
def get_profile() -> Response:
    token = _bearer(PROFILE_READ)
    if isinstance(token, Response):
        return token
    with unit_of_work(runtime().engine, read_only=True) as session:
        profile = learner_profile(session, token.row.learner_id, token.row.client_id, _public_url())
    if profile is None:
        return _status(404, "not_found", "no profile")
    response = jsonify(profile)
    response.headers["Cache-Control"] = "no-store"
    return response


@ob_api.post(f"{API_PATH}/credentials")
def upsert() -> Response:
    """upsertCredential: store a credential from elsewhere for the learner, 201 when new, 200
    when it replaced theirs with the same issuer and id; the body echoes it as sent. One the
    bridge issued is never replaced (409)."""
    token = _bearer(CREDENTIAL_UPSERT)
    if isinstance(token, Response):
        return token
    if (request.content_length or 0) > MAX_UPSERT_BYTES:
        return _status(413, "invalid_data", "the credential is too large")
    try:
        body = request.stream.read(MAX_UPSERT_BYTES + 1)  # never more, whatever the length says
        sent = parse_upsert(request.content_type or "", body)
    except UpsertError as exc:
        return _status(exc.status, "invalid_data", str(exc))
    with unit_of_work(runtime().engine) as session:
        outcome = upsert_credential(
            session,
            token.row.learner_id,
            token.row.client_id,
            sent,
            public_url=_public_url(),
            now=runtime().clock(),
        )
        session.commit()
    if outcome == REFUSED:
        return _status(409, "forbidden", "a credential this host issued cannot be replaced")
    log.info("wallet credential stored", extra={"client": token.row.client_id, "was": outcome})
    mimetype = "text/plain" if sent.form == JWS_FORMAT else "application/json"
    response = Response(sent.text, status=201 if outcome == CREATED else 200, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    return response


@ob_api.route(f"{API_PATH}/profile", methods=["PUT"])
def not_offered() -> Response:
    """putProfile is not offered (the discovery document omits it): names and e-mails are the
    shop's."""
    return _status(405, "not_allowed", "this host does not take profile changes")


# --- the learner's connected apps --------------------------------------------------------


def _learner_of_page(token: str) -> int | None:
    if not is_token(token):
        return None
    with unit_of_work(runtime().engine) as session:
        learner = learner_for_page_token(session, token)
        return learner.id if learner is not None else None


@ob_api.get("/me/<token>/apps")
def apps(token: str) -> Response:
    """The apps that can read the learner's credentials, each with a Disconnect button."""
    learner_id = _learner_of_page(token)
    if learner_id is None or _limited():
        return _page(render_template("learner/missing.html"), 404)
    with unit_of_work(runtime().engine, read_only=True) as session:
        found = connected_apps(session, learner_id, runtime().clock())
    scopes = {s: SCOPES.get(s, s) for app in found for s in app.scope.split()}
    return _page(render_template("wallet/apps.html", apps=found, token=token, scopes=scopes))


@ob_api.post("/me/<token>/apps/<client_id>/disconnect")
def disconnect_app(token: str, client_id: str) -> Response:
    """Revoke every token the app holds for this learner; the next API call is refused."""
    learner_id = _learner_of_page(token)
    if learner_id is None or _limited():
        return _page(render_template("learner/missing.html"), 404)
    with unit_of_work(runtime().engine) as session:
        known = find_client(session, client_id) is not None
        revoked = disconnect(session, learner_id, client_id, runtime().clock()) if known else 0
        session.commit()
    log.info("wallet app disconnected by the learner", extra={"revoked": revoked})
    with unit_of_work(runtime().engine, read_only=True) as session:
        found = connected_apps(session, learner_id, runtime().clock())
    scopes = {s: SCOPES.get(s, s) for app in found for s in app.scope.split()}
    page = render_template(
        "wallet/apps.html", apps=found, token=token, scopes=scopes, done=bool(revoked)
    )
    return _page(page)
