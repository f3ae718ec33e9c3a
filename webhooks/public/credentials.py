"""Public credential pages: anyone can verify a credential without asking the creator.

``/issuer`` (the Profile, with the Ed25519 Multikeys of embedded proofs), ``/issuer/jwks.json``
and ``/issuer/keys/<thumbprint>`` (the public keys, old ones included), ``/achievements/<sku>``,
``/pathways/<code>`` (the achievement a pathway leads to), ``/credentials/<id>`` (badges and
learner records alike: (an HTML page for
people, the VC-JWT for ``Accept: application/vc+jwt`` or ``<id>.jwt``, the credential JSON for
``Accept: application/json`` or ``<id>.json``) and ``/credentials/status/1`` (the signed
revocation status list). No token: these are published on purpose. Unknown or malformed ids
answer 404, never an error page of ours.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request
from sqlalchemy.exc import OperationalError

from bridge.rules.catalogue.catalog import Catalogue, CatalogueError
from bridge.rules.credentials import CONTEXTS, credential_url, status_list_url
from bridge.services.credentials import (
    CredentialsNotConfigured,
    Signer,
    SigningKeyError,
    achievement_document,
    find_credential,
    issuer_controller,
    issuer_for,
    jwks,
    pathway_document,
    public_key,
    signing_key,
    status_list,
    verify_token,
)
from bridge.store.db import DatabaseUnavailable, describe_db_error, unit_of_work
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
credential_pages = Blueprint("credential_pages", __name__, template_folder="templates")

JWT_TYPE = "application/vc+jwt"
JSON_TYPES = ("application/json", "application/ld+json", "application/vc+ld+json")
HTML_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
}
# Verifiers run in browsers too: the public documents may be read from any origin.
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}


class NotFound(Exception):
    """The id names nothing the bridge publishes."""


def _wants(offered: tuple[str, ...]) -> str:
    return request.accept_mimetypes.best_match(offered, default=offered[0]) or offered[0]


def _public_url() -> str:
    url = runtime().settings.web.public_url
    if not url:
        raise NotFound("credentials are not published here (BRIDGE_PUBLIC_URL is not set)")
    return url


def _catalogue() -> Catalogue | None:
    load = runtime().catalogue
    if load is None:
        return None
    try:
        return load()
    except CatalogueError as exc:
        log.warning("catalogue unreadable for the credential pages: %s", exc)
        return None


def _document(
    body: Any,
    content_type: str = "application/json",
    status: int = 200,
    cache: str = "public, max-age=300",
    filename: str | None = None,
) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
    response = Response(text, status=status, content_type=content_type)
    response.headers.update(PUBLIC_HEADERS)
    response.headers["Cache-Control"] = cache
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@credential_pages.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    if _wants(("application/json", "text/html")) == "text/html":
        page = render_template("credential_missing.html", message=str(exc))
        response = Response(page, status=404, content_type="text/html; charset=utf-8")
        response.headers.update(HTML_HEADERS)
        return response
    return _document({"error": str(exc), "code": "not_found"}, status=404, cache="no-store")


@credential_pages.errorhandler(DatabaseUnavailable)
@credential_pages.errorhandler(OperationalError)
def _database_error(exc: Exception) -> Response:
    log.error("credential page failed on the database: %s", describe_db_error(exc))
    return _document(
        {"error": "the database is unavailable; retry later", "code": "database_unavailable"},
        status=503,
        cache="no-store",
    )


@credential_pages.errorhandler(CredentialsNotConfigured)
@credential_pages.errorhandler(SigningKeyError)
def _not_configured(exc: Exception) -> Response:
    log.error("credential status list cannot be signed: %s", exc)
    return _document(
        {
            "error": "credentials are not configured on this bridge",
            "code": "credentials_not_configured",
        },
        status=404,
        cache="no-store",
    )


@credential_pages.get("/issuer")
def issuer_profile() -> Response:
    """The issuer's Profile, which every credential names."""
    _public_url()
    issuer = issuer_for(runtime().settings, _catalogue())
    profile = {"@context": list(CONTEXTS), **issuer.profile()}
    with unit_of_work(runtime().engine) as session:
        return _document(issuer_controller(session, profile))


@credential_pages.get("/issuer/jwks.json")
def issuer_jwks() -> Response:
    """Every public key the issuer has signed with, so old credentials keep verifying."""
    public_url = _public_url()
    with unit_of_work(runtime().engine) as session:
        return _document(jwks(session, public_url), "application/jwk-set+json")


@credential_pages.get("/issuer/keys/<thumbprint>")
def issuer_key(thumbprint: str) -> Response:
    """One public key, the target of a VC-JWT's ``kid``."""
    public_url = _public_url()
    with unit_of_work(runtime().engine) as session:
        key = public_key(session, public_url, thumbprint)
    if key is None:
        raise NotFound(f"no key {thumbprint[:80]!r}")
    return _document(key, "application/jwk+json")


