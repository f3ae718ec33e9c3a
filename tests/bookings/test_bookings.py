"""Bookings from Cal.com and Calendly debit, move and return mentor credits by themselves.

These tests are about what a booking does once its learner is known, so their creator trusts
attendee e-mails (BRIDGE_BOOKINGS_TRUST_EMAIL); test_booking_proofs.py beside them is about the
proof.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery
from tests.support.bookings import (
    CALCOM_URL,
    CALENDLY_URL,
    LENA,
    SECRET,
    SIGNED_AT,
    booking_app,
    bookings_by_key,
    calcom_headers,
    calcom_variant,
    calendly_headers,
    calendly_variant,
    invitee_uri,
    post_calcom,
    post_calendly,
    raw,
)
from tests.support.redemptions import balance_of, fund, written_rows

CREATED_KEY = "calcom:k3Hq8vN2pXc5RtY7wL9mZa:lena.fischer@example.com"
MOVED_KEY = "calcom:R7tPq2Wd9sXk4LmN8vBc3e:lena.fischer@example.com"


@pytest.fixture
def trusting(settings):
    """The settings of a creator who lets attendee e-mails debit their learners."""
    return settings.replace(bookings={"trust_email": True})


@pytest.fixture
def client(engine, trusting):
    return booking_app(engine, trusting).test_client()


def test_calcom_created_reschedule_and_cancel_debit_once_move_and_return_once(client, engine, lena):
    """Created 60 -> -60; the same delivery again, then the reschedule -> nothing; cancel -> +60."""
    start = balance_of(engine, lena)
    assert post_calcom(client, raw("calcom_booking_created")).status_code == 200
    assert balance_of(engine, lena) == start - 60
    rows = written_rows(engine)
    again = post_calcom(client, raw("calcom_booking_created"))
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert written_rows(engine) == rows
    assert post_calcom(client, raw("calcom_booking_rescheduled")).status_code == 200
    assert balance_of(engine, lena) == start - 60
    assert written_rows(engine) == rows
    bookings = bookings_by_key(engine)
    assert bookings[CREATED_KEY].status == "rescheduled"
    assert bookings[MOVED_KEY].status == "debited"
    assert bookings[MOVED_KEY].redemption_id == bookings[CREATED_KEY].redemption_id
    assert post_calcom(client, raw("calcom_booking_cancelled")).status_code == 200
    assert balance_of(engine, lena) == start
    # The same cancellation, re-sent with other bytes (another createdAt), returns nothing more.
    late = calcom_variant("calcom_booking_cancelled", cancellationReason="sent twice")
    assert post_calcom(client, late).status_code == 200
    assert balance_of(engine, lena) == start
    assert bookings_by_key(engine)[MOVED_KEY].status == "returned"


def test_a_reschedule_to_another_length_spends_the_new_length_once(client, engine, lena):
    """Rescheduled from 60 to a 30-minute booking: 60 back, 30 spent, net -30."""
    start = balance_of(engine, lena)
    post_calcom(client, raw("calcom_booking_created"))
    post_calcom(client, calcom_variant("calcom_booking_rescheduled", length=30))
    assert balance_of(engine, lena) == start - 30
    post_calcom(client, calcom_variant("calcom_booking_rescheduled", length=30))
    assert balance_of(engine, lena) == start - 30


def test_a_reschedule_of_a_booking_never_seen_debits_as_a_new_booking(client, engine, lena):
    """The created delivery was lost: the reschedule alone spends the minutes, once."""
    start = balance_of(engine, lena)
    post_calcom(client, raw("calcom_booking_rescheduled"))
    assert balance_of(engine, lena) == start - 60
    post_calcom(client, raw("calcom_booking_created"))  # arrives late: a booking already moved
    assert balance_of(engine, lena) == start - 60
    assert bookings_by_key(engine)[CREATED_KEY].status == "rescheduled"


def test_seats_of_one_cal_com_booking_are_separate_bookings(client, engine, lena):
    """Two attendees of one seated uid are two bookings, each debited once."""
    fund(engine, "sam@example.com", customer_id=55)
    start = balance_of(engine, lena), balance_of(engine, "sam@example.com")
    post_calcom(client, raw("calcom_booking_created"))
    post_calcom(client, calcom_variant("calcom_booking_created", email="Sam@Example.com"))
    assert (balance_of(engine, lena), balance_of(engine, "sam@example.com")) == (
        start[0] - 60,
        start[1] - 60,
    )


@pytest.mark.parametrize("order", [("canceled", "created"), ("created", "canceled")])
def test_calendly_reschedule_pair_moves_the_debit_in_either_order(client, engine, lena, order):
    """invitee.canceled (rescheduled) and invitee.created (old_invitee) in any order: one debit."""
    start = balance_of(engine, lena)
    post_calendly(client, raw("calendly_invitee_created"))
    assert balance_of(engine, lena) == start - 60
    halves = {
        "canceled": raw("calendly_reschedule_1_invitee_canceled"),
        "created": raw("calendly_reschedule_2_invitee_created"),
    }
    for half in order:
        assert post_calendly(client, halves[half]).status_code == 200
        assert balance_of(engine, lena) == start - 60
    for half in order:  # re-sent: still nothing
        post_calendly(client, halves[half])
    assert balance_of(engine, lena) == start - 60
    assert post_calendly(client, raw("calendly_invitee_canceled")).status_code == 200
    assert balance_of(engine, lena) == start
    post_calendly(client, raw("calendly_invitee_canceled"))
    assert balance_of(engine, lena) == start


def test_a_calendly_cancellation_without_reschedule_returns_the_minutes(client, engine, lena):
    """A plain invitee.canceled of a debited invitee gives the 60 minutes back, once."""
    start = balance_of(engine, lena)
    post_calendly(client, calendly_variant("calendly_invitee_created", minutes=45))
    assert balance_of(engine, lena) == start - 45
    cancel = calendly_variant(
        "calendly_invitee_canceled", invitee=payload_uri("calendly_invitee_created")
    )
    post_calendly(client, cancel)
    assert balance_of(engine, lena) == start


def payload_uri(name: str) -> str:
    from tests.support.bookings import payload

    return payload(name)["payload"]["uri"]


def test_bad_signatures_are_refused_with_401_and_nothing_stored(client, engine):
    """Wrong secret, missing header, Cal.com's no-secret literal, a Calendly replay: all 401."""
    body = raw("calcom_booking_created")
    wrong = client.post(CALCOM_URL, data=body, headers=calcom_headers(body, "other-secret"))
    assert wrong.status_code == 401 and "invalid" in wrong.get_json()["error"]
    unsigned = client.post(
        CALCOM_URL, data=body, headers={"X-Cal-Signature-256": "no-secret-provided"}
    )
    assert unsigned.status_code == 401 and "unsigned" in unsigned.get_json()["error"]
    assert client.post(CALCOM_URL, data=body).status_code == 401
    altered = body.replace(b'"length":60', b'"length":6')
    assert client.post(CALCOM_URL, data=altered, headers=calcom_headers(body)).status_code == 401
    created = raw("calendly_invitee_created")
    stale = client.post(
        CALENDLY_URL, data=created, headers=calendly_headers(created, SIGNED_AT - 301)
    )
    assert stale.status_code == 401 and "stale" in stale.get_json()["error"]
    assert (
        client.post(
            CALENDLY_URL, data=created, headers={"Calendly-Webhook-Signature": "v1=deadbeef"}
        ).status_code
        == 401
    )
    assert written_rows(engine) == (0, 0, 0)
    assert bookings_by_key(engine) == {}
    with unit_of_work(engine) as session:
        assert session.exec(select(InboxDelivery)).all() == []


