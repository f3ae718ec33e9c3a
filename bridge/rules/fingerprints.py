"""Order fingerprints (pure): has anything that decides what an order confers changed?

An order applied once is applied again by every full sync, by the overlap window of each
incremental one and by duplicate webhooks. Its fingerprint covers every input of the rules: the
payload, the offers and cohorts its lines map to, the settings the rules read and the rules'
own revision. Equal fingerprints mean re-applying would change nothing, so it is skipped
without a write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.rules.catalogue.catalog import Catalogue

# Raise when the rules change what an unchanged order confers: every order is applied again.
RULES_REVISION = 1
# Where the order state's summary keeps the fingerprint it was last applied with.
SUMMARY_KEY = "fingerprint"


def order_fingerprint(
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    *,
    paid_statuses: Sequence[str],
    complimentary_minutes: int,
) -> str:
    """A short digest of everything the order's application depends on."""
    offers: list[str] = []
    cohorts: list[str] = []
    for line in payload.get("line_items") or []:
        offer = catalogue.offer_for_line(line) if isinstance(line, Mapping) else None
        for part in catalogue.expand(offer.sku) if offer is not None else ():
            offers.append(repr(part))
            if part.cohort:
                cohorts.append(repr(catalogue.cohorts.get(part.cohort)))
    material = {
        "rules": RULES_REVISION,
        # Links and other underscored fields differ between webhooks and REST; they decide nothing.
        "order": {key: value for key, value in payload.items() if not key.startswith("_")},
        "offers": offers,
        "cohorts": cohorts,
        "paid": list(paid_statuses),
        "minutes": complimentary_minutes,
    }
    text = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
