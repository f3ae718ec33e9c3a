"""Page links (128 bits, only the hash stored, rotated, revoked) and Babel's wording of money,
dates and durations in the shop's locale, currency and time zone."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bridge.rules.bookings.links import BookingLinkSecretMissing
from bridge.rules.learner_page import derive_token, is_token, token_hash
from bridge.services.learner_links import (
    learner_for_page_token,
    page_link,
    revoke_page_link,
    rotate_page_link,
)
from bridge.services.learner_page import Formats
from bridge.services.learner_page.page import linkedin_add_url
from bridge.store.db import unit_of_work
from bridge.store.models import Learner, LearnerPageLink

SECRET = "a-test-secret-for-page-links-0123456"


def test_a_token_holds_128_bits_and_only_its_hash_is_stored(engine) -> None:
    """me- and 26 base32 characters (16 bytes); the row holds its SHA-256 and the nonce."""
    with unit_of_work(engine) as session:
        learner = Learner(email="ann@example.com")
        session.add(learner)
        session.flush()
        assert learner.id is not None
        link = page_link(session, learner.id, SECRET, "https://b.example", create=True)
        session.commit()
        assert link is not None and link.token is not None and is_token(link.token)
        raw = base64.b32decode(link.token[3:].upper() + "======")
        assert len(raw) == 16
        [row] = session.exec(select(LearnerPageLink)).all()
        assert row.token_hash == token_hash(link.token)
        assert link.token not in {row.nonce, row.token_hash, row.created_by}
        assert link.url == f"https://b.example/me/{link.token}"


@pytest.mark.both_databases
def test_rotating_and_revoking_leave_no_token_that_works(engine) -> None:
    """Two learners' tokens differ; a new link ends the old; revoking ends the new."""
    with unit_of_work(engine) as session:
        ann, bo = Learner(email="ann@example.com"), Learner(email="bo@example.com")
        session.add_all([ann, bo])
        session.flush()
        assert ann.id is not None and bo.id is not None
        first = page_link(session, ann.id, SECRET, None, create=True)
        other = page_link(session, bo.id, SECRET, None, create=True)
        assert first and other and first.token and other.token and first.token != other.token
        found = learner_for_page_token(session, other.token)
        assert found is not None and found.id == bo.id
        second = rotate_page_link(session, ann.id, SECRET, None)
        assert second.token and learner_for_page_token(session, first.token) is None
        found = learner_for_page_token(session, second.token)
        assert found is not None and found.id == ann.id
        assert revoke_page_link(session, ann.id) is True
        assert learner_for_page_token(session, second.token) is None
        assert revoke_page_link(session, ann.id) is False
        assert page_link(session, ann.id, SECRET, None) is None


def test_without_the_secret_no_link_is_made() -> None:
    """Links derive from BRIDGE_CLAIM_SECRET: none without it."""
    with pytest.raises(BookingLinkSecretMissing):
        derive_token("", 1, "00")


def test_money_dates_and_durations_follow_the_shops_locale() -> None:
    """Babel in de_DE with EUR in Berlin; en_US with USD in New York."""
    moment = datetime(2027, 1, 12, 16, 0, tzinfo=UTC)
    german = Formats("de_DE", "Europe/Berlin", "EUR")
    assert german.money("1234.5") == "1.234,50\xa0€"
    assert german.minutes(330) == "5 Stunden, 30 Minuten"
    assert german.date(moment) == "12. Januar 2027"
    assert german.datetime(moment) == "Dienstag, 12. Januar 2027, 17:00 (Europe/Berlin)"
    assert german.ordinal_place(2) == "#2"
    american = Formats("en_US", "America/New_York", "USD")
    assert american.money(1234.5) == "$1,234.50"
    assert american.minutes(-15) == "-15 minutes"
    assert american.datetime(moment).startswith("Tuesday, January 12, 2027, 11:00")
    assert [american.ordinal_place(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == [
        "1st in line",
        "2nd in line",
        "3rd in line",
        "4th in line",
        "11th in line",
        "12th in line",
        "13th in line",
        "21st in line",
        "22nd in line",
    ]


def test_the_linkedin_link_carries_the_documented_parameters() -> None:
    """startTask, name, organizationName (or organizationId), issueYear/Month, certUrl, certId."""
    url = linkedin_add_url(
        name="Data-viz practitioner",
        organization="Dana & Co",
        issued_at=datetime(2026, 11, 30, tzinfo=UTC),
        cert_url="https://b.example/credentials/abc",
        cert_id="abc",
    )
    assert url == (
        "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME"
        "&name=Data-viz+practitioner&organizationName=Dana+%26+Co&issueYear=2026&issueMonth=11"
        "&certUrl=https%3A%2F%2Fb.example%2Fcredentials%2Fabc&certId=abc"
    )
    with_id = linkedin_add_url(
        name="X",
        organization="ignored",
        organization_id="1337",
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
        cert_url="https://b.example/c",
        cert_id="c",
    )
    assert "organizationId=1337" in with_id and "organizationName" not in with_id
