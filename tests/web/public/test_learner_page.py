"""The learner's own page and calendar feed through the Flask app: what it shows, to whom, and
the calendar read back by an independent parser (icalendar + recurring-ical-events)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from sqlmodel import select

from bridge.services.learner_links import revoke_page_link, rotate_page_link
from bridge.services.orders import store_file_catalogue
from bridge.services.team_packs import claim_place, list_claims
from bridge.store.db import unit_of_work
from bridge.store.models import LearnerPageLink, OutboxItem
from tests.support.bookings import booking_app, calcom_variant, link_token, post_calcom
from tests.support.learner_page import (
    ANN,
    BOOKING_URL,
    NOW,
    ann_with_everything,
    learner_id,
    link_of,
    order,
    page_catalogue,
    page_settings,
)
from webhooks import create_app

BERLIN = ZoneInfo("Europe/Berlin")
pytestmark = pytest.mark.both_databases


@pytest.fixture
def config(database_url, tmp_path):
    return page_settings(database_url, tmp_path)


@pytest.fixture
def client(engine, config):
    app = create_app(config, engine, handlers={}, background=False, clock=lambda: NOW)
    # The example catalogue with a bookable mentor hour, as the creator's file would give it.
    app.extensions["bridge"] = dataclasses.replace(
        app.extensions["bridge"], catalogue=page_catalogue
    )
    return app.test_client()


@pytest.fixture
def ann(engine, config):
    ann_with_everything(engine, config)
    return link_of(engine, config, ANN)


def test_the_page_shows_mentor_time_the_waitlist_place_and_the_credential(client, ann):
    """Mentor time in hours and minutes, the seat as 2nd in line, the credential with its
    downloads and LinkedIn's add-certification link, the booking page pre-filled."""
    answer = client.get(f"/me/{ann}")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "5 hours, 30 minutes" in html  # the 5-hour pack and the 30-minute complimentary call
    assert "Complimentary first call: 30 minutes (not used yet)" in html
    assert "waitlist: 2nd in line" in html
    assert "Data-viz cohort, January 2027" in html
    assert "Tuesday, 12 January 2027, 17:00 (Europe/Berlin)" in html
    assert "6 sessions, 1 hour, 30 minutes each" in html
    assert "Data-viz assessment" in html and ".jwt" in html and ".json" in html
    assert "Data-viz practitioner pathway" in html  # pathway progress (bridge.services.credentials)
    linkedin = next(
        part.split('"')[0]
        for part in html.split('href="')
        if part.startswith("https://www.linkedin.com/profile/add")
    )
    query = parse_qs(urlsplit(linkedin.replace("&amp;", "&")).query)
    assert query["startTask"] == ["CERTIFICATION_NAME"]
    assert query["name"] == ["Data-viz practitioner"]  # the badge the credential names
    assert query["organizationName"] == ["Dana Datawright"]  # BRIDGE_ISSUER_NAME
    assert query["issueYear"] == [str(NOW.year)] and query["issueMonth"] == [str(NOW.month)]
    assert query["certUrl"][0].startswith("https://bridge.example.com/credentials/")
    assert query["certId"][0] in query["certUrl"][0]
    booking = next(
        part.split('"')[0] for part in html.split('href="') if part.startswith(BOOKING_URL)
    )
    booking_query = parse_qs(urlsplit(booking.replace("&amp;", "&")).query)
    assert booking_query["email"] == [ANN]
    assert booking_query["metadata[booking_token]"][0].startswith("bk-")


def test_the_answer_keeps_out_of_caches_referrers_and_search_engines(client, ann):
    """Every answer, found or not: no-referrer, private no-store, noindex."""
    for path in (f"/me/{ann}", f"/me/{ann}/calendar.ics", "/me/me-" + "a" * 26):
        headers = client.get(path).headers
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "private, no-store"
        assert "noindex" in headers["X-Robots-Tag"]


