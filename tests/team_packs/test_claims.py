"""Team packs end to end in the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bridge.rules.claims import claim_code, code_hash
from bridge.rules.report.figures import records
from bridge.rules.report.rows import report_period
from bridge.services.reporting import build_report
from bridge.services.team_packs import ClaimRefused, claim_place, list_claims
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import LedgerEntry, OutboxItem, utcnow
from tests.support.claims import (
    PACK,
    SECRET,
    FakeShop,
    apply,
    claim_settings,
    holdings,
    pack_order,
    places,
    refund_units,
)

PROJECT = {"balances": {"mentor_minutes": 60}, "access": ["PROJ-DATAVIZ"]}
NOTHING = {"balances": {}, "access": []}


@pytest.fixture
def config(database_url):
    return claim_settings(database_url)


def codes(engine, config, order_id):
    return [place["code"] for place in list_claims(engine, order_id, config)["places"]]


def test_a_paid_pack_creates_five_places_and_the_buyer_holds_only_the_complimentary_call(
    engine, config
):
    """One unit of the pack makes five open places; the employer holds none of them."""
    apply(engine, config, pack_order(301))
    rows = places(engine, 301)
    assert [(row.unit, row.place, row.status) for row in rows] == [(0, p, "open") for p in range(5)]
    assert holdings(engine, "boss@employer.example") == {
        "balances": {"mentor_minutes": 30},
        "access": [],
    }
    assert rows[0].code_hash == code_hash(claim_code(SECRET, 301, 30100, 0, 0))
    assert len(set(codes(engine, config, 301))) == 5


def test_replaying_the_order_creates_no_second_place_and_no_second_note(engine, config):
    """The same payload twice leaves five places and one claim-links note."""
    apply(engine, config, pack_order(302))
    apply(engine, config, pack_order(302))
    apply(engine, config, pack_order(302, modified="2026-11-28T16:05:00"))
    assert len(places(engine, 302)) == 5
    with unit_of_work(engine) as session:
        notes = [
            row
            for row in session.exec(select(OutboxItem)).all()
            if "claim_links"
            in (row.payload or {}).get("events", [(row.payload or {}).get("event")])
        ]
    assert len(notes) == 1  # the order's one note, the claim links among its parts
    text = notes[0].payload["data"]["note"]
    for code in codes(engine, config, 302):
        assert f"https://bridge.example.com/claims/{code}" in text
    assert notes[0].payload["data"]["customer_note"] is True


def test_two_employees_claim_a_place_each_and_a_code_claims_only_once(engine, config):
    """Each claimant holds one place's project and minutes; the same code again is 409."""
    apply(engine, config, pack_order(303))
    first, second, *_ = codes(engine, config, 303)
    result = claim_place(engine, first, "Ann@Employer.example", "Ann A", config)
    assert result.email == "ann@employer.example"
    claim_place(engine, second, "bo@employer.example", "Bo B", config)
    assert holdings(engine, "ann@employer.example") == PROJECT
    assert holdings(engine, "bo@employer.example") == PROJECT
    assert holdings(engine, "boss@employer.example")["access"] == []
    with pytest.raises(ClaimRefused) as refused:
        claim_place(engine, first, "cy@employer.example", "Cy", config)
    assert refused.value.status == 409
    assert holdings(engine, "cy@employer.example") == NOTHING


def test_one_person_cannot_take_two_places_of_one_pack(engine, config):
    """A second code of the same order for the same e-mail is refused with 409."""
    apply(engine, config, pack_order(304))
    first, second, *_ = codes(engine, config, 304)
    claim_place(engine, first, "ann@employer.example", "Ann", config)
    with pytest.raises(ClaimRefused) as refused:
        claim_place(engine, second, "ANN@employer.example", "Ann", config)
    assert (refused.value.status, refused.value.code) == (409, "already_holds_place")


def test_unknown_and_malformed_codes_are_404_and_bad_claimants_400(engine, config):
    """Codes that match no place are 404; a bad e-mail or empty name is 400, before any write."""
    apply(engine, config, pack_order(305))
    code = codes(engine, config, 305)[0]
    for bad in ("a" * 26, "not-a-code", ""):
        with pytest.raises(ClaimRefused) as refused:
            claim_place(engine, bad, "x@example.com", "X", config)
        assert refused.value.status == 404
    for email, name, field in (
        ("nope", "X", "email"),
        ("x@example.com", " ", "name"),
        (None, "X", "email"),
        ("x@example.com", 5, "name"),
    ):
        with pytest.raises(ClaimRefused) as refused:
            claim_place(engine, code, email, name, config)
        assert (refused.value.status, refused.value.field) == (400, field)
    assert all(row.status == "open" for row in places(engine, 305))