def test_the_calendly_sample_verifies_only_within_five_minutes_of_its_time(engine, settings):
    """The fixed sample time verifies with the clock at it, and is refused 5 minutes later."""
    from datetime import UTC, datetime

    late = booking_app(engine, settings, clock=lambda: datetime.fromtimestamp(SIGNED_AT + 301, UTC))
    body = raw("calendly_invitee_created")
    response = late.test_client().post(CALENDLY_URL, data=body, headers=calendly_headers(body))
    assert response.status_code == 401
    on_time = booking_app(
        engine, settings, clock=lambda: datetime.fromtimestamp(SIGNED_AT + 299, UTC)
    )
    assert (
        on_time.test_client()
        .post(CALENDLY_URL, data=body, headers=calendly_headers(body))
        .status_code
        == 200
    )


def test_a_receiver_without_its_secret_answers_503_and_stores_nothing(engine, settings):
    """No BRIDGE_CALCOM_WEBHOOK_SECRET: the bridge cannot verify, so it takes nothing."""
    from webhooks import create_app

    app = create_app(settings, engine, handlers={}, background=False)
    body = raw("calcom_booking_created")
    response = app.test_client().post(CALCOM_URL, data=body, headers=calcom_headers(body))
    assert response.status_code == 503
    assert "BRIDGE_CALCOM_WEBHOOK_SECRET" in response.get_json()["error"]


