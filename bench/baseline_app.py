"""The ingest benchmark's baseline: a Flask app that only verifies the signature and answers 200.

Same framework, same server settings and the same signature check
(bridge.rules.inbound.signatures.verify) as the receiver, nothing stored: what a webhook
endpoint costs before any work of its own.

    gunicorn --workers 2 --threads 4 'bench.baseline_app:create_app()'
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request

from bridge.rules.inbound.signatures import verify


def create_app() -> Flask:
    secret = os.environ.get("WOOCOMMERCE_WEBHOOK_SECRET", "")
    app = Flask("bench-baseline")

    @app.post("/webhooks/woocommerce")
    def receive():  # type: ignore[no-untyped-def]
        body = request.get_data(cache=True, parse_form_data=False)
        if not verify(body, secret, request.headers.get("X-WC-Webhook-Signature")):
            return jsonify({"error": "invalid X-WC-Webhook-Signature"}), 401
        return jsonify({"status": "ok"}), 200

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify({"status": "ok"}), 200

    return app
