"""The learner's personal page link and what the page links to (pure).

A page token is ``me-`` and 26 lower-case base32 characters: 128 bits of HMAC-SHA256 over the
learner's id and a random nonce, keyed with BRIDGE_CLAIM_SECRET (as booking links are). The
database keeps the nonce and the token's SHA-256, never the token: the hash finds the learner
a link names, and the secret (which the database does not hold) shows the link again, so the
console can re-send it. A new nonce rotates the token; the old one then matches nobody.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from urllib.parse import urlencode

from bridge.rules.bookings.links import require_secret

TOKEN_PREFIX = "me-"  # noqa: S105  (a marker that says what the value is, no secret)
TOKEN = re.compile(r"^me-[a-z2-7]{26}$")
PAGE_PATH = "/me/"

# LinkedIn's documented "Add to profile" link for certifications
# (https://addtoprofile.linkedin.com/): startTask, name, organizationId or organizationName,
# issueYear, issueMonth, certUrl, certId (expirationYear/expirationMonth when it expires).
LINKEDIN_ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"


def derive_token(secret: str, learner_id: int, nonce: str) -> str:
    """The learner's page token for this nonce: ``me-`` and 128 bits of HMAC-SHA256, base32."""
    require_secret(secret)
    message = f"learner-page:{learner_id}:{nonce}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return TOKEN_PREFIX + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_token(text: str) -> bool:
    """True when ``text`` has a page token's shape (only then is it looked up)."""
    return bool(TOKEN.match(text))


def page_url(public_url: str | None, token: str) -> str:
    """The page's address under BRIDGE_PUBLIC_URL (a path alone when it is not set)."""
    return f"{(public_url or '').rstrip('/')}{PAGE_PATH}{token}"


def linkedin_add_url(
    *,
    name: str,
    organization: str,
    issued_at: datetime,
    cert_url: str,
    cert_id: str,
    organization_id: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """LinkedIn's add-certification link, pre-filled with the credential's facts."""
    params: dict[str, str] = {"startTask": "CERTIFICATION_NAME", "name": name}
    if organization_id:
        params["organizationId"] = organization_id
    else:
        params["organizationName"] = organization
    params.update(
        issueYear=str(issued_at.year),
        issueMonth=str(issued_at.month),
        certUrl=cert_url,
        certId=cert_id,
    )
    if expires_at is not None:
        params.update(expirationYear=str(expires_at.year), expirationMonth=str(expires_at.month))
    return f"{LINKEDIN_ADD_TO_PROFILE}?{urlencode(params)}"
