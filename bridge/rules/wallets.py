"""The Open Badges 3.0 API's plain rules: scopes, paging and its Link header,
imsx_StatusInfo error bodies and the service description document.

Facts from the 1EdTech OB 3.0 specification (api.html, security.html) and its OpenAPI file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

API_PATH = "/ims/ob/v3p0"
SCOPE_BASE = "https://purl.imsglobal.org/spec/ob/v3p0/scope/"
CREDENTIAL_READ = SCOPE_BASE + "credential.readonly"
CREDENTIAL_UPSERT = SCOPE_BASE + "credential.upsert"
PROFILE_READ = SCOPE_BASE + "profile.readonly"
# Offered: reading credentials and the profile, and storing credentials from elsewhere beside
# the shop's (never replacing one the shop issued). profile.update is not: names and e-mails
# are the shop's, and the bridge takes them from WooCommerce.
SCOPES = {
    CREDENTIAL_READ: "Read the credentials and learner records the shop issued to you",
    CREDENTIAL_UPSERT: (
        "Add credentials from elsewhere to the ones the shop keeps for you "
        "(never change those the shop issued)"
    ),
    PROFILE_READ: "Read your name and e-mail address as the shop knows them",
}
# An app may ask for refresh tokens the way the specification's example does.
EXTRA_SCOPES = ("offline_access",)
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# upsertCredential: the largest body taken, and the credential types a host stores.
MAX_UPSERT_BYTES = 256 * 1024
UPSERT_TYPES = frozenset({"AchievementCredential", "OpenBadgeCredential", "EndorsementCredential"})
JWS_FORMAT = "jws"
JSON_FORMAT = "json"


class PagingError(ValueError):
    """A limit, offset or since the API cannot take (400 invalid_query_parameter)."""


@dataclass(frozen=True)
class Page:
    """A getCredentials request's paging: zero-based offset, page size, and ``since``."""

    limit: int
    offset: int
    since: datetime | None


def parse_paging(args: Mapping[str, str]) -> Page:
    """``limit`` (1..100, default 20), ``offset`` (>= 0) and ``since`` (ISO date-time) from a
    query string; PagingError names the bad one."""
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
        offset = int(args.get("offset", 0))
    except ValueError as exc:
        raise PagingError("limit and offset must be integers") from exc
    if limit < 1 or offset < 0:
        raise PagingError("limit must be at least 1 and offset at least 0")
    since = None
    if args.get("since"):
        try:
            since = datetime.fromisoformat(args["since"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise PagingError("since must be an ISO 8601 date-time") from exc
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    return Page(min(limit, MAX_LIMIT), offset, since)


def link_header(url: str, page: Page, total: int) -> str:
    """The Link header: first and last always, next while rows follow, prev after the first.

    ``url`` is the endpoint without a query; ``since`` is carried on every link.
    """
    since = f"&since={page.since.strftime('%Y-%m-%dT%H:%M:%SZ')}" if page.since else ""

    def at(offset: int, rel: str) -> str:
        return f'<{url}?limit={page.limit}&offset={offset}{since}>; rel="{rel}"'

    last = max(total - 1, 0) // page.limit * page.limit
    links = []
    if page.offset + page.limit < total:
        links.append(at(page.offset + page.limit, "next"))
    links.append(at(last, "last"))
    links.append(at(0, "first"))
    if page.offset > 0:
        links.append(at(max(min(page.offset - page.limit, last), 0), "prev"))
    return ", ".join(links)


def status_info(minor: str, description: str, *, major: str = "failure") -> dict[str, Any]:
    """An imsx_StatusInfo body (every OB API error), ``minor`` one of the spec's code values."""
    return {
        "imsx_codeMajor": major,
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_codeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "creator-bridge", "imsx_codeMinorFieldValue": minor}
            ]
        },
    }


