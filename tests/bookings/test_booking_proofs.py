"""A booking debits a learner only on proof: the token of their booking link, or an operator's
approval of a booking that only names their e-mail (issue 36, S1). On both databases."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bridge.rules.bookings.links import derive_token
from bridge.services.bookings import (
    BookingNotFound,
    BookingPolicy,
    ReviewRefused,
    booking_link,
    review_booking,
    rotate_booking_link,
)
from bridge.services.ledger import find_learner
from bridge.store.db import unit_of_work
from bridge.store.models import Booking, InboxDelivery, Redemption
from tests.support.bookings import (
    CALCOM_URL,
    CALENDLY_URL,
    LENA,
    LENA_ID,
    LINK_SECRET,
    booking_app,
    bookings_by_key,
    calcom_headers,
    calcom_variant,
    calendly_headers,
    calendly_variant,
    compact,
    invitee_uri,
    link_token,
    payload,
    post_calcom,
    post_calendly,
    raw,
)
from tests.support.redemptions import balance_of, fund, written_rows

pytestmark = pytest.mark.both_databases

STRANGER = "stranger@evil.example"


@pytest.fixture
def client(engine, settings):
    """The receivers as a creator runs them by default: e-mails are not trusted."""
    return booking_app(engine, settings).test_client()


@pytest.fixture
def trusting(engine, settings):
    """The receivers of a creator who set BRIDGE_BOOKINGS_TRUST_EMAIL=true."""
    return booking_app(engine, settings.replace(bookings={"trust_email": True})).test_client()


def _only_booking(engine) -> Booking:
    [booking] = bookings_by_key(engine).values()
    return booking


def _review(engine, booking_id: int, approve: bool, policy: BookingPolicy | None = None, **kwargs):
    with unit_of_work(engine) as session:
        done = review_booking(
            session,
            booking_id,
            approve=approve,
            by="ops@example.com",
            policy=policy or BookingPolicy(),
            **kwargs,
        )
        session.commit()
    return done


def _redemptions(engine) -> int:
    with unit_of_work(engine) as session:
        return len(session.exec(select(Redemption)).all())


# --- S1's reproductions --------------------------------------------------------------------


def test_a_cal_com_booking_by_a_stranger_with_a_customer_id_in_metadata_debits_nobody(
    client, engine, lena
):
    """BOOKING_CREATED, attendee stranger@evil.example, metadata.wc_customer_id = 3187: 200,
    unknown_learner, Lena keeps her 300 minutes (the probe saw 210 -> 150)."""
    body = calcom_variant(
        "calcom_booking_created", email=STRANGER, metadata={"wc_customer_id": str(LENA_ID)}
    )
    assert post_calcom(client, body).status_code == 200
    assert balance_of(engine, lena) == 300
    booking = _only_booking(engine)
    assert (booking.status, booking.learner_id, booking.redemption_id) == (
        "unknown_learner",
        None,
        None,
    )
    assert _redemptions(engine) == 0


def test_a_calendly_booking_by_a_stranger_with_a_customer_tag_in_utm_content_debits_nobody(
    client, engine, lena
):
    """invitee.created, utm_content = "wc-customer-3187", a stranger's e-mail: nobody pays."""
    body = calendly_variant("calendly_invitee_created", email=STRANGER)
    assert json.loads(body)["payload"]["tracking"]["utm_content"] == f"wc-customer-{LENA_ID}"
    assert post_calendly(client, body).status_code == 200
    assert balance_of(engine, lena) == 300
    assert _only_booking(engine).status == "unknown_learner"
    assert _redemptions(engine) == 0


def test_an_attendee_who_types_a_learners_email_is_held_not_debited(client, engine, lena):
    """Lena's e-mail, no token (both tools): held for review with what approval would spend;
    the balance stays."""
    post_calcom(client, raw("calcom_booking_created"))
    post_calendly(client, calendly_variant("calendly_invitee_created", minutes=45))
    assert balance_of(engine, lena) == 300 and _redemptions(engine) == 0
    held = sorted(bookings_by_key(engine).values(), key=lambda b: b.id)
    assert [(b.status, b.matched_by, b.amount, b.redemption_id) for b in held] == [
        ("held_for_review", "email", 60, None),
        ("held_for_review", "email", 45, None),
    ]
    with unit_of_work(engine) as session:
        learner_id = find_learner(session, LENA).id
    assert {b.learner_id for b in held} == {learner_id}
    assert "only the attendee's e-mail names" in held[0].note


