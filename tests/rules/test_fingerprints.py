"""Order fingerprints: the same digest as one JSON encoding of the material, made from pieces."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from bridge.rules.catalogue.catalog import Catalogue, CohortSpec, Offer
from bridge.rules.fingerprints import _digest, _material_text, order_fingerprint
from bridge.rules.inbound.payloads import payload_text
from tests.support.paths import load_json

ORDER = load_json("woocommerce/order_727_v3.json")
PAID = ("processing", "completed")
CATALOGUE = Catalogue(
    offers={
        "BUNDLE": Offer(sku="BUNDLE", kind="bundle", includes=("SEAT", "MH")),
        "SEAT": Offer(sku="SEAT", kind="cohort_seat", cohort="C1", title="Seat – café"),
        "MH": Offer(sku="MH", kind="mentor_hours", credits={"mentor_minutes": 60}),
    },
    cohorts={
        "C1": CohortSpec(
            code="C1",
            title="Cohort one",
            starts_at=datetime(2026, 1, 5, tzinfo=UTC),
            ends_at=datetime(2026, 3, 1, tzinfo=UTC),
            timezone="Europe/Berlin",
            mentors=2,
            learners_per_mentor=8,
        )
    },
    bindings={93: "BUNDLE", 23: "MH"},
)


def _fingerprint(payload, catalogue=CATALOGUE, paid=PAID, minutes=30, **kw):
    return order_fingerprint(
        payload, catalogue, paid_statuses=paid, complimentary_minutes=minutes, **kw
    )


def test_fingerprints_stored_before_the_pieces_are_still_equal():
    """The values the single-encoding fingerprint gave (stored in order states) stay the same."""
    assert _fingerprint(ORDER, Catalogue()) == "f3f2f62a0a7ffe2a2ffe340cff02a359"
    assert _fingerprint(ORDER) == "29ebaa18f97fce9f87b65aff732ee4c4"


def _variants():
    plain = copy.deepcopy(ORDER)
    yield "as captured", plain
    no_links = copy.deepcopy(ORDER)
    del no_links["_links"]
    yield "no links", no_links
    more = copy.deepcopy(ORDER)
    more["_edit_lock"] = "1"
    more["customer_note"] = "Grüße 😀 \\u0000 and a \x00"
    more["line_items"][0]["name"] = "\ud800"
    yield "underscored, non-ASCII, NUL, surrogate", more
    odd = copy.deepcopy(ORDER)
    odd["date_paid"] = datetime(2026, 1, 1, tzinfo=UTC)  # not JSON: encoded as its str()
    yield "a value that is not JSON", odd
    reordered = dict(reversed(list(ORDER.items())))
    yield "fields in another order", reordered


@pytest.mark.parametrize("label, payload", list(_variants()), ids=lambda v: str(v)[:20])
def test_the_pieces_make_the_material_text(label, payload):
    material = _material_text(payload, CATALOGUE, PAID, 30)
    assert _fingerprint(payload) == _digest(material), label
    assert _fingerprint(payload, text=payload_text(payload)) == _digest(material), label
    assert _fingerprint(payload, paid=["completed"], minutes=0) == _digest(
        _material_text(payload, CATALOGUE, ["completed"], 0)
    )


def test_a_reordered_payload_has_the_same_fingerprint():
    assert _fingerprint(dict(reversed(list(ORDER.items())))) == _fingerprint(ORDER)


def test_what_decides_changes_the_fingerprint_and_links_do_not():
    base = _fingerprint(ORDER)
    changed = copy.deepcopy(ORDER)
    changed["line_items"][0]["quantity"] += 1
    assert _fingerprint(changed) != base
    linked = copy.deepcopy(ORDER)
    linked["_links"] = {"self": [{"href": "https://elsewhere.example/"}]}
    assert _fingerprint(linked) == base
    assert _fingerprint(ORDER, minutes=45) != base
    other = Catalogue(offers=CATALOGUE.offers, cohorts={}, bindings=CATALOGUE.bindings)
    assert _fingerprint(ORDER, other) != base  # the seat's cohort is part of it
