"""The OpenAPI contract of the privacy routes (webhooks.api.privacy), merged into the API's
document by webhooks.api.openapi."""

from __future__ import annotations

import copy
from typing import Any


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


LEARNER = {
    "name": "learner",
    "in": "path",
    "required": True,
    "description": "E-mail (current, former, or one of an erased learner) or customer id.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 254,
        "pattern": "^(?!0+$)[^\\u0000-\\u001f\\u007f-\\u009f]*$",
    },
}
ROW = {"type": "object", "description": "A stored row: its columns, with its id."}
SCHEMAS: dict[str, Any] = {
    "LearnerExport": {
        "type": "object",
        "required": ["format", "version", "exported_at", "learner", "sections"],
        "properties": {
            "format": {"const": "creator-bridge learner export"},
            "version": {"type": "integer"},
            "exported_at": {"type": "string", "format": "date-time"},
            "learner": {
                "type": "object",
                "required": ["id", "email", "name"],
                "properties": {
                    "id": {"type": "integer"},
                    "email": {"type": "string"},
                    "name": {"type": "string"},
                },
            },
            "sections": {
                "type": "object",
                "description": "identity, emails, orders, ledger, seats, access, subscriptions, "
                "bookings, redemptions, booking_links, claims, events, credentials, records, "
                "notes, coupons, page_links, deliveries: each a list of rows.",
                "additionalProperties": {"type": "array", "items": ROW},
            },
        },
    },
    "WordPressExportPage": {
        "type": "object",
        "required": ["data", "done"],
        "additionalProperties": False,
        "description": "What a WordPress personal-data exporter callback returns for one page.",
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["group_id", "group_label", "item_id", "data"],
                    "properties": {
                        "group_id": {"type": "string"},
                        "group_label": {"type": "string"},
                        "group_description": {"type": "string"},
                        "item_id": {"type": "string"},
                        "data": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "value"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "value": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
            "done": {"type": "boolean"},
        },
    },
    "ErasureRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "dry_run": {"type": "boolean", "description": "Report only; change nothing."},
            "reason": {"type": "string", "maxLength": 500, "description": "For the audit row."},
        },
    },
    "ErasureReport": {
        "type": "object",
        "required": [
            "learner_id",
            "pseudonym",
            "already_erased",
            "dry_run",
            "removed",
            "retained",
            "items_removed",
            "items_retained",
            "messages",
            "done",
        ],
        "additionalProperties": False,
        "properties": {
            "learner_id": {"type": "integer"},
            "pseudonym": {"type": "string"},
            "already_erased": {"type": "boolean"},
            "dry_run": {"type": "boolean"},
            "removed": {"type": "object", "additionalProperties": {"type": "integer"}},
            "retained": {"type": "object", "additionalProperties": {"type": "integer"}},
            "items_removed": {"type": "boolean"},
            "items_retained": {"type": "boolean"},
            "messages": {"type": "array", "items": {"type": "string"}},
            "done": {"type": "boolean"},
        },
    },
}


def privacy_paths(unavailable: dict[str, Any], unauthorised: dict[str, Any]) -> dict[str, Any]:
    """The two privacy operations, as the document's ``paths`` take them."""
    forbidden = _error("The token lacks scope privacy; `scope` names it.")
    unknown = _error("No learner is known (or was ever known) by that e-mail or customer id.")
    return {
        "/api/v1/learners/{learner}/export": {
            "get": {
                "operationId": "exportLearner",
                "summary": "Everything held about a learner (their access request).",
                "x-scope": "privacy",
                "description": (
                    "Scope privacy. Every row the bridge holds about the learner, with ids. With "
                    "`format=wordpress`, page `page` (from 1) of a WordPress personal-data "
                    "exporter: `{data, done}`. Each call is on the audit trail (the token)."
                ),
                "parameters": [
                    LEARNER,
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["bridge", "wordpress"]},
                    },
                    {
                        "name": "page",
                        "in": "query",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,3}$"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The export, or one WordPress page of it.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/LearnerExport"},
                                        {"$ref": "#/components/schemas/WordPressExportPage"},
                                    ]
                                }
                            }
                        },
                    },
                    "400": _error("The learner, format or page is malformed; `field` names it."),
                    "401": unauthorised,
                    "403": forbidden,
                    "404": unknown,
                    "503": unavailable,
                },
            }
        },
        "/api/v1/learners/{learner}/erase": {
            "post": {
                "operationId": "eraseLearner",
                "summary": "Erase a learner's personal data (their erasure request).",
                "x-scope": "privacy",
                "description": (
                    "Scope privacy. E-mails and name become a stable pseudonym everywhere; the "
                    "ledger, orders and seats are retained as financial records; credentials "
                    "are revoked; links stop working. Erasing again changes nothing "
                    "(`already_erased`). The answer carries a WordPress eraser's "
                    "`items_removed`, `items_retained`, `messages` and `done`."
                ),
                "parameters": [LEARNER],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErasureRequest"}
                        }
                    },
                },
                "responses": {
                    "200": _json("ErasureReport", "Erased (or previewed, or erased already)."),
                    "400": _error("The learner or the body is malformed; `field` names it."),
                    "401": unauthorised,
                    "403": forbidden,
                    "404": unknown,
                    "409": _error(
                        "The learner holds credentials this bridge cannot revoke (no public "
                        "URL or signing key); nothing was changed."
                    ),
                    "413": _error("The body is larger than BRIDGE_WEBHOOK_MAX_BODY_BYTES."),
                    "415": _error("The body is not JSON."),
                    "503": unavailable,
                },
            }
        },
    }


def privacy_schemas() -> dict[str, Any]:
    return copy.deepcopy(SCHEMAS)