def test_with_trust_email_on_an_email_match_debits_as_before(trusting, engine, lena):
    """BRIDGE_BOOKINGS_TRUST_EMAIL=true: the attendee's e-mail alone debits its learner."""
    post_calcom(trusting, raw("calcom_booking_created"))
    assert balance_of(engine, lena) == 240
    booking = _only_booking(engine)
    assert (booking.status, booking.matched_by) == ("debited", "trusted_email")


def test_the_token_link_debits_its_learner_whatever_e_mail_is_typed(client, engine, lena):
    """The token from `bridge bookings link` in Cal.com metadata or Calendly's utm_content
    debits Lena, also when she books with another address."""
    token = link_token(engine, LENA)
    post_calcom(
        client,
        calcom_variant("calcom_booking_created", token=token, email="lena.private@example.org"),
    )
    post_calendly(client, calendly_variant("calendly_invitee_created", token=token))
    assert balance_of(engine, lena) == 180
    statuses = {(b.status, b.matched_by) for b in bookings_by_key(engine).values()}
    assert statuses == {("debited", "token")}


def test_a_token_that_matches_nobody_never_debits_anyone(client, trusting, engine, lena):
    """A made-up token with a stranger's e-mail: unknown_learner. With Lena's e-mail, even
    when e-mails are trusted: held for review, never debited."""
    forged = derive_token("not-the-secret", 1, "guess")
    post_calcom(
        client,
        calcom_variant("calcom_booking_created", uid="forged-1", email=STRANGER, token=forged),
    )
    post_calcom(trusting, calcom_variant("calcom_booking_created", uid="forged-2", token=forged))
    post_calendly(trusting, calendly_variant("calendly_invitee_created", token="bk-short"))
    assert balance_of(engine, lena) == 300 and _redemptions(engine) == 0
    rows = {b.external_id: b for b in bookings_by_key(engine).values()}
    assert rows["forged-1"].status == "unknown_learner"
    assert "token matches no learner" in rows["forged-1"].note
    assert rows["forged-2"].status == "held_for_review"
    assert "token matches no learner" in rows["forged-2"].note
    assert {b.status for b in rows.values()} == {"unknown_learner", "held_for_review"}


def test_a_rotated_token_stops_proving_and_the_new_one_works(client, engine, lena):
    """After rotation the old link's bookings are held (Lena's e-mail) or unknown (a
    stranger's); the new link debits."""
    old = link_token(engine, LENA)
    with unit_of_work(engine) as session:
        learner = find_learner(session, LENA)
        new = rotate_booking_link(session, learner, LINK_SECRET, by="test").token
        session.commit()
    assert new and new != old
    post_calcom(client, calcom_variant("calcom_booking_created", uid="old-link", token=old))
    post_calcom(
        client,
        calcom_variant("calcom_booking_created", uid="old-stranger", email=STRANGER, token=old),
    )
    post_calcom(client, calcom_variant("calcom_booking_created", uid="new-link", token=new))
    rows = {b.external_id: b.status for b in bookings_by_key(engine).values()}
    assert rows == {
        "old-link": "held_for_review",
        "old-stranger": "unknown_learner",
        "new-link": "debited",
    }
    assert balance_of(engine, lena) == 240


def test_the_database_keeps_only_the_tokens_hash_and_shows_the_link_again(engine, lena):
    """No column holds the token; the same link is shown again from the secret; another
    secret cannot show it (and says so) while the stored hash still verifies it."""
    token = link_token(engine, LENA)
    with unit_of_work(engine) as session:
        dump = json.dumps(
            [row.model_dump(mode="json") for row in session.exec(select(Booking)).all()]
        ) + repr(session.connection().exec_driver_sql("SELECT * FROM booking_token").all())
        learner = find_learner(session, LENA)
        assert booking_link(session, learner, LINK_SECRET).token == token
        assert booking_link(session, learner, "another-secret").token is None
    assert token not in dump and token[3:] not in dump


