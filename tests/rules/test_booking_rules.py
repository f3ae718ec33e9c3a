"""Booking rules (pure): the samples parse into booking events, signatures verify byte-exact."""

from __future__ import annotations

import json
import re

import pytest

from bridge.rules.bookings import events as rules
from bridge.rules.catalogue.catalog import CatalogueError
from bridge.rules.catalogue.catalog_file import parse_catalogue
from bridge.rules.inbound.signatures import (
    sign_calcom,
    sign_calendly,
    verify_calcom,
    verify_calendly,
)
from tests.support.bookings import SECRET, SIGNED_AT, payload, raw

# The header values the fixture README lists for the shared samples.
SIGNED = {
    "calcom_booking_cancelled": "f63fdea6365a0046ed41b6bc3276bb2b04876035e75cbc8d0bda952cca95aa8c",
    "calcom_booking_created": "78465a2ea4ae515adf6fb9c944c63b34c31999d22093ca4578bcbee49319e4f0",
    "calcom_booking_rescheduled": (
        "a00a8f09262394f6e9a7b34802df9fc892c622ca35ff8945ca8988deb11dee95"
    ),
    "calendly_invitee_canceled": "t=1767225600,v1="
    "a694b4cfda43dedf1c80032e97d0fe649acc2f3fc4f0be1adaf0895a29215934",
    "calendly_invitee_created": "t=1767225600,v1="
    "968f46c574496cf899dafc579feffa6199e2048c37a5983930a4a2bd76513cf1",
    "calendly_reschedule_1_invitee_canceled": "t=1767225600,v1="
    "c0f57f0976ec0aabd918ca63d5a2b364a800036d0ce87189d69ba4ce60d43d04",
    "calendly_reschedule_2_invitee_created": "t=1767225600,v1="
    "71a14168fa3428f13a1afa588a1acfa88e3ee742d83a67b38584018a8988adcd",
}
LENA_KEY = "calcom:k3Hq8vN2pXc5RtY7wL9mZa:lena.fischer@example.com"


@pytest.mark.parametrize("name", sorted(SIGNED))
def test_the_shared_samples_verify_with_the_signatures_their_readme_lists(name):
    """Signing the stored bytes gives the documented header; verifying it passes."""
    body = raw(name)
    if name.startswith("calcom"):
        assert sign_calcom(body, SECRET) == SIGNED[name]
        assert verify_calcom(body, SECRET, SIGNED[name]) is None
    else:
        assert sign_calendly(body, SECRET, SIGNED_AT) == SIGNED[name]
        assert verify_calendly(body, SECRET, SIGNED[name], now=SIGNED_AT + 299) is None


def test_reserialised_json_does_not_verify():
    """Only the raw bytes carry the signature; json.dumps(json.loads(body)) does not."""
    body = raw("calcom_booking_created")
    again = json.dumps(json.loads(body)).encode()
    assert verify_calcom(again, SECRET, SIGNED["calcom_booking_created"]) == "invalid"


def test_cal_com_refusals_name_the_reason():
    """Missing, Cal.com's no-secret literal, and a wrong digest are all refused."""
    body = raw("calcom_booking_created")
    assert verify_calcom(body, SECRET, None) == "missing"
    assert verify_calcom(body, SECRET, "no-secret-provided").startswith("unsigned")
    assert verify_calcom(body, "other", SIGNED["calcom_booking_created"]) == "invalid"
    assert verify_calcom(body, "", SIGNED["calcom_booking_created"]) == "invalid"


def test_calendly_refuses_stale_future_malformed_and_wrong_signatures():
    """Older (or later) than five minutes is stale; a header without t or v1 is malformed."""
    body = raw("calendly_invitee_created")
    good = SIGNED["calendly_invitee_created"]
    assert verify_calendly(body, SECRET, good, now=SIGNED_AT + 301) == "stale"
    assert verify_calendly(body, SECRET, good, now=SIGNED_AT - 301) == "stale"
    assert verify_calendly(body, SECRET, "v1=abc", now=SIGNED_AT) == "malformed"
    assert verify_calendly(body, SECRET, "t=abc,v1=abc", now=SIGNED_AT) == "malformed"
    assert verify_calendly(body, SECRET, f"t={SIGNED_AT},v1=00", now=SIGNED_AT) == "invalid"
    assert verify_calendly(body, SECRET, None, now=SIGNED_AT) == "missing"
    # A rotated key: the header may carry several v1 values; one good one is enough.
    assert (
        verify_calendly(
            body, SECRET, f"t={SIGNED_AT},v1=00,v1={good.split('v1=')[1]}", now=SIGNED_AT
        )
        is None
    )


def test_a_cal_com_booking_becomes_an_event_keyed_by_uid_and_attendee():
    """BOOKING_CREATED: key, 60 minutes, the organizer; a customer id in metadata is no token."""
    [event] = rules.parse_calcom(payload("calcom_booking_created"))
    assert event.kind == rules.CREATED and event.key == LENA_KEY
    assert (event.minutes, event.booking_number) == (60, 5811)
    assert event.booking_token == ""  # metadata.wc_customer_id = "3187" proves nothing
    assert event.mentor_email == "marco.rossi@example.com"
    assert event.event_types == ("1207", "mentor-call-60", "Mentor call (60 min)")


