"""Stable identities of what customers see (pure): coupon codes, note identities, note matching.

Derived only from facts that survive a rebuild from an empty database (order, line, unit,
event, the learner's customer id or e-mail), never from local row ids or randomness, so that a
replay or a rebuild recognises what the shop already has instead of adding it again.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_LOCAL_LEARNER = re.compile(r"^learner:\d+:")


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(("creator-bridge", *parts)).encode()).digest()


def learner_identity(customer_id: int | None, email: str) -> str:
    """Who a learner is in the shop: the WooCommerce customer id, else the e-mail address."""
    return f"customer:{customer_id}" if customer_id else f"email:{email.strip().lower()}"


def coupon_code(rule: str, learner: str) -> str:
    """``<rule name>-<8 letters>``: the same for one learner and rule on every rebuild."""
    name = rule.split(":", 1)[-1][:40]
    token = base64.b32encode(_digest("coupon", rule, learner)).decode().lower()
    # WooCommerce stores codes lower-cased.
    return f"{name}-{token[:8]}".lower()


def stable_key(source_key: str) -> str:
    """A grant's source key without the local learner id some keys carry (complimentary call)."""
    return _LOCAL_LEARNER.sub("learner:", source_key)


def note_identity(order_id: int, kind: str, facts: Iterable[str]) -> str:
    """A note's identity: the order, the event and the stable keys of what the note is about."""
    return _digest("note", str(order_id), kind, *sorted(facts)).hex()[:16]


def normal_text(text: str) -> str:
    """A note's text as compared: WooCommerce may hand it back with entities or other spacing."""
    return " ".join(html.unescape(str(text)).split())


def unclaimed_notes(existing: Iterable[str], posted: Iterable[str]) -> Counter[str]:
    """The order's notes (by text) that may be ours from an attempt whose answer was lost.

    A multiset: each note with a text, less the copies the bridge knows it posted itself,
    stands for one of ours; so two equal notes of one order are both sent.
    """
    free = Counter(normal_text(text) for text in existing)
    free.subtract(Counter(normal_text(text) for text in posted))
    return free


def claim_note(free: Counter[str], text: str) -> bool:
    """Take one unclaimed note with this text, if there is one: then it is not sent again."""
    key = normal_text(text)
    if free[key] > 0:
        free[key] -= 1
        return True
    return False


def shop_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def coupon_expiry(granted_at: datetime, days: int, zone: str) -> tuple[datetime, str]:
    """The last second of the shop-local day ``days`` after the grant: (UTC, shop-local text).

    WooCommerce 11 takes a coupon's expiry as ``date_expires`` in the shop's time zone (it
    ignores ``date_expires_gmt`` on write).
    """
    tz = shop_zone(zone)
    day = (granted_at.astimezone(tz) + timedelta(days=days)).date()
    local = datetime.combine(day, time(23, 59, 59), tz)
    return local.astimezone(UTC), local.strftime("%Y-%m-%dT%H:%M:%S")
