"""Helpers for the booking tests: the signed sample deliveries, variants of them, an app."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.inbound.signatures import sign_calcom, sign_calendly
from bridge.services.bookings import booking_link
from bridge.services.ledger import find_learner
from bridge.services.orders import build_handlers
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Booking
from tests.support.paths import FIXTURES
from tests.support.web import ClosingClient
from webhooks import create_app

BOOKINGS = FIXTURES / "bookings"
SECRET = "whsec-booking-test"
# BRIDGE_CLAIM_SECRET of the booking tests: learners' booking links are derived from it.
LINK_SECRET = "claim-secret-booking-test"
# The time the Calendly samples were signed at (2026-01-01T00:00:00Z).
SIGNED_AT = 1767225600
NOW = datetime.fromtimestamp(SIGNED_AT + 60, UTC)
LENA = "lena.fischer@example.com"
LENA_ID = 3187  # her WooCommerce customer id: sequential, so anyone can guess it
CALCOM_URL, CALENDLY_URL = "/webhooks/calcom", "/webhooks/calendly"


def raw(name: str) -> bytes:
    """A sample delivery's bytes exactly as stored (the signatures are over these)."""
    return (BOOKINGS / f"{name}.json").read_bytes()


def payload(name: str) -> dict[str, Any]:
    return json.loads(raw(name))  # type: ignore[no-any-return]


def compact(data: Any) -> bytes:
    """JSON as the booking tools send it: compact, no trailing newline."""
    return json.dumps(data, separators=(",", ":")).encode()


def calcom_variant(
    name: str,
    *,
    uid: str | None = None,
    email: str | None = None,
    length: int | None = None,
    reschedule_uid: str | None = None,
    booking_id: int | None = None,
    token: str | None = None,
    **fields: Any,
) -> bytes:
    """A Cal.com sample with another booking uid, attendee, length or previous booking, or a
    learner's booking-link token in its metadata (as ?metadata[booking_token]= puts it)."""
    data = payload(name)
    body = data["payload"]
    if token is not None:
        body.setdefault("metadata", {})["booking_token"] = token
    if uid is not None:
        body["uid"] = uid
        body["iCalUID"] = f"{uid}@Cal.com"
    if email is not None:
        body["responses"]["email"]["value"] = email
        body["attendees"][0]["email"] = email
    if length is not None:
        body["length"] = length
    if reschedule_uid is not None:
        body["rescheduleUid"] = reschedule_uid
    if booking_id is not None:
        body["bookingId"] = booking_id
    body.update(fields)
    return compact(data)


def calendly_variant(
    name: str,
    *,
    invitee: str | None = None,
    email: str | None = None,
    minutes: int | None = None,
    old_invitee: str | None = None,
    new_invitee: str | None = None,
    token: str | None = None,
) -> bytes:
    """A Calendly sample with another invitee URI, e-mail, length or reschedule link, or a
    learner's booking-link token in utm_content (as ?utm_content= puts it)."""
    data = payload(name)
    body = data["payload"]
    if token is not None:
        body["tracking"]["utm_content"] = token
    if invitee is not None:
        body["uri"] = invitee
    if email is not None:
        body["email"] = email
    if minutes is not None:
        start = datetime.fromisoformat(body["scheduled_event"]["start_time"])
        end = start.timestamp() + minutes * 60
        body["scheduled_event"]["end_time"] = (
            datetime.fromtimestamp(end, UTC).isoformat().replace("+00:00", "Z")
        )
    if old_invitee is not None:
        body["old_invitee"] = old_invitee
    if new_invitee is not None:
        body["new_invitee"] = new_invitee
    return compact(data)


def invitee_uri(number: int) -> str:
    return (
        "https://api.calendly.com/scheduled_events/00000000-0000-4000-8000-000000000001"
        f"/invitees/00000000-0000-4000-8000-{number:012d}"
    )


def calcom_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Cal-Signature-256": sign_calcom(body, secret)}


def calendly_headers(body: bytes, timestamp: int = SIGNED_AT, key: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Calendly-Webhook-Signature": sign_calendly(body, key, timestamp),
    }


def booking_app(
    engine: Any,
    settings: Settings,
    catalogue: Catalogue | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
) -> Flask:
    """The app with the booking secrets set, inline processing and the clock at the samples."""
    settings = settings.replace(
        bookings={"calcom_webhook_secret": SECRET, "calendly_signing_key": SECRET},
        claims={"secret": settings.claims.secret or LINK_SECRET},
    )
    catalogue = catalogue or Catalogue()
    handlers = build_handlers(engine, settings, catalogue=lambda: catalogue, shop=lambda: None)
    app = create_app(settings, engine, handlers=handlers, background=False, clock=clock)
    app.test_client_class = ClosingClient
    return app


def post_calcom(client: FlaskClient, body: bytes) -> Any:
    return client.post(CALCOM_URL, data=body, headers=calcom_headers(body))


def post_calendly(client: FlaskClient, body: bytes) -> Any:
    return client.post(CALENDLY_URL, data=body, headers=calendly_headers(body))


def bookings_by_key(engine: Any) -> dict[str, Booking]:
    with unit_of_work(engine) as session:
        return {row.key: row for row in session.exec(select(Booking)).all()}


def link_token(engine: Any, ref: str | int, secret: str = LINK_SECRET) -> str:
    """The learner's booking-link token (made on first use), as `bridge bookings link` shows."""
    with unit_of_work(engine) as session:
        learner = find_learner(session, ref)
        assert learner is not None, ref
        link = booking_link(session, learner, secret, create=True, by="test")
        session.commit()
    assert link is not None and link.token is not None
    return link.token
