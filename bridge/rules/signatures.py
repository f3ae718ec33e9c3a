"""Webhook signatures: base64(HMAC-SHA256(raw body, secret)), compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(body: bytes, secret: str) -> str:
    """The X-WC-Webhook-Signature WooCommerce sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, secret: str, signature: str | None) -> bool:
    """True when ``signature`` was made over these exact bytes with ``secret``."""
    if not signature or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"),
                               signature.strip().encode("ascii", "replace"))
