"""Claim rules (pure): team-pack places, their codes, which places a refund takes, form tokens.

A claimable offer's unit holds ``places`` places; each place is conferred on whoever claims it
with its code, never on the buyer. A code is an HMAC of the place's stable identity (order,
line, unit, place) under the server's claim secret: unguessable (128 bits) and the same after a
database rebuild. Only its SHA-256 is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bridge.errors import PermanentError

CODE_BYTES = 16  # 128 bits
CODE = re.compile(r"^[a-z2-7]{26}$")
FORM_TOKEN = re.compile(r"^(\d{1,12})\.([a-z2-7]{26})$")


class ClaimPlaceStatus(StrEnum):
    """A team-pack place's state (ClaimPlace.status): claimable, claimed (the claimant holds what
    it confers), or void (the order no longer confers it)."""

    OPEN = "open"
    CLAIMED = "claimed"
    VOID = "void"


class ClaimSecretMissing(PermanentError):
    """Claim codes are needed, and BRIDGE_CLAIM_SECRET is not set."""

    def __init__(self) -> None:
        super().__init__(
            "BRIDGE_CLAIM_SECRET is not set, and team-pack claim codes need it; run "
            "`bridge init` in a new folder or set it to a long random string, e.g. the output "
            'of `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )


def place_key(order_id: int, line_item_id: int, unit: int, place: int) -> str:
    """The stable identity of one place: ``order:<id>:line:<id>:unit:<n>:place:<n>``."""
    return f"order:{order_id}:line:{line_item_id}:unit:{unit}:place:{place}"


def _b32(digest: bytes) -> str:
    return base64.b32encode(digest[:CODE_BYTES]).decode("ascii").rstrip("=").lower()


def claim_code(secret: str, order_id: int, line_item_id: int, unit: int, place: int) -> str:
    """The place's code: 26 lower-case base32 characters, 128 bits of HMAC-SHA256."""
    if not secret:
        raise ClaimSecretMissing()
    message = f"claim:{place_key(order_id, line_item_id, unit, place)}".encode()
    return _b32(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def code_hash(code: str) -> str:
    """What is stored of a code: its SHA-256, hex."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def normalise_code(text: str) -> str | None:
    """A code as typed or pasted (case, spaces, dashes forgiven); None when it cannot be one."""
    cleaned = re.sub(r"[\s-]", "", text or "").lower()
    return cleaned if CODE.match(cleaned) else None


def claim_url(public_url: str | None, code: str) -> str:
    """Where a code is claimed; a bare path when the service's public URL is not set."""
    return f"{(public_url or '').rstrip('/')}/claims/{code}"


@dataclass(frozen=True)
class PlaceState:
    """A place as stored: when it was claimed (None while unclaimed)."""

    key: str
    unit: int
    place: int
    claimed_at: datetime | None = None


def places_kept(places: Sequence[PlaceState], count: int) -> frozenset[str]:
    """Which places an order line still confers when it confers only ``count`` of them.

    Claimed places are kept before unclaimed ones, earlier claims before later ones; among
    unclaimed places the first by unit and place. So a partial refund voids unclaimed codes
    first, then takes back the latest claims.
    """
    if count <= 0:
        return frozenset()

    def rank(state: PlaceState) -> tuple[Any, ...]:
        if state.claimed_at is not None:
            return (0, state.claimed_at, state.unit, state.place)
        return (1, state.unit, state.place)

    return frozenset(state.key for state in sorted(places, key=rank)[:count])


def form_token(secret: str, code: str, issued_at: int) -> str:
    """A token the claim form carries: the time it was issued, signed with the code."""
    message = f"claim-form:{code}:{issued_at}".encode()
    return f"{issued_at}.{_b32(hmac.new(secret.encode(), message, hashlib.sha256).digest())}"


def form_token_valid(secret: str, code: str, token: str, now: int, max_age: int) -> bool:
    """True for a token this service issued for this code, at most ``max_age`` seconds ago."""
    match = FORM_TOKEN.match(token or "")
    if not match or not secret:
        return False
    issued_at = int(match.group(1))
    if not (now - max_age <= issued_at <= now + 60):
        return False
    return hmac.compare_digest(form_token(secret, code, issued_at), token)


@dataclass(frozen=True)
class PlaceRow:
    """A stored place, as the report reads it."""

    offer_sku: str
    order_id: int
    status: str  # a ClaimPlaceStatus: open, claimed or void
    created_at: datetime
    viewed_at: datetime | None = None
    claimed_at: datetime | None = None


@dataclass(frozen=True)
class TeamPackRow:
    """The claim funnel of one team pack: places sold, their page viewed, claimed, held now."""

    sku: str
    orders: int
    sold: int
    viewed: int
    claimed: int
    held: int
    open: int
    void: int

    @property
    def claim_rate(self) -> float | None:
        return round(self.claimed / self.sold, 4) if self.sold else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "orders": self.orders,
            "sold": self.sold,
            "viewed": self.viewed,
            "claimed": self.claimed,
            "held": self.held,
            "open": self.open,
            "void": self.void,
            "claim_rate": self.claim_rate,
        }


def team_pack_funnel(
    places: Sequence[PlaceRow], start: datetime, end: datetime
) -> list[TeamPackRow]:
    """Per team-pack SKU, the places sold in [start, end) and how far each got since."""
    by_sku: dict[str, list[PlaceRow]] = {}
    for row in places:
        if start <= row.created_at < end:
            by_sku.setdefault(row.offer_sku, []).append(row)
    return [
        TeamPackRow(
            sku=sku,
            orders=len({row.order_id for row in rows}),
            sold=len(rows),
            viewed=sum(1 for row in rows if row.viewed_at or row.claimed_at),
            claimed=sum(1 for row in rows if row.claimed_at),
            held=sum(1 for row in rows if row.status == ClaimPlaceStatus.CLAIMED),
            open=sum(1 for row in rows if row.status == ClaimPlaceStatus.OPEN),
            void=sum(1 for row in rows if row.status == ClaimPlaceStatus.VOID),
        )
        for sku, rows in sorted(by_sku.items())
    ]