def service_description(
    public_url: str, title: str, *, terms_url: str, privacy_url: str, version: str
) -> dict[str, Any]:
    """The unprotected discovery document: a profiled OpenAPI 3.0 with the OAuth URLs."""
    base = public_url.rstrip("/") + API_PATH
    bearer = [{"OAuth2ACG": [CREDENTIAL_READ]}]
    return {
        "openapi": "3.0.1",
        "info": {
            "title": title,
            "description": "Open Badges 3.0 API: the credentials and records of this shop.",
            "termsOfService": terms_url,
            "version": version,
            "x-imssf-privacyPolicyUrl": privacy_url,
        },
        "servers": [{"url": base, "description": "creator-bridge"}],
        "paths": {
            "/credentials": {
                "get": {"operationId": "getCredentials", "security": bearer},
                "post": {
                    "operationId": "upsertCredential",
                    "security": [{"OAuth2ACG": [CREDENTIAL_UPSERT]}],
                },
            },
            "/profile": {
                "get": {"operationId": "getProfile", "security": [{"OAuth2ACG": [PROFILE_READ]}]},
            },
            "/discovery": {"get": {"operationId": "getServiceDescription", "security": []}},
        },
        "components": {
            "securitySchemes": {
                "OAuth2ACG": {
                    "type": "oauth2",
                    "description": "OAuth 2.0 authorization code grant with PKCE (S256)",
                    "x-imssf-registrationUrl": f"{base}/register",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": f"{base}/authorize",
                            "tokenUrl": f"{base}/token",
                            "refreshUrl": f"{base}/token",
                            "x-imssf-revocationUrl": f"{base}/revoke",
                            "scopes": dict(SCOPES),
                        }
                    },
                }
            },
            "schemas": {},
        },
    }


class UpsertError(ValueError):
    """A body upsertCredential cannot take (400 invalid_data, or 413/415 by ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upsert:
    """A credential sent to upsertCredential: its ``id`` and issuer id (its identity, the
    spec's equality), ``key`` (their hash, what a learner's stored credential is found by),
    the form it came in (``jws`` or ``json``) and its text as sent."""

    id: str
    issuer_id: str
    key: str
    form: str
    text: str
    document: dict[str, Any]


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _norm(value: str) -> str:
    """A URI percent-decoded and trimmed (the spec's equality compares them so)."""
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode())
    return raw.decode("utf-8", "replace").strip()


def parse_upsert(content_type: str, body: bytes) -> Upsert:
    """The credential in an upsertCredential body: a compact JWS (``text/plain``) whose payload
    is the credential (or carries it as ``vc``), or the credential as JSON. Its shape is checked,
    not its proof (the issuer is someone else): a VerifiableCredential that is an Open Badge
    (Achievement/OpenBadge credential) or an endorsement, with an ``id``, an issuer and a
    subject. UpsertError says what is wrong."""
    if len(body) > MAX_UPSERT_BYTES:
        raise UpsertError(f"the credential is over {MAX_UPSERT_BYTES // 1024} KiB", 413)
    media = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise UpsertError("the body is not UTF-8") from exc
    if media == "text/plain":
        form = JWS_FORMAT
        parts = text.split(".")
        if len(parts) != 3 or not all(parts[0::2]):
            raise UpsertError("the body is not a compact JWS")
        try:
            header = json.loads(_b64(parts[0]))
            document = json.loads(_b64(parts[1]))
        except (ValueError, binascii.Error) as exc:
            raise UpsertError("the compact JWS does not decode to JSON") from exc
        if not isinstance(header, dict) or not header.get("alg") or header["alg"] == "none":
            raise UpsertError("the compact JWS has no signing algorithm")
        if isinstance(document, dict) and isinstance(document.get("vc"), dict):
            document = document["vc"]
    elif media in ("application/json", "application/ld+json", "application/vc+ld+json"):
        form = JSON_FORMAT
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise UpsertError("the body is not JSON") from exc
    else:
        raise UpsertError("send the credential as text/plain (JWS) or application/json", 415)
    if not isinstance(document, dict):
        raise UpsertError("the credential is not a JSON object")
    kinds = document.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(kinds, list) or "VerifiableCredential" not in kinds:
        raise UpsertError("the credential's type must include VerifiableCredential")
    if not UPSERT_TYPES & set(kinds):
        raise UpsertError("the credential must be an " + ", ".join(sorted(UPSERT_TYPES)))
    if not isinstance(document.get("@context"), list):
        raise UpsertError("the credential has no @context list")
    ident = document.get("id")
    if not isinstance(ident, str) or not _norm(ident) or len(ident) > 500:
        raise UpsertError("the credential needs an id (a URI of at most 500 characters)")
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not _norm(issuer_id) or len(issuer_id) > 500:
        raise UpsertError("the credential needs an issuer with an id")
    if not isinstance(document.get("credentialSubject"), dict | list):
        raise UpsertError("the credential has no credentialSubject")
    key = hashlib.sha256(f"{_norm(issuer_id)}\n{_norm(ident)}".encode()).hexdigest()
    return Upsert(_norm(ident), _norm(issuer_id), key, form, text, document)


def names_the_bridge(upsert: Upsert, public_url: str) -> bool:
    """The credential claims to be one the bridge issued: its issuer is the bridge's, or its id
    is under the bridge's public URL (an upsert never replaces those)."""
    base = public_url.rstrip("/")
    return upsert.issuer_id == f"{base}/issuer" or upsert.id.startswith(f"{base}/")
