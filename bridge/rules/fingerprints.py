"""Order fingerprints (pure): has anything that decides what an order confers changed?

An order applied once is applied again by every full sync, by the overlap window of each
incremental one and by duplicate webhooks. Its fingerprint covers every input of the rules: the
payload, the offers and cohorts its lines map to, the settings the rules read and the rules'
own revision. Equal fingerprints mean re-applying would change nothing, so it is skipped
without a write.

The digest is of one JSON text, ``{"cohorts":..,"minutes":..,"offers":..,"order":..,
"paid":..,"rules":..}`` (sorted keys, compact, ASCII). It is put together from pieces: the
payload's text (``payload_text``, which the payload rules read too) and, per offer, the text
of what it expands to, made once per catalogue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.inbound.payloads import PayloadText, payload_text

# Raise when the rules change what an unchanged order confers: every order is applied again.
RULES_REVISION = 1
# Where the order state's summary keeps the fingerprint it was last applied with.
SUMMARY_KEY = "fingerprint"

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
# Catalogue.memo key: offer SKU -> the JSON texts of its offers' and their cohorts' reprs.
_MEMO = "fingerprint_parts"


def order_fingerprint(
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    *,
    paid_statuses: Sequence[str],
    complimentary_minutes: int,
    text: PayloadText | None = None,
) -> str:
    """A short digest of everything the order's application depends on.

    ``text`` is ``payload_text(payload)`` when the caller has it already (taken while the
    payload is as it is now); without it, it is made here.
    """
    if text is None and isinstance(payload, dict):
        text = payload_text(payload)
    if text is None or text.fields is None:
        # Not plain JSON: the whole material is encoded, other values as their str().
        return _digest(_material_text(payload, catalogue, paid_statuses, complimentary_minutes))
    offers: list[str] = []
    cohorts: list[str] = []
    parts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = catalogue.memo.setdefault(_MEMO, {})
    for line in payload.get("line_items") or []:
        offer = catalogue.offer_for_line(line) if isinstance(line, Mapping) else None
        if offer is None:
            continue
        known = parts.get(offer.sku)
        if known is None:
            known = parts[offer.sku] = _offer_parts(catalogue, offer.sku)
        offers.extend(known[0])
        cohorts.extend(known[1])
    minutes, paid = _settings_parts(paid_statuses, complimentary_minutes)
    material = (
        f'{{"cohorts":[{",".join(cohorts)}],"minutes":{minutes},"offers":[{",".join(offers)}],'
        f'"order":{text.fields},"paid":{paid},"rules":{RULES_REVISION}}}'
    )
    return _digest(material)


_SETTINGS_PARTS: dict[tuple[int, tuple[str, ...]], tuple[str, str]] = {}


def _settings_parts(paid_statuses: Sequence[str], complimentary_minutes: int) -> tuple[str, str]:
    """The JSON texts of the complimentary minutes and the paid statuses (remembered for the
    settings' own values: an int and a tuple of texts)."""
    if type(complimentary_minutes) is not int or type(paid_statuses) is not tuple:
        return _ENCODER.encode(complimentary_minutes), _ENCODER.encode(list(paid_statuses))
    key = (complimentary_minutes, paid_statuses)
    parts = _SETTINGS_PARTS.get(key)
    if parts is None:
        parts = _ENCODER.encode(complimentary_minutes), _ENCODER.encode(list(paid_statuses))
        if len(_SETTINGS_PARTS) < 64 and all(type(status) is str for status in paid_statuses):
            _SETTINGS_PARTS[key] = parts
    return parts


def _offer_parts(catalogue: Catalogue, sku: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The JSON texts of the reprs of what one unit of ``sku`` expands to, and their cohorts."""
    offers: list[str] = []
    cohorts: list[str] = []
    for part in catalogue.expand(sku):
        offers.append(_ENCODER.encode(repr(part)))
        if part.cohort:
            cohorts.append(_ENCODER.encode(repr(catalogue.cohorts.get(part.cohort))))
    return tuple(offers), tuple(cohorts)


def _material_text(
    payload: Mapping[str, Any],
    catalogue: Catalogue,
    paid_statuses: Sequence[str],
    complimentary_minutes: int,
) -> str:
    """The material as one encoding (what ``order_fingerprint`` puts together from pieces)."""
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
    return json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
