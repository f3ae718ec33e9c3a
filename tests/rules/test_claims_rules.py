"""Team-pack rules (pure): codes, the places a refund keeps, form tokens, catalogue and orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.rules.catalogue.catalog import (
    CatalogueError,
    describe_offer,
    offer_from_dict,
    offer_to_dict,
)
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.rules.catalogue.products import ProductRecord, offer_from_meta, resolve_catalogue
from bridge.rules.claims import (
    ClaimSecretMissing,
    PlaceState,
    claim_code,
    claim_url,
    code_hash,
    form_token,
    form_token_valid,
    normalise_code,
    places_kept,
)
from bridge.rules.entitlements import OrderPayloadError, order_entitlements
from bridge.services.catalogue import read_catalogue_file
from tests.support.claims import PACK, pack_catalogue, pack_order
from tests.support.paths import ROOT

EXAMPLE = ROOT / "catalog.example.toml"
PAID = ("processing", "completed")
T0 = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)


def test_a_code_is_128_bits_of_hmac_stable_for_its_place_and_secret():
    """Same place and secret, same code; another place or secret, another code."""
    code = claim_code("s3cret", 501, 50100, 0, 3)
    assert code == claim_code("s3cret", 501, 50100, 0, 3)
    assert len(code) == 26 and normalise_code(code) == code
    others = {
        claim_code("other", 501, 50100, 0, 3),
        claim_code("s3cret", 501, 50100, 0, 4),
        claim_code("s3cret", 501, 50100, 1, 3),
        claim_code("s3cret", 502, 50100, 0, 3),
    }
    assert code not in others and len(others) == 4
    assert code_hash(code) != code and len(code_hash(code)) == 64


def test_a_code_needs_the_secret_and_says_which_variable():
    """No secret: an error naming BRIDGE_CLAIM_SECRET, never a code from an empty key."""
    with pytest.raises(ClaimSecretMissing, match="BRIDGE_CLAIM_SECRET"):
        claim_code("", 1, 1, 0, 0)


def test_typed_codes_are_forgiven_case_spaces_and_dashes_but_nothing_else():
    """Codes pasted in upper case or split with dashes still match; other text matches none."""
    code = claim_code("s", 1, 1, 0, 0)
    assert normalise_code(f" {code[:13].upper()}-{code[13:]} ") == code
    for text in ("", "1" * 26, code + "a", "../etc/passwd", "é" * 26):
        assert normalise_code(text) is None


def test_claim_urls_use_the_public_url():
    """The public URL, without a doubled slash; a bare path when it is not set."""
    assert claim_url("https://b.example.com/", "abc") == "https://b.example.com/claims/abc"
    assert claim_url(None, "abc") == "/claims/abc"


def test_a_refund_keeps_earliest_claims_first_then_the_first_open_places():
    """Unclaimed places go first, then the latest claims."""
    states = [
        PlaceState(f"p{i}", 0, i, T0 + timedelta(minutes=10 - i) if i in (3, 4) else None)
        for i in range(5)
    ]
    assert places_kept(states, 5) == {"p0", "p1", "p2", "p3", "p4"}
    assert places_kept(states, 3) == {"p0", "p3", "p4"}
    assert places_kept(states, 2) == {"p3", "p4"}
    assert places_kept(states, 1) == {"p4"}  # p4 was claimed first
    assert places_kept(states, 0) == frozenset()


def test_form_tokens_are_bound_to_the_code_the_secret_and_a_day():
    """A token works for its code for a day; another code, secret or a forgery fails."""
    token = form_token("s", "code-a", 1_000_000)
    assert form_token_valid("s", "code-a", token, 1_000_100, 86_400)
    assert not form_token_valid("s", "code-b", token, 1_000_100, 86_400)
    assert not form_token_valid("t", "code-a", token, 1_000_100, 86_400)
    assert not form_token_valid("s", "code-a", token, 1_000_000 + 86_401, 86_400)
    assert not form_token_valid("s", "code-a", "1000000." + "a" * 26, 1_000_100, 86_400)
    assert not form_token_valid("", "code-a", token, 1_000_100, 86_400)
    assert not form_token_valid("s", "code-a", "", 1_000_100, 86_400)


def test_the_example_team_pack_holds_five_project_places():
    """TEAM-DV-PROJECT-5: claimable, five places, each the data-viz project."""
    offer = read_catalogue_file(EXAMPLE).offers[PACK]
    assert (offer.kind, offer.claimable, offer.places, offer.includes) == (
        "bundle",
        True,
        5,
        ("PROJ-DATAVIZ",),
    )
    assert describe_offer(offer).startswith("5 claimable places, each: what PROJ-DATAVIZ")
    assert offer_from_dict(offer_to_dict(offer)) == offer


BASE = """
[offers.PROJ]
kind = "project"
access_weeks = 6
credits = { mentor_minutes = 60 }

[cohorts.C1]
starts = 2027-01-11
ends = 2027-02-19
timezone = "UTC"
mentors = 1
learners_per_mentor = 3

[offers.SEAT]
kind = "cohort_seat"
cohort = "C1"