def test_cal_com_length_falls_back_to_the_times_and_the_booker_to_the_first_attendee():
    """Without length, end - start; without responses.email, the first attendee."""
    data = payload("calcom_booking_created")
    data["payload"].pop("length")
    data["payload"]["endTime"] = "2026-12-08T14:45:00Z"
    data["payload"]["responses"].pop("email")
    data["payload"]["attendees"][0]["email"] = " Lena.Fischer@Example.COM "
    [event] = rules.parse_calcom(data)
    assert event.minutes == 45 and event.key == LENA_KEY


def test_reschedules_cancellations_no_shows_and_meeting_ends_parse():
    """The rest of the Cal.com story: links, kinds and the numeric id MEETING_ENDED carries."""
    [moved] = rules.parse_calcom(payload("calcom_booking_rescheduled"))
    assert moved.kind == rules.RESCHEDULED and moved.previous_key == LENA_KEY
    [cancel] = rules.parse_calcom(payload("calcom_booking_cancelled"))
    assert cancel.kind == rules.CANCELLED and cancel.key == moved.key
    [absent] = rules.parse_calcom(payload("calcom_booking_no_show_updated"))
    assert absent.kind == rules.NO_SHOW
    [ended] = rules.parse_calcom(payload("calcom_meeting_ended"))
    assert ended.kind == rules.ENDED and ended.booking_number == 5902
    flat = {"triggerEvent": "MEETING_ENDED", **payload("calcom_meeting_ended")["payload"]}
    assert rules.parse_calcom(flat)[0].booking_number == 5902


def test_calendly_invitees_and_their_reschedule_halves_parse():
    """Created, the two reschedule halves pointing at each other, and a plain cancel."""
    [created] = rules.parse_calendly(payload("calendly_invitee_created"))
    assert created.kind == rules.CREATED and created.minutes == 60
    assert created.booking_token == ""  # utm_content = "wc-customer-3187" proves nothing
    assert created.mentor_email == "marco.rossi@example.com"
    [old] = rules.parse_calendly(payload("calendly_reschedule_1_invitee_canceled"))
    [new] = rules.parse_calendly(payload("calendly_reschedule_2_invitee_created"))
    assert old.kind == rules.RESCHEDULING and old.key == created.key and old.next_key == new.key
    assert new.kind == rules.RESCHEDULED and new.previous_key == created.key
    [cancel] = rules.parse_calendly(payload("calendly_invitee_canceled"))
    assert cancel.kind == rules.CANCELLED and cancel.key == new.key
    [absent] = rules.parse_calendly(payload("calendly_invitee_no_show_created"))
    assert absent.kind == rules.NO_SHOW


def test_events_the_bridge_does_not_act_on_give_no_booking_event():
    """BOOKING_PAID, routing forms, event types: nothing to do."""
    assert rules.parse_calcom({"triggerEvent": "BOOKING_PAID", "payload": {}}) == []
    assert rules.parse_calendly({"event": "event_type.updated", "payload": {}}) == []


@pytest.mark.parametrize(
    "envelope",
    [
        [],
        {"triggerEvent": "BOOKING_CREATED", "payload": "x"},
        {"triggerEvent": "BOOKING_CREATED", "payload": {"uid": "u"}},
        {"triggerEvent": "BOOKING_NO_SHOW_UPDATED", "payload": {}},
    ],
)
def test_a_booking_without_its_identity_is_a_payload_error(envelope):
    """No uid or attendee: BookingPayloadError, never a crash."""
    with pytest.raises(rules.BookingPayloadError):
        rules.parse_calcom(envelope)


