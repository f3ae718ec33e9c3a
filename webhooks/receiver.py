"""POST /webhooks/woocommerce: verify, store, acknowledge, then process."""

from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, Response, jsonify, request

from bridge.rules.signatures import verify
from bridge.services.inbox import RECEIVED, Delivery, count, record_delivery
from bridge.store.db import DatabaseUnavailable
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
blueprint = Blueprint("receiver", __name__)

PING = re.compile(rb"^webhook_id=\d+$")
REJECTED_COUNTER = "webhook_signature_rejected"
# Only these request headers are kept with a delivery; cookies or proxies' headers are not.
KEPT_HEADERS = ("User-Agent", "Content-Type")


def _error(status: int, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


@blueprint.post("/webhooks/woocommerce")
def receive():  # type: ignore[no-untyped-def]
    """Acknowledge only what is safely stored; processing can never turn a 200 into a failure."""
    rt = runtime()
    body = request.get_data(cache=True, parse_form_data=False)
    signature = request.headers.get("X-WC-Webhook-Signature")
    if signature is None and PING.match(body.strip()):
        webhook_id = body.strip().split(b"=", 1)[1].decode()
        log.info("webhook ping answered", extra={"webhook_id": webhook_id})
        return jsonify({"status": "ok", "ping": int(webhook_id)}), 200
    if not rt.settings.webhook_secret:
        return _error(503, "WOOCOMMERCE_WEBHOOK_SECRET is not set on the bridge")
    if not verify(body, rt.settings.webhook_secret, signature):
        count(rt.engine, REJECTED_COUNTER)
        reason = "missing" if not signature else "invalid"
        log.warning("webhook rejected: %s signature", reason)
        return _error(401, f"{reason} X-WC-Webhook-Signature")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _error(400, f"body is not JSON: {exc}")
    delivery = Delivery(
        topic=request.headers.get("X-WC-Webhook-Topic", "").strip()[:64],
        webhook_id=request.headers.get("X-WC-Webhook-ID", ""),
        delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID", ""),
        headers={k: v for k, v in request.headers.items()
                 if k.lower().startswith("x-wc-webhook-") or k in KEPT_HEADERS},
        body=body,
        payload=payload,
    )
    context = {"delivery_id": delivery.delivery_id, "topic": delivery.topic,
               "resource_id": delivery.resource_id}
    try:
        recorded = record_delivery(rt.engine, delivery, handled=frozenset(rt.handlers))
    except DatabaseUnavailable as exc:
        log.error("delivery not stored: %s", exc, extra=context)
        return _error(503, "database unavailable; the delivery was not stored")
    if recorded.duplicate:
        log.info("duplicate delivery", extra={**context, "inbox_id": recorded.inbox_id})
        return jsonify({"status": "duplicate", "inbox_id": recorded.inbox_id}), 200
    log.info("delivery stored", extra={**context, "inbox_id": recorded.inbox_id,
                                       "status": recorded.status})
    response = jsonify({"status": recorded.status, "inbox_id": recorded.inbox_id})
    if recorded.status == RECEIVED:
        # Processed in batches once the answer is out (webhooks.processing).
        response.call_on_close(rt.processor.wake)
    return response, 200