[offers.SUB]
kind = "subscription"
credits = { mentor_minutes = 60 }
"""


@pytest.mark.parametrize(
    "offer, key, reason",
    [
        (
            'kind = "bundle"\nincludes = ["PROJ"]\nplaces = 5',
            "offers.PACK.places",
            "only a claimable offer has places",
        ),
        (
            'kind = "bundle"\nincludes = ["PROJ"]\nclaimable = "yes"',
            "offers.PACK.claimable",
            "must be true or false",
        ),
        (
            'kind = "bundle"\nincludes = ["PROJ"]\nclaimable = true\nplaces = 0',
            "offers.PACK.places",
            "at least 1",
        ),
        (
            'kind = "bundle"\nincludes = ["PROJ"]\nclaimable = true\nplaces = 101',
            "offers.PACK.places",
            "from 1 to 100",
        ),
        (
            'kind = "bundle"\nincludes = ["SEAT"]\nclaimable = true\nplaces = 5',
            "offers.PACK.includes",
            "cannot hold a cohort seat",
        ),
        (
            'kind = "bundle"\nincludes = ["SUB"]\nclaimable = true',
            "offers.PACK.includes",
            "cannot hold a subscription",
        ),
        (
            'kind = "cohort_seat"\ncohort = "C1"\nclaimable = true',
            "offers.PACK.claimable",
            "cannot hold a cohort seat",
        ),
        (
            'kind = "bundle"\nincludes = ["NOPE"]\nclaimable = true',
            "offers.PACK.includes[0]",
            "no offer 'NOPE'",
        ),
    ],
)
def test_the_catalogue_file_refuses_team_packs_whose_places_cannot_be_handed_on(offer, key, reason):
    """Each rule names the offer's key and why."""
    with pytest.raises(CatalogueError) as error:
        parse_catalogue(BASE + "\n[offers.PACK]\n" + offer + "\n")
    assert error.value.key == key
    assert reason in error.value.reason


def test_a_bundle_cannot_include_a_team_pack():
    """Places inside a bundle would be conferred on its buyer: refused."""
    text = (
        BASE
        + """
[offers.PACK]
kind = "bundle"
includes = ["PROJ"]
claimable = true
places = 2

[offers.BIG]
kind = "bundle"
includes = ["PACK"]
"""
    )
    with pytest.raises(CatalogueError, match="claimable offer cannot be part of a bundle"):
        parse_catalogue(text)


def test_product_meta_can_make_an_offer_a_team_pack():
    """bridge_claimable and bridge_places on a product define the same team pack."""
    offer = offer_from_meta(
        "TEAM-META",
        "Team",
        {
            "bridge_kind": "project",
            "bridge_access_weeks": "6",
            "bridge_claimable": "yes",
            "_bridge_places": "3",
        },
        "product 90",
    )
    assert offer is not None and (offer.claimable, offer.places) == (True, 3)
    with pytest.raises(CatalogueError, match="bridge_claimable: must be yes or no"):
        offer_from_meta(
            "T",
            "T",
            {"bridge_kind": "project", "bridge_access_weeks": "6", "bridge_claimable": "maybe"},
            "product 91",
        )
    with pytest.raises(CatalogueError, match="bridge_places: only a claimable offer"):
        offer_from_meta(
            "T",
            "T",
            {"bridge_kind": "project", "bridge_access_weeks": "6", "bridge_places": "3"},
            "product 92",
        )


def test_catalog_check_reports_a_meta_team_pack_that_includes_a_subscription():
    """A meta-defined pack whose place would be a subscription is a problem for --check."""
    record = ProductRecord(
        woo_id=95,
        sku="TEAM-SUB",
        name="Team subscription",
        virtual=True,
        bridge_meta={
            "bridge_kind": "bundle",
            "bridge_claimable": "yes",
            "bridge_includes": "SUB-MENTOR-MONTHLY",
        },
    )
    problems = resolve_catalogue(read_catalogue_file(EXAMPLE), [record]).problems
    assert any(p.sku == "TEAM-SUB" and "cannot hold a subscription" in p.message for p in problems)


def test_the_buyer_of_a_team_pack_is_conferred_nothing_and_its_places_are_listed():
    """Two units of five places: ten places listed, ten kept, no entitlement for the buyer."""
    result = order_entitlements(pack_order(501, quantity=2), pack_catalogue(), paid_statuses=PAID)
    assert result.entitlements == ()
    (line,) = result.claimable
    assert (line.offer_sku, line.kept, len(line.places)) == (PACK, 10, 10)
    assert line.places[7].key == "order:501:line:50100:unit:1:place:2"


def test_refunded_units_lower_the_places_kept_and_an_unpaid_order_lists_none():
    """One of two units refunded keeps five places; a pending order has no places at all."""
    refunds = [
        {
            "id": 9,
            "line_items": [
                {"quantity": -1, "meta_data": [{"key": "_refunded_item_id", "value": "50200"}]}
            ],
        }
    ]
    result = order_entitlements(
        pack_order(502, quantity=2), pack_catalogue(), paid_statuses=PAID, refunds=refunds
    )
    assert result.claimable[0].kept == 5
    pending = order_entitlements(
        pack_order(503, status="pending"), pack_catalogue(), paid_statuses=PAID
    )
    assert pending.claimable == ()


def test_an_order_line_may_not_hold_more_than_a_thousand_places():
    """201 units of five places is refused with a message naming the line."""
    with pytest.raises(OrderPayloadError, match="line 50400: 201 x 5 places"):
        order_entitlements(pack_order(504, quantity=201), pack_catalogue(), paid_statuses=PAID)
