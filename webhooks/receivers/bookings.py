"""POST /webhooks/calcom and /webhooks/calendly: verify, store, acknowledge, then process.

The WooCommerce receiver's discipline: the signature is checked over the raw bytes, the
delivery is committed to the inbox before the 2xx, and it is processed after the answer.
Deliveries of events the bridge does not act on are stored as ignored and acknowledged.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from bridge.rules.bookings.events import (
    CALCOM,
    CALENDLY,
    BookingPayloadError,
    is_handled,
    parse_delivery,
    topic_of,
)
from bridge.rules.inbound.payloads import BodyRefused, DeliveryStatus, parse_json_body
from bridge.rules.inbound.signatures import verify_calcom, verify_calendly
from bridge.services.inbox import Delivery, record_delivery
from bridge.store.db import DatabaseUnavailable
from webhooks.limits import read_body
from webhooks.receivers.rejections import reject_unsigned
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
blueprint = Blueprint("booking_receivers", __name__)

REJECTED_COUNTER = "booking_signature_rejected"
KEPT_HEADERS = ("User-Agent", "Content-Type", "X-Cal-Webhook-Version")


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _receive(source: str, header: str, reason: str | None) -> tuple[Response, int]:
    rt = runtime()
    body = read_body(runtime().settings.web.max_body_bytes)
    if reason is not None:
        # Counted in memory, flushed and logged at most once a minute (receivers.rejections).
        reject_unsigned(REJECTED_COUNTER, f"{source} {reason} signature")
        return _error(401, f"{reason} {header}")
    try:
        payload = parse_json_body(body)
    except BodyRefused as exc:
        return _error(400, str(exc))
    topic = topic_of(source, payload)
    try:
        parse_delivery(source, payload)
    except BookingPayloadError as exc:
        # Signed but unusable: refused now rather than failing later, out of anyone's sight.
        log.warning("%s delivery refused: %s", source, exc)
        return _error(400, f"not a booking delivery this bridge can use: {exc}")
    delivery = Delivery(
        topic=f"{source}.{topic or 'unknown'}"[:64],
        webhook_id="",
        delivery_id="",
        headers={k: v for k, v in request.headers.items() if k in KEPT_HEADERS},
        body=body,
        payload=payload,
    )
    status = DeliveryStatus.RECEIVED if is_handled(source, topic) else DeliveryStatus.IGNORED
    try:
        recorded = record_delivery(
            rt.engine, delivery, handled=frozenset(rt.handlers), status=status
        )
    except DatabaseUnavailable as exc:
        log.error("%s delivery not stored: %s", source, exc)
        return _error(503, "database unavailable; the delivery was not stored")
    if recorded.duplicate:
        return jsonify({"status": "duplicate", "inbox_id": recorded.inbox_id}), 200
    response = jsonify({"status": recorded.status, "inbox_id": recorded.inbox_id})
    if recorded.status == DeliveryStatus.RECEIVED:
        # Processed in batches once the answer is out (webhooks.processing), as WooCommerce's.
        response.call_on_close(rt.processor.wake)
    return response, 200


@blueprint.post("/webhooks/calcom")
def calcom() -> ResponseReturnValue:
    """A Cal.com delivery, signed with BRIDGE_CALCOM_WEBHOOK_SECRET."""
    secret = runtime().settings.bookings.calcom_webhook_secret
    if not secret:
        return _error(503, "BRIDGE_CALCOM_WEBHOOK_SECRET is not set on the bridge")
    body = read_body(runtime().settings.web.max_body_bytes)
    reason = verify_calcom(body, secret, request.headers.get("X-Cal-Signature-256"))
    return _receive(CALCOM, "X-Cal-Signature-256", reason)


@blueprint.post("/webhooks/calendly")
def calendly() -> ResponseReturnValue:
    """A Calendly delivery, signed with BRIDGE_CALENDLY_SIGNING_KEY within five minutes."""
    rt = runtime()
    key = rt.settings.bookings.calendly_signing_key
    if not key:
        return _error(503, "BRIDGE_CALENDLY_SIGNING_KEY is not set on the bridge")
    body = read_body(runtime().settings.web.max_body_bytes)
    reason = verify_calendly(
        body, key, request.headers.get("Calendly-Webhook-Signature"), now=rt.clock().timestamp()
    )
    return _receive(CALENDLY, "Calendly-Webhook-Signature", reason)