@credential_pages.get("/achievements/<sku>")
def achievement(sku: str) -> Response:
    """The Achievement a micro-SKU's credential certifies."""
    public_url = _public_url()
    catalogue = _catalogue()
    document = achievement_document(catalogue, public_url, sku) if catalogue else None
    if document is None:
        raise NotFound(f"no achievement {sku[:100]!r}")
    if _wants(("application/json", "text/html", *JSON_TYPES)) == "text/html":
        issuer = issuer_for(runtime().settings, catalogue)
        page = render_template("achievement.html", achievement=document, issuer=issuer)
        response = Response(page, content_type="text/html; charset=utf-8")
        response.headers.update(HTML_HEADERS)
        return response
    return _document(document)


@credential_pages.get("/pathways/<code>")
def pathway(code: str) -> Response:
    """The achievement a pathway (skill stack) leads to, which its learner records name."""
    public_url = _public_url()
    catalogue = _catalogue()
    document = pathway_document(catalogue, public_url, code) if catalogue else None
    if document is None:
        raise NotFound(f"no pathway {code[:100]!r}")
    if _wants(("application/json", "text/html", *JSON_TYPES)) == "text/html":
        issuer = issuer_for(runtime().settings, catalogue)
        page = render_template("achievement.html", achievement=document, issuer=issuer)
        response = Response(page, content_type="text/html; charset=utf-8")
        response.headers.update(HTML_HEADERS)
        return response
    return _document(document)


@credential_pages.get("/credentials/status/<int:number>")
def status_list_credential(number: int) -> Response:
    """The signed revocation status list (VC-JWT; ``Accept: application/json`` for its JSON)."""
    public_url = _public_url()
    if number != 1:
        raise NotFound(f"no status list {number}")
    settings = runtime().settings
    with unit_of_work(runtime().engine) as session:
        row = status_list(session, lambda: Signer(signing_key(settings), public_url))
        session.commit()
        token, encoded, updated = row.jwt, row.encoded, row.updated_at
    if _wants((JWT_TYPE, "application/jwt", *JSON_TYPES)) in JSON_TYPES:
        with unit_of_work(runtime().engine) as session:
            claims = verify_token(session, token, public_url) or {}
        document = {k: v for k, v in claims.items() if k not in ("iss", "jti", "nbf", "sub")}
        return _document(document or {"encodedList": encoded}, cache="public, max-age=60")
    response = _document(token, JWT_TYPE, cache="public, max-age=60")
    response.headers["Last-Modified"] = updated.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response


@credential_pages.get("/credentials/<ref>")
def credential(ref: str) -> Response:
    """A credential: the page for people, the VC-JWT or the JSON for machines."""
    public_url = _public_url()
    suffix = ref.rsplit(".", 1)[-1] if ref.endswith((".jwt", ".json")) else None
    with unit_of_work(runtime().engine) as session:
        row = find_credential(session, ref[:80])
        # An erased learner's credential keeps only its revoked bit: it is published no more.
        if row is None or not row.jwt:
            raise NotFound(f"no credential {ref[:80]!r}")
        claims = verify_token(session, row.jwt, public_url)
    document = row.document or {}
    name = f"credential-{row.uuid}"
    if suffix == "jwt":
        return _document(row.jwt, JWT_TYPE, filename=f"{name}.jwt")
    if suffix == "json":
        return _document(document, filename=f"{name}.json")
    wanted = _wants(("text/html", JWT_TYPE, *JSON_TYPES))
    if wanted == JWT_TYPE:
        return _document(row.jwt, JWT_TYPE)
    if wanted in JSON_TYPES:
        return _document(document)
    verified = claims is not None and claims.get("jti") == document.get("id")
    page = render_template(
        "credential.html", **_page_context(row.uuid, document, public_url, verified, row.revoked_at)
    )
    response = Response(page, content_type="text/html; charset=utf-8")
    response.headers.update(HTML_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _page_context(
    identity: str, document: dict[str, Any], public_url: str, verified: bool, revoked_at: Any
) -> dict[str, Any]:
    subject = document.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {}
    carried = subject.get("verifiableCredential") or []
    if isinstance(achievement, list):  # a learner record: the pathway's achievement comes first
        achievement = achievement[0] if achievement else {}
    issuer = document.get("issuer") or {}
    url = credential_url(public_url, uuid.UUID(identity))
    issued = str(document.get("validFrom", ""))
    linkedin = "https://www.linkedin.com/profile/add?" + urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": achievement.get("name", ""),
            "organizationName": issuer.get("name", ""),
            "issueYear": issued[:4],
            "issueMonth": str(int(issued[5:7])) if issued[5:7].isdigit() else "",
            "certUrl": url,
            "certId": identity,
        }
    )
    return {
        "achievement": achievement,
        "issuer": issuer,
        "issued_on": issued[:10],
        "evidence": document.get("evidence") or [],
        "credential_id": url,
        "verified": verified,
        "revoked": revoked_at is not None,
        "revoked_on": revoked_at.strftime("%Y-%m-%d") if revoked_at else None,
        "linkedin_url": linkedin,
        "record": "ClrCredential" in (document.get("type") or []),
        "partial": bool(document.get("partial")),
        "carried": [
            {
                "name": inner.get("name") or "",
                "url": inner.get("id") or "",
                "awarded": str(inner.get("awardedDate") or inner.get("validFrom") or "")[:10],
            }
            for inner in carried
        ],
        "jwt_url": f"{url}.jwt",
        "json_url": f"{url}.json",
        "jwks_url": f"{public_url}/issuer/jwks.json",
        "status_url": status_list_url(public_url),
    }