def test_full_refund_takes_back_what_claimants_hold_and_voids_every_code(engine, config):
    """After the refund claimants hold nothing, by reversal rows, and every code answers 410."""
    apply(engine, config, pack_order(306))
    all_codes = codes(engine, config, 306)
    claim_place(engine, all_codes[0], "ann@employer.example", "Ann", config)
    claim_place(engine, all_codes[1], "bo@employer.example", "Bo", config)
    apply(engine, config, pack_order(306, status="refunded", modified="2026-11-29T10:00:00"))
    assert holdings(engine, "ann@employer.example") == NOTHING
    assert holdings(engine, "bo@employer.example") == NOTHING
    assert {row.status for row in places(engine, 306)} == {"void"}
    with unit_of_work(engine) as session:
        reasons = sorted(
            row.reason
            for row in session.exec(
                select(LedgerEntry).where(LedgerEntry.grant_key.startswith("order:306:"))
            ).all()
        )
    assert reasons == ["grant", "grant", "reversal", "reversal"]
    for code in all_codes:
        with pytest.raises(ClaimRefused) as refused:
            claim_place(engine, code, "late@employer.example", "Late", config)
        assert refused.value.status == 410


def test_partial_refund_voids_unclaimed_codes_before_any_claim(engine, config):
    """Two packs, four claims; refunding one pack voids five open places, no claim."""
    apply(engine, config, pack_order(307, quantity=2))
    all_codes = codes(engine, config, 307)
    for index in (0, 1, 2, 3):
        claim_place(engine, all_codes[index], f"p{index}@employer.example", "P", config)
    shop = FakeShop({307: refund_units(307, 1)})
    apply(
        engine,
        config,
        pack_order(307, quantity=2, refunds=[{"id": 900}], modified="2026-11-29T10:00:00"),
        shop=shop,
    )
    states = [row.status for row in places(engine, 307)]
    assert states.count("claimed") == 4 and states.count("void") == 5
    assert states.count("open") == 1 and len(states) == 10
    for index in (0, 1, 2, 3):
        assert holdings(engine, f"p{index}@employer.example") == PROJECT


def test_partial_refund_then_takes_back_the_latest_claims(engine, config):
    """Seven claims of ten places, five refunded: the two latest claimants lose their place."""
    apply(engine, config, pack_order(308, quantity=2))
    all_codes = codes(engine, config, 308)
    for index in range(7):
        claim_place(engine, all_codes[index], f"p{index}@employer.example", "P", config)
    shop = FakeShop({308: refund_units(308, 1)})
    apply(
        engine,
        config,
        pack_order(308, quantity=2, refunds=[{"id": 900}], modified="2026-11-29T10:00:00"),
        shop=shop,
    )
    kept = [
        index for index in range(7) if holdings(engine, f"p{index}@employer.example") == PROJECT
    ]
    assert kept == [0, 1, 2, 3, 4]
    assert holdings(engine, "p5@employer.example") == NOTHING
    assert holdings(engine, "p6@employer.example") == NOTHING
    assert [row.status for row in places(engine, 308)].count("void") == 5


def test_a_cancelled_then_restored_order_opens_its_codes_again(engine, config):
    """Cancelled: 410; paid again: the same codes work again."""
    apply(engine, config, pack_order(309))
    code = codes(engine, config, 309)[0]
    apply(engine, config, pack_order(309, status="cancelled", modified="2026-11-29T10:00:00"))
    with pytest.raises(ClaimRefused) as refused:
        claim_place(engine, code, "ann@employer.example", "Ann", config)
    assert refused.value.status == 410
    apply(engine, config, pack_order(309, status="completed", modified="2026-11-29T11:00:00"))
    claim_place(engine, code, "ann@employer.example", "Ann", config)
    assert holdings(engine, "ann@employer.example") == PROJECT


def test_claims_need_the_secret_and_the_error_names_it(engine, database_url):
    """Without BRIDGE_CLAIM_SECRET a pack order fails whole, naming the variable."""
    config = claim_settings(database_url, claims={"secret": None})
    with pytest.raises(Exception, match="BRIDGE_CLAIM_SECRET"):
        apply(engine, config, pack_order(310))
    assert places(engine, 310) == []
    assert holdings(engine, "boss@employer.example") == NOTHING


