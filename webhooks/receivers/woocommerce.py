"""POST /webhooks/woocommerce: verify, store, acknowledge, then process."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from bridge.rules.inbound.payloads import (
    HANDLED_EVENTS,
    BodyRefused,
    DeliveryStatus,
    parse_json_body,
)
from bridge.rules.inbound.signatures import verify
from bridge.services.inbox import Delivery, record_delivery
from bridge.store.db import DatabaseUnavailable
from webhooks.limits import read_body
from webhooks.receivers.rejections import reject_unsigned
from webhooks.runtime import runtime

log = logging.getLogger(__name__)
WOOCOMMERCE_RESOURCES = frozenset(HANDLED_EVENTS)
blueprint = Blueprint("receiver", __name__)

# WooCommerce's ping names the new webhook's id; ids are BIGINT, so at most 19 digits.
PING = re.compile(rb"^webhook_id=([1-9][0-9]{0,18})$")
REJECTED_COUNTER = "webhook_signature_rejected"
# Only these request headers are kept with a delivery (WSGI environ key: name), beside
# WooCommerce's own (X-WC-Webhook-*); cookies or proxies' headers are not.
KEPT_HEADERS = {"HTTP_USER_AGENT": "User-Agent", "CONTENT_TYPE": "Content-Type"}
_WC_PREFIX = "HTTP_X_WC_WEBHOOK_"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(value: str, limit: int = 500) -> str:
    """A header value as stored: no control characters (NUL breaks PostgreSQL), bounded."""
    if not value.isprintable():  # a control character is never printable: most values pass
        value = _CONTROL.sub("", value)
    return value.strip()[:limit]


def _kept_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request headers kept with a delivery, named as ``request.headers`` names them; read
    from the WSGI environ (a fifth of the time). An empty Content-Type is no header there."""
    kept: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith(_WC_PREFIX):
            kept[key[5:].replace("_", "-").title()] = _clean(value)
        elif key in KEPT_HEADERS and (value or key != "CONTENT_TYPE"):
            kept[KEPT_HEADERS[key]] = _clean(value)
    return kept


def _error(status: int, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


def _answer(body: Mapping[str, object]) -> Response:
    """A 200 JSON answer, as ``jsonify`` makes it (compact, keys in order, a newline), without
    the JSON provider's dispatch: the hot path of every acknowledgement."""
    return Response(orjson.dumps(body) + b"\n", 200, mimetype="application/json")


@blueprint.post("/webhooks/woocommerce")
def receive() -> ResponseReturnValue:
    """Acknowledge only what is safely stored; processing can never turn a 200 into a failure."""
    rt = runtime()
    environ = request.environ
    body = read_body(rt.settings.web.max_body_bytes)
    signature = environ.get("HTTP_X_WC_WEBHOOK_SIGNATURE")
    ping = PING.match(body.strip()) if signature is None else None
    if ping is not None:
        webhook_id = ping.group(1).decode()
        log.info("webhook ping answered", extra={"webhook_id": webhook_id})
        return jsonify({"status": "ok", "ping": int(webhook_id)}), 200
    if not rt.settings.shop.webhook_secret:
        return _error(503, "WOOCOMMERCE_WEBHOOK_SECRET is not set on the bridge")
    if not verify(body, rt.settings.shop.webhook_secret, signature):
        reason = "missing" if not signature else "invalid"
        # No database write and no log line per request: counted in memory, flushed and logged
        # at most once a minute (webhooks.receivers.rejections).
        reject_unsigned(REJECTED_COUNTER, f"WooCommerce {reason} signature")
        return _error(401, f"{reason} X-WC-Webhook-Signature")
    try:
        payload = parse_json_body(body)
    except BodyRefused as exc:
        log.warning("signed delivery refused: %s", exc)
        return _error(400, str(exc))
    delivery = Delivery(
        topic=_clean(environ.get("HTTP_X_WC_WEBHOOK_TOPIC", ""), 64),
        webhook_id=_clean(environ.get("HTTP_X_WC_WEBHOOK_ID", ""), 32),
        delivery_id=_clean(environ.get("HTTP_X_WC_WEBHOOK_DELIVERY_ID", ""), 64),
        headers=_kept_headers(environ),
        body=body,
        payload=payload,
    )
    context = {
        "delivery_id": delivery.delivery_id,
        "topic": delivery.topic,
        "resource_id": delivery.resource_id,
    }
    try:
        # A WooCommerce-signed body is never handed to another source's handler.
        recorded = record_delivery(
            rt.engine,
            delivery,
            handled=frozenset(rt.handlers) & WOOCOMMERCE_RESOURCES,
            max_quantity=rt.settings.orders.max_line_quantity,
        )
    except DatabaseUnavailable as exc:
        log.error("delivery not stored: %s", exc, extra=context)
        return _error(503, "database unavailable; the delivery was not stored")
    if recorded.duplicate:
        log.info("duplicate delivery", extra={**context, "inbox_id": recorded.inbox_id})
        return _answer({"status": "duplicate", "inbox_id": recorded.inbox_id})
    if recorded.status == DeliveryStatus.REJECTED:
        # Answered 200 all the same: WooCommerce disables a webhook after five failures.
        log.warning(
            "delivery rejected: %s",
            recorded.reason,
            extra={**context, "inbox_id": recorded.inbox_id},
        )
        return jsonify(
            {
                "status": DeliveryStatus.REJECTED,
                "inbox_id": recorded.inbox_id,
                "reason": recorded.reason,
            }
        ), 200
    # A delivery to process is logged at INFO when it is processed; its line here is DEBUG
    # (a line per acknowledgement cost a tenth of its CPU). One stored as ignored says so.
    log.log(
        logging.DEBUG if recorded.status == DeliveryStatus.RECEIVED else logging.INFO,
        "delivery stored",
        extra={**context, "inbox_id": recorded.inbox_id, "status": recorded.status},
    )
    response = _answer({"status": recorded.status, "inbox_id": recorded.inbox_id})
    if recorded.status == DeliveryStatus.RECEIVED:
        # Processed in batches once the answer is out (webhooks.processing).
        response.call_on_close(rt.processor.wake)
    return response
