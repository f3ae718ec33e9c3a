"""Booking links: the per-learner token a booking carries as proof of whose credits it spends.

Pure. A learner's token is ``bk-`` and 26 lower-case base32 characters: 128 bits of
HMAC-SHA256 over the learner's id and a random nonce, keyed with BRIDGE_CLAIM_SECRET. The
database keeps the nonce and the token's SHA-256, never the token: the hash finds the learner
a booking names, and the secret (which the database does not hold) shows the link again. A new
nonce rotates the token; the old one then matches nobody.

Cal.com passes ``metadata[booking_token]=...`` from a booking page's query into the booking's
``metadata``; Calendly keeps only UTM fields, so the token rides in ``utm_content``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from bridge.errors import PermanentError

TOKEN_PREFIX = "bk-"  # noqa: S105  (a marker that says what the value is, no secret)
TOKEN = re.compile(r"^bk-[a-z2-7]{26}$")
# What a delivery's token field is cut to before it is compared (it is never stored).
MAX_PRESENTED = 64
CALCOM_FIELD = "booking_token"
CALENDLY_FIELD = "utm_content"
CALCOM_PARAMETER = f"metadata[{CALCOM_FIELD}]"


class BookingLinkSecretMissing(PermanentError):
    """Booking links are derived from BRIDGE_CLAIM_SECRET, which is not set."""

    def __init__(self) -> None:
        super().__init__(
            "BRIDGE_CLAIM_SECRET is not set: booking links are derived from it "
            "(bridge init writes one; keep it with your backups)"
        )


def require_secret(secret: str | None) -> str:
    """The secret links are derived from; raises BookingLinkSecretMissing when it is unset."""
    if not secret:
        raise BookingLinkSecretMissing()
    return secret


def derive_token(secret: str, learner_id: int, nonce: str) -> str:
    """The learner's token for this nonce: ``bk-`` and 128 bits of HMAC-SHA256, base32."""
    require_secret(secret)
    message = f"booking-link:{learner_id}:{nonce}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return TOKEN_PREFIX + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, hex (the token is ASCII by its shape)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def presented_token(value: object) -> str:
    """A token field as a delivery carries it, trimmed and lower-cased ('' when absent).

    Anything present that is not text stands as a token that matches nobody.
    """
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        return "?"
    return value.strip().lower()[:MAX_PRESENTED]


def is_token(text: str) -> bool:
    """True when ``text`` has a token's shape (only then is it looked up)."""
    return bool(TOKEN.match(text))


def link_parameters(token: str) -> dict[str, str]:
    """The query parameter each tool's booking page takes, by source (a token's characters
    need no escaping in a URL)."""
    return {"calcom": f"{CALCOM_PARAMETER}={token}", "calendly": f"{CALENDLY_FIELD}={token}"}
