"""RFC 7591 registration as Open Badges 3.0 profiles it (security.html): what an app must send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bridge.rules.wallets import EXTRA_SCOPES, SCOPES

REQUIRED_METADATA = (
    "client_name",
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
    "redirect_uris",
    "scope",
)
URL_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri")


def registration_problems(metadata: Mapping[str, Any]) -> list[str]:
    """What is wrong with an RFC 7591 registration request by the OB 3.0 rules: every required
    field present, redirect URIs an array, every URL HTTPS and on one host, only known scopes."""
    problems = [f"{name} is required" for name in REQUIRED_METADATA if not metadata.get(name)]
    redirects = metadata.get("redirect_uris")
    if redirects and not (
        isinstance(redirects, list) and all(isinstance(u, str) for u in redirects)
    ):
        problems.append("redirect_uris must be an array of URLs")
        redirects = []
    urls = [metadata[name] for name in URL_FIELDS if isinstance(metadata.get(name), str)]
    urls += list(redirects or [])
    hosts = set()
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            problems.append(f"{url[:200]} is not an https URL")
        else:
            hosts.add(parts.hostname.lower())
    if len(hosts) > 1:
        problems.append("every URL must be on one host")
    scope = metadata.get("scope")
    if scope and isinstance(scope, str):
        unknown = [s for s in scope.split() if s not in SCOPES and s not in EXTRA_SCOPES]
        if unknown:
            problems.append("scopes not offered: " + " ".join(unknown)[:300])
    elif scope:
        problems.append("scope must be a space-separated string")
    return problems