def test_the_catalogue_maps_event_types_to_credit_types_and_amounts():
    """By slug, id or URI (case-insensitive); else the booking's length in mentor minutes."""
    [event] = rules.parse_calcom(payload("calcom_booking_created"))
    assert rules.charge_for(event, ()) == rules.Charge("mentor_minutes", 60)
    catalogue = parse_catalogue(
        '[[bookings]]\nevent_type = "MENTOR-CALL-60"\n'
        'credit_type = "portfolio_reviews"\namount = 1\n'
    )
    assert rules.charge_for(event, catalogue.booking_types) == rules.Charge("portfolio_reviews", 1)
    by_id = parse_catalogue("[[bookings]]\nevent_type = 1207\n")
    assert rules.charge_for(event, by_id.booking_types) == rules.Charge("mentor_minutes", 60)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[bookings]]\ncredit_type = "mentor_minutes"\n', "bookings[0].event_type"),
        (
            '[[bookings]]\nevent_type = "a"\ncredit_type = "portfolio_reviews"\n',
            "bookings[0].amount",
        ),
        ('[[bookings]]\nevent_type = "a"\nprice = 3\n', "bookings[0].price"),
        (
            '[[bookings]]\nevent_type = "a"\n[[bookings]]\nevent_type = "A"\n',
            "bookings[1].event_type",
        ),
        ('[[bookings]]\nevent_type = "a"\namount = 0\n', "bookings[0].amount"),
    ],
)
def test_a_malformed_bookings_entry_names_its_key(text, key):
    """Catalogue errors name the file and the dotted key."""
    with pytest.raises(CatalogueError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_catalogue(text)


TOKEN = "bk-" + "a" * 26


def test_the_token_rides_in_cal_com_metadata_and_any_calendly_utm_field():
    """metadata.booking_token (Cal.com); a bk- value in any UTM field (Calendly), trimmed and
    lower-cased; other UTM values are marketing, not tokens."""
    data = payload("calcom_booking_created")
    data["payload"]["metadata"]["booking_token"] = f"  {TOKEN.upper()} "
    assert rules.parse_calcom(data)[0].booking_token == TOKEN
    data["payload"]["metadata"]["booking_token"] = 3187
    assert rules.parse_calcom(data)[0].booking_token == "?"  # present, but no token
    calendly = payload("calendly_invitee_created")
    calendly["payload"]["tracking"].update(utm_content="newsletter", utm_term=TOKEN)
    assert rules.parse_calendly(calendly)[0].booking_token == TOKEN
    calendly["payload"]["tracking"].update(utm_term="wc-customer-3187")
    assert rules.parse_calendly(calendly)[0].booking_token == ""


def test_a_learner_token_is_128_bits_derived_from_the_secret_and_its_nonce():
    """bk- and 26 base32 characters; another nonce, learner or secret gives another token."""
    from bridge.rules.bookings import links

    token = links.derive_token("secret", 7, "nonce-1")
    assert links.is_token(token) and len(token) == 29
    assert token == links.derive_token("secret", 7, "nonce-1")
    others = {
        links.derive_token("secret", 7, "nonce-2"),
        links.derive_token("secret", 8, "nonce-1"),
        links.derive_token("other", 7, "nonce-1"),
    }
    assert token not in others and len(others) == 3
    assert not links.is_token("wc-customer-3187") and not links.is_token(token + "a")
    assert links.token_hash(token) != token and len(links.token_hash(token)) == 64
    with pytest.raises(links.BookingLinkSecretMissing):
        links.derive_token("", 7, "nonce-1")
    assert links.link_parameters(token) == {
        "calcom": f"metadata[booking_token]={token}",
        "calendly": f"utm_content={token}",
    }


@pytest.mark.parametrize(
    ("source", "change", "named"),
    [
        ("calcom", lambda p: p["payload"].update(uid="k3H\x00q"), "payload.uid holds a NUL"),
        (
            "calcom",
            lambda p: p["payload"].update(uid="k3H\ud800q"),
            "payload.uid holds a lone surrogate",
        ),
        (
            "calcom",
            lambda p: p["payload"]["organizer"].update(name="Marco\x00"),
            "payload.organizer.name holds a NUL",
        ),
        (
            "calcom",
            lambda p: p["payload"]["organizer"].update(email="\udfffm@example.com"),
            "payload.organizer.email holds a lone surrogate",
        ),
        (
            "calcom",
            lambda p: p["payload"]["responses"]["email"].update(value="a\x00b@example.com"),
            "the attendee's e-mail holds a NUL",
        ),
        (
            "calcom",
            lambda p: p["payload"].update(type="mentor-call\ud800"),
            "the event type (payload.type, payload.eventTitle) holds a lone surrogate",
        ),
        (
            "calcom",
            lambda p: p.update(triggerEvent="BOOKING_\x00CREATED"),
            "triggerEvent holds a NUL",
        ),
        (
            "calendly",
            lambda p: p["payload"].update(uri="https://api.calendly.com/i/\x00"),
            "payload.uri (the invitee) holds a NUL",
        ),
        (
            "calendly",
            lambda p: p["payload"].update(email="lena\ud800@example.com"),
            "payload.email holds a lone surrogate",
        ),
        (
            "calendly",
            lambda p: p["payload"]["scheduled_event"]["event_memberships"][0].update(
                user_name="Marco\x00"
            ),
            "the host's name (scheduled_event.event_memberships) holds",
        ),
    ],
)
def test_a_text_no_database_can_store_is_a_payload_error_naming_the_field(source, change, named):
    """NUL characters and lone surrogates in what a booking keeps: refused, named."""
    data = payload("calcom_booking_created" if source == "calcom" else "calendly_invitee_created")
    change(data)
    with pytest.raises(rules.BookingPayloadError, match=re.escape(named)):
        rules.parse_delivery(source, data)


def test_surrogate_pairs_and_nul_free_text_elsewhere_are_fine():
    """An astral character (a proper pair) is text; a NUL in a text the booking does not keep
    (the description) is no reason to refuse."""
    data = payload("calcom_booking_created")
    data["payload"]["organizer"]["name"] = "Marco \U0001f600"
    data["payload"]["description"] = "a\x00b"
    [event] = rules.parse_delivery("calcom", data)
    assert event.mentor_name == "Marco \U0001f600"
    assert rules.unstorable("ok") is None and rules.unstorable("\ud800") == "a lone surrogate"