def test_another_learners_a_revoked_and_a_random_token_show_nothing_of_ann(
    engine, config, client, ann
):
    """Bo's link shows Bo; Ann's revoked link, a random token and junk are one plain 404."""
    bo = link_of(engine, config, "bo@example.com")
    bo_page = client.get(f"/me/{bo}").get_data(as_text=True)
    assert (
        "bo@example.com" in bo_page
        and ANN not in bo_page
        and "Add to LinkedIn profile" not in bo_page
    )
    with unit_of_work(engine) as session:
        fresh = rotate_page_link(
            session, learner_id(engine, ANN), config.claims.secret, config.web.public_url
        )
        session.commit()
    missing = client.get("/me/me-" + "a" * 26)
    assert missing.status_code == 404
    for token in (ann, "me-" + "b" * 26, "junk", "bk-" + "a" * 26):
        for path in (f"/me/{token}", f"/me/{token}/calendar.ics"):
            answer = client.get(path)
            assert answer.status_code == 404
            assert answer.get_data() == missing.get_data()
            assert ANN not in answer.get_data(as_text=True)
    assert fresh.token is not None and client.get(f"/me/{fresh.token}").status_code == 200
    with unit_of_work(engine) as session:
        assert revoke_page_link(session, learner_id(engine, ANN))
        session.commit()
    assert client.get(f"/me/{fresh.token}").status_code == 404


def test_opening_the_page_is_remembered_for_the_console(engine, client, ann):
    """The link row says when the page was last opened (the calendar feed does not count)."""
    opened = select(LearnerPageLink.opened_at).where(
        LearnerPageLink.learner_id == learner_id(engine, ANN)
    )
    client.get(f"/me/{ann}/calendar.ics")
    with unit_of_work(engine) as session:
        assert session.exec(opened).all() == [None]
    client.get(f"/me/{ann}")
    with unit_of_work(engine) as session:
        assert session.exec(opened).all() == [NOW]