# --- review of held bookings ----------------------------------------------------------------


def test_approving_a_held_booking_debits_once_and_a_second_approval_changes_nothing(
    client, engine, lena
):
    """Approve: 60 debited with the booking's own redemption; approve again: the same answer,
    no second debit; a rejection after it is refused."""
    post_calcom(client, raw("calcom_booking_created"))
    booking = _only_booking(engine)
    done = _review(engine, booking.id, True)
    assert done.action == "approved" and done.balance == 240
    assert done.booking["status"] == "debited" and done.booking["matched_by"] == "approved"
    rows = written_rows(engine)
    again = _review(engine, booking.id, True)
    assert again.action == "already approved"
    assert written_rows(engine) == rows and balance_of(engine, lena) == 240
    with pytest.raises(ReviewRefused, match="already approved by ops@example.com"):
        _review(engine, booking.id, False)
    # Approved, it is Lena's: its cancellation gives the minutes back, once.
    post_calcom(client, calcom_variant("calcom_booking_cancelled", uid=booking.external_id))
    assert balance_of(engine, lena) == 300


def test_rejecting_a_held_booking_debits_nothing_and_keeps_it_listed(client, engine, lena):
    """Reject: nothing debited, the booking stays as rejected with who and why; approve after
    it is refused; rejecting again changes nothing."""
    post_calcom(client, raw("calcom_booking_created"))
    booking = _only_booking(engine)
    done = _review(engine, booking.id, False, reason="Lena never booked this")
    assert done.action == "rejected" and done.booking["status"] == "rejected"
    assert done.booking["reviewed_by"] == "ops@example.com"
    assert "Lena never booked this" in done.booking["note"]
    assert _review(engine, booking.id, False).action == "already rejected"
    with pytest.raises(ReviewRefused, match="already rejected"):
        _review(engine, booking.id, True)
    assert balance_of(engine, lena) == 300 and _redemptions(engine) == 0
    assert _only_booking(engine).status == "rejected"


def test_a_cancelled_held_booking_ends_without_a_debit_and_cannot_be_approved(client, engine, lena):
    """Cancel while held: cancelled, nothing debited; approving it then says why not."""
    post_calcom(client, raw("calcom_booking_created"))
    booking = _only_booking(engine)
    post_calcom(client, calcom_variant("calcom_booking_cancelled", uid=booking.external_id))
    assert _only_booking(engine).status == "cancelled"
    with pytest.raises(ReviewRefused, match="was cancelled in calcom before it was reviewed"):
        _review(engine, booking.id, True)
    assert balance_of(engine, lena) == 300 and _redemptions(engine) == 0


def test_a_reschedule_carries_the_hold_to_the_new_booking(client, engine, lena):
    """Cal.com: the held booking is rescheduled: the new one is held, the old one cannot be
    approved any more (it names the way), approving the new one debits 60 once."""
    post_calcom(client, raw("calcom_booking_created"))
    post_calcom(client, raw("calcom_booking_rescheduled"))
    rows = sorted(bookings_by_key(engine).values(), key=lambda b: b.id)
    assert [b.status for b in rows] == ["rescheduled", "held_for_review"]
    with pytest.raises(ReviewRefused, match="was rescheduled: review the new booking"):
        _review(engine, rows[0].id, True)
    assert _review(engine, rows[1].id, True).booking["status"] == "debited"
    assert balance_of(engine, lena) == 240
    post_calcom(client, raw("calcom_booking_cancelled"))  # cancels the new booking
    assert balance_of(engine, lena) == 300


@pytest.mark.parametrize("order", [("canceled", "created"), ("created", "canceled")])
def test_a_calendly_reschedule_of_a_held_invitee_holds_the_new_one(client, engine, lena, order):
    """The two halves in either order: one held booking to review, nothing debited."""
    post_calendly(client, raw("calendly_invitee_created"))
    halves = {
        "canceled": raw("calendly_reschedule_1_invitee_canceled"),
        "created": raw("calendly_reschedule_2_invitee_created"),
    }
    for half in order:
        assert post_calendly(client, halves[half]).status_code == 200
    statuses = sorted(b.status for b in bookings_by_key(engine).values())
    assert statuses == ["held_for_review", "rescheduled"]
    assert balance_of(engine, lena) == 300
    [held] = [b for b in bookings_by_key(engine).values() if b.status == "held_for_review"]
    _review(engine, held.id, True)
    assert balance_of(engine, lena) == 240


