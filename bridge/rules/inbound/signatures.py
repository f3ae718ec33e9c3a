"""Webhook signatures: WooCommerce (base64), Cal.com (hex) and Calendly (t.body), constant-time."""

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
    return hmac.compare_digest(
        sign(body, secret).encode("ascii"), signature.strip().encode("ascii", "replace")
    )


# --- Cal.com and Calendly ---------------------------------------------------------------------

# Cal.com sends this literal as the signature when the webhook has no secret.
CALCOM_NO_SECRET = "no-secret-provided"  # noqa: S105  (a marker Cal.com sends, not a secret)
CALENDLY_TOLERANCE_SECONDS = 300


def sign_calcom(body: bytes, secret: str) -> str:
    """The X-Cal-Signature-256 Cal.com sends: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_calcom(body: bytes, secret: str, signature: str | None) -> str | None:
    """None when the signature is good; else why not (missing, unsigned, invalid)."""
    if not signature or not signature.strip():
        return "missing"
    if signature.strip() == CALCOM_NO_SECRET:
        return "unsigned (the Cal.com webhook has no secret)"
    if not secret or not hmac.compare_digest(
        sign_calcom(body, secret).encode("ascii"),
        signature.strip().lower().encode("ascii", "replace"),
    ):
        return "invalid"
    return None


def sign_calendly(body: bytes, key: str, timestamp: int) -> str:
    """The Calendly-Webhook-Signature header: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return f"t={timestamp},v1={hmac.new(key.encode('utf-8'), message, hashlib.sha256).hexdigest()}"


def parse_calendly_signature(header: str) -> tuple[int, list[str]] | None:
    """(timestamp, v1 signatures) of a header, or None when it is malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = (piece.strip() for piece in part.partition("="))
        if not sep:
            return None
        if name == "t":
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                return None
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify_calendly(
    body: bytes,
    key: str,
    header: str | None,
    now: float,
    tolerance: int = CALENDLY_TOLERANCE_SECONDS,
) -> str | None:
    """None when the signature is good and its time within ``tolerance`` of ``now``.

    Else why not: missing, malformed, invalid, or stale (a replay or a clock far off).
    """
    if not header or not header.strip():
        return "missing"
    parsed = parse_calendly_signature(header)
    if parsed is None:
        return "malformed"
    timestamp, signatures = parsed
    if not key:
        return "invalid"
    expected = sign_calendly(body, key, timestamp).split("v1=", 1)[1].encode("ascii")
    if not any(hmac.compare_digest(expected, s.encode("ascii", "replace")) for s in signatures):
        return "invalid"
    if abs(now - timestamp) > tolerance:
        return "stale"
    return None
