"""Subscription perks: when they hold and what an offer gives (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.periods import SubscriptionStatus

# Statuses under which a subscription's perks hold: pending-cancel is paid up to its end.
PERK_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING_CANCEL)


def perks_hold(status: str, end_gmt: datetime | None, now: datetime) -> bool:
    """Perks hold while active or pending-cancel, and not past a known end date."""
    return status in PERK_STATUSES and (end_gmt is None or now < end_gmt)


def offer_perks(offer_skus: Iterable[str], catalogue: Catalogue) -> list[str]:
    """The perks of the offers, each once, in offer order."""
    perks: dict[str, None] = {}
    for sku in offer_skus:
        offer = catalogue.offers.get(sku)
        if offer is not None:
            perks.update(dict.fromkeys(offer.perks))
    return list(perks)