def test_a_cancelled_calendly_reschedule_of_a_held_invitee_ends_the_hold(client, engine, lena):
    """The old half came, then the new invitee was cancelled before its created arrived."""
    post_calendly(client, raw("calendly_invitee_created"))
    post_calendly(client, raw("calendly_reschedule_1_invitee_canceled"))
    post_calendly(client, raw("calendly_invitee_canceled"))
    statuses = sorted(b.status for b in bookings_by_key(engine).values())
    assert statuses == ["cancelled", "cancelled"]
    assert balance_of(engine, lena) == 300


def test_a_rescheduled_rejected_booking_stays_rejected(client, trusting, engine, lena):
    """Rejected, then rescheduled (even with e-mails trusted): the new booking is rejected."""
    post_calcom(client, raw("calcom_booking_created"))
    _review(engine, _only_booking(engine).id, False)
    post_calcom(trusting, raw("calcom_booking_rescheduled"))
    assert sorted(b.status for b in bookings_by_key(engine).values()) == ["rejected", "rejected"]
    assert balance_of(engine, lena) == 300


def test_a_no_show_before_approval_is_spent_as_the_policy_says(engine, settings, lena):
    """Held, marked no-show, then approved: forfeit spends the minutes; return gives them
    straight back (a debit and its reversal, as a proven booking would have had)."""
    client = booking_app(engine, settings).test_client()
    post_calcom(client, raw("calcom_no_show_booking_created"))
    post_calcom(client, raw("calcom_booking_no_show_updated"))
    held = _only_booking(engine)
    assert (held.status, held.attendance) == ("held_for_review", "no_show")
    done = _review(engine, held.id, True, BookingPolicy(no_show="return"))
    assert done.booking["status"] == "returned"
    assert balance_of(engine, lena) == 300


def test_an_unknown_or_impossible_booking_id_is_not_found(engine):
    """Ids nobody has, up to beyond the column's range: BookingNotFound, never a crash."""
    for booking_id in (1, 0, -5, 2**31, 2**63 + 1):
        with pytest.raises(BookingNotFound):
            _review(engine, booking_id, True)


def test_only_held_bookings_can_be_reviewed(client, engine, lena):
    """A debited (token) or unknown booking is not held: refused with its status."""
    post_calcom(client, calcom_variant("calcom_booking_created", token=link_token(engine, LENA)))
    with pytest.raises(ReviewRefused, match="is debited, not held for review"):
        _review(engine, _only_booking(engine).id, True)


# --- bodies that cannot be stored (README: 400 at the edge) ----------------------------------


def _with_text(name: str, path: tuple[str, ...], json_text: str) -> bytes:
    """The sample with one string replaced by raw JSON text (an escape json.dumps won't
    write, such as a lone surrogate), signed as the tool would."""
    data = payload(name)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@@MARK@@"
    return compact(data).replace(b'"@@MARK@@"', json_text.encode())