def test_codes_are_the_same_after_a_database_rebuild(engine, config, tmp_path):
    """An empty database fed the same order gives the same codes (no local ids, no randomness)."""
    apply(engine, config, pack_order(311))
    before = codes(engine, config, 311)
    other = make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    from bridge.store.db import upgrade

    upgrade(other)
    try:
        rebuilt = config.replace(database={"url": str(other.url)})
        apply(other, rebuilt, pack_order(311))
        assert codes(other, rebuilt, 311) == before
    finally:
        other.dispose()


def test_the_report_shows_places_claimed_vs_sold_per_team_pack(engine, config):
    """Sold, claimed, held and void places per pack SKU, in the report's JSON and CSV."""
    apply(engine, config, pack_order(312))
    apply(engine, config, pack_order(313))
    first = codes(engine, config, 312)[0]
    claim_place(engine, first, "ann@employer.example", "Ann", config)
    apply(engine, config, pack_order(313, status="refunded", modified="2026-11-29T10:00:00"))
    now = utcnow()
    report = build_report(engine, report_period(None, None, "UTC", now), now)
    assert report.as_dict()["team_packs"] == [
        {
            "sku": PACK,
            "orders": 2,
            "sold": 10,
            "viewed": 1,
            "claimed": 1,
            "held": 1,
            "open": 4,
            "void": 5,
            "claim_rate": 0.1,
        }
    ]
    assert ("team_packs", PACK, "held", "1") in set(records(report))


def test_the_report_table_and_page_show_the_team_pack_funnel(engine, config):
    """`bridge report` and /report gain a team-pack section once a pack was sold."""
    from bridge.cli.report import render_table
    from webhooks.report_view import render_report

    now = utcnow()
    period = report_period(None, None, "UTC", now)
    assert "Team packs" not in render_table(build_report(engine, period, now))
    apply(engine, config, pack_order(314))
    claim_place(engine, codes(engine, config, 314)[0], "ann@employer.example", "Ann", config)
    report = build_report(engine, period, now)
    table = render_table(report)
    assert "Team packs" in table
    section = table.split("Team packs")[1]
    assert [line.split() for line in section.splitlines() if line.startswith(PACK)] == [
        [PACK, "1", "5", "1", "1", "1", "4", "0", "20.0%"]
    ]
    assert "Team packs: places claimed vs sold" in str(render_report(report))


def test_codes_made_under_another_secret_still_work_but_are_not_shown(engine, config):
    """After the secret changes, `bridge claims` cannot recompute old codes and says so."""
    apply(engine, config, pack_order(315))
    old = codes(engine, config, 315)[0]
    changed = config.replace(claims={"secret": "a-new-secret-0123456789abcdef"})
    assert codes(engine, changed, 315) == [None] * 5
    claim_place(engine, old, "ann@employer.example", "Ann", changed)
    assert holdings(engine, "ann@employer.example") == PROJECT


def test_each_pack_order_lists_its_places_open_or_claimed_and_by_whom(engine, config):
    """Two packs: the claimed place names its claimant, every other place is open."""
    apply(engine, config, pack_order(316))
    apply(engine, config, pack_order(317, quantity=2, email="other@boss.example", customer_id=41))
    claim_place(engine, codes(engine, config, 316)[0], "ann@employer.example", "Ann", config)
    first = list_claims(engine, 316, config)["places"]
    second = list_claims(engine, 317, config)["places"]
    assert [(p["offer_sku"], p["status"], p["claimed_by"]) for p in first] == [
        (PACK, "claimed", "ann@employer.example")
    ] + [(PACK, "open", None)] * 4
    assert [(p["offer_sku"], p["status"], p["claimed_by"]) for p in second] == [
        (PACK, "open", None)
    ] * 10


def test_a_pack_sold_before_the_bridge_watched_makes_places_but_tells_nobody(engine, database_url):
    """History: the places and codes exist (`bridge claims` lists them), but no note is sent."""
    from datetime import UTC, datetime

    config = claim_settings(
        database_url, writeback={"notify_since": datetime(2027, 1, 1, tzinfo=UTC)}
    )
    apply(engine, config, pack_order(318))
    assert len(places(engine, 318)) == 5
    assert all(codes(engine, config, 318))
    with unit_of_work(engine) as session:
        events = [(row.payload or {}).get("event") for row in session.exec(select(OutboxItem))]
    assert "claim_links" not in events