def test_unknown_events_are_acknowledged_and_ignored(client, engine, lena):
    """BOOKING_PAID and routing_form_submission.created: 200, stored as ignored, no debit."""
    start = balance_of(engine, lena)
    paid = raw("calcom_booking_created").replace(b'"BOOKING_CREATED"', b'"BOOKING_PAID"')
    response = post_calcom(client, paid)
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    form = raw("calendly_invitee_created").replace(
        b'"invitee.created"', b'"routing_form_submission.created"'
    )
    assert post_calendly(client, form).get_json()["status"] == "ignored"
    assert balance_of(engine, lena) == start
    assert bookings_by_key(engine) == {}


def test_malformed_bookings_get_400_and_never_a_server_error(client, engine):
    """Signed, but not JSON or without a uid or attendee: 400 with a JSON error."""
    for body in (
        b"not json",
        b"[]",
        b'{"triggerEvent":"BOOKING_CREATED","payload":{}}',
        b'{"triggerEvent":"BOOKING_CREATED","payload":[]}',
        b'{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"x","attendees":"?"}}',
    ):
        response = post_calcom(client, body)
        assert response.status_code in (200, 400), body
        assert response.is_json
    for body in (
        b'{"event":"invitee.created","payload":{"uri":"u"}}',
        b'{"event":"invitee.created","payload":null}',
    ):
        response = post_calendly(client, body)
        assert response.status_code == 400 and response.is_json


def test_a_balance_short_records_the_booking_unfunded_and_debits_nothing(client, engine):
    """30 minutes left for a 60-minute call: nothing debited, the booking is unfunded."""
    from bridge.services.ledger import adjust_credits, find_learner

    fund(engine, LENA, customer_id=3187)
    with unit_of_work(engine) as session:
        adjust_credits(session, find_learner(session, LENA), "mentor_minutes", -270, "test", "t-1")
        session.commit()
    rows = written_rows(engine)
    assert post_calcom(client, raw("calcom_booking_created")).status_code == 200
    assert balance_of(engine, LENA) == 30
    assert written_rows(engine) == rows
    booking = bookings_by_key(engine)[CREATED_KEY]
    assert booking.status == "unfunded" and "balance 30" in booking.note
    # Cancelling an unfunded booking returns nothing either.
    post_calcom(client, calcom_variant("calcom_booking_cancelled", uid="k3Hq8vN2pXc5RtY7wL9mZa"))
    assert balance_of(engine, LENA) == 30


def test_an_attendee_the_bridge_does_not_know_is_recorded_as_unknown_learner(client, engine):
    """A stranger's booking: 200, nothing debited, listed as unknown_learner."""
    body = calcom_variant("calcom_booking_created", email="stranger@example.com", metadata={})
    assert post_calcom(client, body).status_code == 200
    [booking] = bookings_by_key(engine).values()
    assert booking.status == "unknown_learner" and booking.learner_id is None


def test_the_learner_is_found_by_former_email_but_never_by_a_customer_id_on_the_link(
    client, engine, lena
):
    """An old address finds Lena; metadata[wc_customer_id] or utm_content=wc-customer-3187
    with an unknown address finds nobody."""
    from bridge.services.ledger import apply_customer

    with unit_of_work(engine) as session:
        apply_customer(session, {"id": 3187, "email": "lena@new.example.com"})
        session.commit()
    start = balance_of(engine, 3187)
    post_calcom(client, raw("calcom_booking_created"))  # booked with the former address
    assert balance_of(engine, 3187) == start - 60
    other = calcom_variant(
        "calcom_booking_created", uid="other-uid-1", email="lena.private@example.org"
    )
    post_calcom(client, other)  # unknown address, customer id on the booking link
    calendly = calendly_variant("calendly_invitee_created", email="someone@else.example")
    post_calendly(client, calendly)  # utm_content=wc-customer-3187
    assert balance_of(engine, 3187) == start - 60
    statuses = sorted(b.status for b in bookings_by_key(engine).values())
    assert statuses == ["debited", "unknown_learner", "unknown_learner"]