@pytest.mark.parametrize(
    ("url", "name", "path", "text", "named"),
    [
        (
            CALCOM_URL,
            "calcom_booking_created",
            ("payload", "uid"),
            r'"k3Hq\u0000"',
            "payload.uid holds a NUL character",
        ),
        (
            CALCOM_URL,
            "calcom_booking_created",
            ("payload", "uid"),
            r'"k3Hq\ud800"',
            "payload.uid holds a lone surrogate",
        ),
        (
            CALCOM_URL,
            "calcom_booking_created",
            ("payload", "organizer", "name"),
            r'"Marco\u0000Rossi"',
            "payload.organizer.name holds a NUL character",
        ),
        (
            CALCOM_URL,
            "calcom_booking_created",
            ("payload", "organizer", "email"),
            r'"\udc00@example.com"',
            "payload.organizer.email holds a lone surrogate",
        ),
        (
            CALCOM_URL,
            "calcom_booking_created",
            ("payload", "responses", "email", "value"),
            r'"lena\u0000@example.com"',
            "the attendee's e-mail holds a NUL character",
        ),
        (
            CALCOM_URL,
            "calcom_booking_cancelled",
            ("payload", "uid"),
            r'"R7tP\u0000"',
            "payload.uid holds a NUL character",
        ),
        (
            CALCOM_URL,
            "calcom_booking_created",
            ("triggerEvent",),
            r'"BOOKING_\ud800"',
            "triggerEvent holds a lone surrogate",
        ),
        (
            CALENDLY_URL,
            "calendly_invitee_created",
            ("payload", "uri"),
            r'"https://api.calendly.com/x/\u0000"',
            "payload.uri (the invitee) holds a NUL",
        ),
        (
            CALENDLY_URL,
            "calendly_invitee_created",
            ("payload", "email"),
            r'"lena\ud800@example.com"',
            "payload.email holds a lone surrogate",
        ),
        (
            CALENDLY_URL,
            "calendly_reschedule_2_invitee_created",
            ("payload", "old_invitee"),
            r'"https://api.calendly.com/x/\ud83d"',
            "payload.old_invitee holds a lone surrogate",
        ),
    ],
)
def test_signed_bodies_that_cannot_be_stored_are_a_400_and_store_nothing(
    client, engine, lena, url, name, path, text, named
):
    """NUL or a lone surrogate in a text the booking keeps: 400 with a JSON reason naming the
    field; no inbox row, no booking, no debit (SQLite used to debit a NUL uid)."""
    body = _with_text(name, path, text)
    headers = calcom_headers(body) if url == CALCOM_URL else calendly_headers(body)
    response = client.post(url, data=body, headers=headers)
    assert response.status_code == 400, response.data
    assert named in response.get_json()["error"]
    assert balance_of(engine, lena) == 300 and bookings_by_key(engine) == {}
    with unit_of_work(engine) as session:
        assert session.exec(select(InboxDelivery)).all() == []


def test_a_nul_in_text_the_booking_does_not_keep_is_stored_and_processed(client, engine, lena):
    """The description is not kept by the booking: the delivery is stored and processed."""
    body = _with_text("calcom_booking_created", ("payload", "description"), r'"a\u0000b"')
    response = client.post(CALCOM_URL, data=body, headers=calcom_headers(body))
    assert response.status_code == 200
    assert _only_booking(engine).status == "held_for_review"


def test_many_bookings_of_many_learners_each_need_their_own_token(client, engine):
    """Ten learners with links; each link debits its own learner only."""
    emails = [f"learner{n}@example.com" for n in range(10)]
    for number, email in enumerate(emails):
        fund(engine, email, customer_id=5000 + number)
    tokens = {email: link_token(engine, email) for email in emails}
    for number, email in enumerate(emails):
        # Everyone books as the first learner's address, with their own token.
        post_calendly(
            client,
            calendly_variant(
                "calendly_invitee_created",
                invitee=invitee_uri(number),
                email=emails[0],
                token=tokens[email],
            ),
        )
    assert [balance_of(engine, email) for email in emails] == [240] * 10


def test_a_booking_debited_through_the_link_is_followed_by_its_reschedule_and_cancel(
    client, engine, lena
):
    """The reschedule and the cancel carry no token: the debit moves, then comes back once."""
    post_calcom(client, calcom_variant("calcom_booking_created", token=link_token(engine, LENA)))
    assert balance_of(engine, lena) == 240
    post_calcom(client, raw("calcom_booking_rescheduled"))
    rows = sorted(bookings_by_key(engine).values(), key=lambda b: b.id)
    assert [(b.status, b.matched_by) for b in rows] == [
        ("rescheduled", "token"),
        ("debited", "token"),
    ]
    assert balance_of(engine, lena) == 240
    post_calcom(client, raw("calcom_booking_cancelled"))
    post_calcom(client, calcom_variant("calcom_booking_cancelled", cancellationReason="again"))
    assert balance_of(engine, lena) == 300
