"""The Open Badges 3.0 API's plain rules: scopes, paging and its Link header,
imsx_StatusInfo error bodies and the service description document.

Facts from the 1EdTech OB 3.0 specification (api.html, security.html) and its OpenAPI file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

API_PATH = "/ims/ob/v3p0"
SCOPE_BASE = "https://purl.imsglobal.org/spec/ob/v3p0/scope/"
CREDENTIAL_READ = SCOPE_BASE + "credential.readonly"
CREDENTIAL_UPSERT = SCOPE_BASE + "credential.upsert"
PROFILE_READ = SCOPE_BASE + "profile.readonly"
# Offered: reading credentials and the profile. credential.upsert and profile.update are not:
# the bridge issues its learners' credentials itself and takes names and e-mails from the shop.
SCOPES = {
    CREDENTIAL_READ: "Read the credentials and learner records the shop issued to you",
    PROFILE_READ: "Read your name and e-mail address as the shop knows them",
}
# An app may ask for refresh tokens the way the specification's example does.
EXTRA_SCOPES = ("offline_access",)
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


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