def test_a_catalogue_event_type_spends_its_own_credit_type(engine, trusting, lena):
    """A "portfolio review" event type spends one portfolio review, not minutes."""
    catalogue = parse_catalogue("""
[[bookings]]
event_type = "portfolio-review"
credit_type = "portfolio_reviews"
amount = 1

[[bookings]]
event_type = "https://api.calendly.com/event_types/9c8b7a65-4321-4fed-a987-6543210fedcb"
credit_type = "mentor_minutes"
amount = 45
""")
    from bridge.services.ledger import adjust_credits, find_learner

    with unit_of_work(engine) as session:
        adjust_credits(session, find_learner(session, LENA), "portfolio_reviews", 2, "test", "r")
        session.commit()
    client = booking_app(engine, trusting, catalogue).test_client()
    minutes = balance_of(engine, LENA)
    post_calcom(client, calcom_variant("calcom_booking_created", type="portfolio-review"))
    assert balance_of(engine, LENA, "portfolio_reviews") == 1
    assert balance_of(engine, LENA) == minutes
    post_calendly(client, raw("calendly_invitee_created"))  # its event type URI: 45 minutes
    assert balance_of(engine, LENA) == minutes - 45


def test_the_complimentary_first_call_is_spent_first(client, engine):
    """A learner with a complimentary call and a pack: the first booking spends the free call."""
    from bridge.services.orders import process_order
    from bridge.settings import Settings
    from tests.support.sample_shop import make_order, sample_catalogue

    order = make_order(7001, [("MENTOR-1H", 1)], email=LENA, customer_id=3187)
    process_order(
        engine,
        order,
        catalogue=sample_catalogue(),
        settings=Settings().replace(orders={"complimentary_call_minutes": 30}),
    )
    assert balance_of(engine, LENA) == 90
    post_calcom(client, calcom_variant("calcom_booking_created", length=30))
    booking = bookings_by_key(engine)[CREATED_KEY]
    assert booking.status == "debited" and booking.complimentary_minutes == 30
    assert booking.note == "complimentary call"
    post_calcom(client, calcom_variant("calcom_booking_created", uid="second", length=30))
    assert bookings_by_key(engine)["calcom:second:" + LENA].complimentary_minutes == 0
    assert balance_of(engine, LENA) == 30


def test_no_shows_forfeit_by_default_and_meeting_ended_marks_the_booking_held(client, engine, lena):
    """The no-show keeps the minutes spent; MEETING_ENDED (by booking number) marks it held."""
    start = balance_of(engine, lena)
    post_calcom(client, raw("calcom_no_show_booking_created"))
    assert post_calcom(client, raw("calcom_meeting_ended")).status_code == 200
    key = "calcom:Zm4Tc8Hw2Lq6Nr9Vx3Bp5d:" + LENA
    assert bookings_by_key(engine)[key].held_at is not None
    post_calcom(client, raw("calcom_booking_no_show_updated"))
    assert balance_of(engine, lena) == start - 60
    assert bookings_by_key(engine)[key].attendance == "no_show"
    post_calendly(client, raw("calendly_no_show_booking_created"))
    post_calendly(client, raw("calendly_invitee_no_show_created"))
    assert balance_of(engine, lena) == start - 120


def test_a_no_show_returns_the_minutes_when_the_creator_says_so(engine, trusting, lena):
    """BRIDGE_BOOKING_NO_SHOW=return: the no-show gives the minutes back, once."""
    client = booking_app(engine, trusting.replace(bookings={"no_show": "return"})).test_client()
    start = balance_of(engine, lena)
    post_calendly(client, raw("calendly_no_show_booking_created"))
    post_calendly(client, raw("calendly_invitee_no_show_created"))
    post_calendly(client, raw("calendly_invitee_no_show_created"))
    assert balance_of(engine, lena) == start
    with_calcom = raw("calcom_no_show_booking_created")
    post_calcom(client, with_calcom)
    post_calcom(client, raw("calcom_booking_no_show_updated"))
    assert balance_of(engine, lena) == start


def test_the_secret_is_never_written_to_the_log(client, engine, lena, caplog):
    """Neither the shared secret nor a signature appears in what the bridge logs."""
    body = raw("calcom_booking_created")
    post_calcom(client, body)
    client.post(CALCOM_URL, data=body, headers=calcom_headers(body, "wrong"))
    assert SECRET not in caplog.text
    assert calcom_headers(body)["X-Cal-Signature-256"] not in caplog.text


def test_invitee_uri_helper_gives_distinct_invitees():
    """The helper the concurrency test uses names a new invitee per number."""
    assert invitee_uri(1) != invitee_uri(2)