def _feed(client, token):
    answer = client.get(f"/me/{token}/calendar.ics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/calendar"
    return icalendar.Calendar.from_ical(answer.get_data())


def test_the_calendar_lists_the_cohorts_sessions_in_the_cohorts_time_zone(engine, config, client):
    """An independent parser expands the weekly series: six sessions at 17:00 Berlin time, one
    UID, a VTIMEZONE for Europe/Berlin; the seat holder's events are confirmed."""
    ann_with_everything(engine, config)
    cy = link_of(engine, config, "cy@example.com")
    calendar = _feed(client, cy)
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT1H"
    assert calendar["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    zones = [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Berlin"]
    [series] = calendar.walk("VEVENT")
    assert series["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert str(series["STATUS"]) == "CONFIRMED" and series["SEQUENCE"] == 0
    occurrences = recurring_ical_events.of(calendar).between(date(2027, 1, 1), date(2027, 3, 1))
    starts = [event["DTSTART"].dt for event in occurrences]
    assert [start.astimezone(BERLIN).strftime("%a %d %b %H:%M") for start in starts] == [
        "Tue 12 Jan 17:00",
        "Tue 19 Jan 17:00",
        "Tue 26 Jan 17:00",
        "Tue 02 Feb 17:00",
        "Tue 09 Feb 17:00",
        "Tue 16 Feb 17:00",
    ]
    assert {str(event["UID"]) for event in occurrences} == {str(series["UID"])}
    assert all(
        event["DTEND"].dt - event["DTSTART"].dt == datetime(1, 1, 1, 1, 30) - datetime(1, 1, 1)
        for event in occurrences
    )
    assert str(series["LOCATION"]) == "https://meet.example.com/dv-2027-01"


def test_refunding_the_seat_cancels_its_sessions_and_raises_the_sequence(engine, config, client):
    """Cy's refund: the same UID comes back CANCELLED with SEQUENCE 1; Bo, promoted, sees the
    sessions confirmed where they were tentative."""
    ann_with_everything(engine, config)
    cy, bo = link_of(engine, config, "cy@example.com"), link_of(engine, config, "bo@example.com")
    [before] = _feed(client, cy).walk("VEVENT")
    [waiting] = _feed(client, bo).walk("VEVENT")
    assert str(waiting["STATUS"]) == "TENTATIVE"
    assert _feed(client, cy).walk("VEVENT")[0]["SEQUENCE"] == 0  # unchanged: same sequence
    order(
        engine,
        config,
        7100,
        "COHORT-DV-2027-01",
        "cy@example.com",
        300,
        status="refunded",
        modified="2026-11-29T10:00:00",
    )
    [after] = _feed(client, cy).walk("VEVENT")
    assert str(after["UID"]) == str(before["UID"])
    assert str(after["STATUS"]) == "CANCELLED" and after["SEQUENCE"] == 1
    [promoted] = _feed(client, bo).walk("VEVENT")
    assert str(promoted["STATUS"]) == "CONFIRMED" and promoted["SEQUENCE"] == 1


def test_requests_past_the_limit_per_address_get_429(engine, database_url, tmp_path, ann):
    """The per-address limit on /me/*: the third request in a minute is refused."""
    config = page_settings(database_url, tmp_path, claims={"page_requests_per_minute": 2})
    client = create_app(config, engine, handlers={}, background=False).test_client()
    assert [client.get(f"/me/{ann}/calendar.ics").status_code for _ in range(3)][-1] == 429


def test_the_first_customer_note_carries_the_link_once(engine, config):
    """Ann's first customer note ends with her page's address; her later notes do not."""
    ann_with_everything(engine, config)
    ann_id = learner_id(engine, ANN)
    with unit_of_work(engine) as session:
        notes = [
            (row.target_key, row.payload["data"]["note"])
            for row in session.exec(select(OutboxItem).order_by(OutboxItem.id)).all()
            if row.resource == "order_note" and row.payload.get("notify") == ann_id
        ]
    assert len(notes) >= 2
    carrying = [text for _, text in notes if "https://bridge.example.com/me/me-" in text]
    assert len(carrying) == 1 and carrying[0] == notes[0][1]


def test_a_booked_mentor_session_is_on_the_page_and_in_the_feed_until_cancelled(engine, config):
    """Ann books through her link (a real Cal.com delivery): her page lists it as upcoming, the
    feed as a confirmed event in the shop's zone; its cancellation: CANCELLED, SEQUENCE 1."""
    ann_with_everything(engine, config)
    page_token = link_of(engine, config, ANN)
    app = booking_app(engine, config, page_catalogue(), clock=lambda: NOW)
    app.extensions["bridge"] = dataclasses.replace(
        app.extensions["bridge"], catalogue=page_catalogue
    )
    client = app.test_client()
    booked = calcom_variant(
        "calcom_booking_created", email=ANN, token=link_token(engine, ANN, config.claims.secret)
    )
    assert post_calcom(client, booked).status_code == 200
    html = client.get(f"/me/{page_token}").get_data(as_text=True)
    assert "with Marco Rossi" in html and "Tuesday, 8 December 2026, 15:00" in html
    assert ">upcoming<" in html
    [booking] = [e for e in _feed(client, page_token).walk("VEVENT") if "booking-" in e["UID"]]
    assert booking["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert booking["DTSTART"].dt == datetime(2026, 12, 8, 15, tzinfo=BERLIN)
    assert str(booking["STATUS"]) == "CONFIRMED" and booking["SEQUENCE"] == 0
    cancelled = calcom_variant("calcom_booking_cancelled", uid="k3Hq8vN2pXc5RtY7wL9mZa", email=ANN)
    assert post_calcom(client, cancelled).status_code == 200
    [after] = [e for e in _feed(client, page_token).walk("VEVENT") if "booking-" in e["UID"]]
    assert str(after["UID"]) == str(booking["UID"])
    assert str(after["STATUS"]) == "CANCELLED" and after["SEQUENCE"] == 1


def test_a_team_pack_buyer_sees_each_place_who_claimed_it_and_the_open_links(
    engine, config, client
):
    """The employer's page lists the five places: one claimed (name and e-mail), four open with
    their claim links; the claimant's own page shows none of that."""
    store_file_catalogue(engine, page_catalogue())
    order(engine, config, 7300, "TEAM-DV-PROJECT-5", "boss@employer.example", 400)
    codes = [place["code"] for place in list_claims(engine, 7300, config)["places"]]
    claim_place(engine, codes[0], "kim@employer.example", "Kim Park", config)
    html = client.get(f"/me/{link_of(engine, config, 'boss@employer.example')}").get_data(
        as_text=True
    )
    assert "Team places" in html and "Kim Park kim@employer.example" in html
    assert sum(f"https://bridge.example.com/claims/{code}" in html for code in codes[1:]) == 4
    assert codes[0] not in html
    kim = client.get(f"/me/{link_of(engine, config, 'kim@employer.example')}").get_data(
        as_text=True
    )
    assert "Team places" not in kim and "boss@employer.example" not in kim


def test_history_gets_no_note_and_so_no_link(engine, config):
    """Orders from before the bridge watched the shop are told to nobody: no note, no link."""
    history = config.replace(writeback={"notify_since": datetime(2100, 1, 1, tzinfo=BERLIN)})
    store_file_catalogue(engine, page_catalogue())
    order(engine, history, 7400, "MENTOR-PACK-3H", ANN, 7)
    with unit_of_work(engine) as session:
        assert session.exec(select(LearnerPageLink)).all() == []
        assert (
            session.exec(select(OutboxItem).where(OutboxItem.resource == "order_note")).all() == []
        )
