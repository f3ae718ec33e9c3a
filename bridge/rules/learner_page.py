"""The learner's personal page link (pure): its token, its hash, its address.

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

from bridge.rules.bookings.links import require_secret

TOKEN_PREFIX = "me-"  # noqa: S105  (a marker that says what the value is, no secret)
TOKEN = re.compile(r"^me-[a-z2-7]{26}$")
PAGE_PATH = "/me/"


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
