"""The OpenAPI 3.1 contract of /api/v1, as plain data: served as-is and checked by the tests."""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any

from bridge.rules.bookings.events import Attendance, BookingStatus, RedemptionStatus
from bridge.rules.cohorts import SeatStatus
from bridge.rules.credentials import CredentialStatus
from bridge.services.credentials import EVENT_KINDS
from webhooks.api.privacy_contract import privacy_paths, privacy_schemas

# No control characters (C0 and C1), as the service checks; code points, as Python counts them.
TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
MAX_CUSTOMER_ID = 2**63 - 1


def _text(max_length: int, *, min_length: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "pattern": TEXT_PATTERN,
        **extra,
    }


def _json(schema_name: str, description: str, **extra: Any) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{schema_name}"}
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _values(states: type[StrEnum]) -> list[str]:
    """A state machine's stored values, in its order, as a schema's ``enum``."""
    return [state.value for state in states]


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


UNAUTHORISED = _json(
    "Error",
    "No token, or an unknown or revoked one.",
    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
)
REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "Present (true) when this answer repeats an earlier one.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "description": "One human line."},
            "code": {
                "type": "string",
                "enum": [
                    "unauthorised",
                    "forbidden",
                    "invalid_request",
                    "learner_not_found",
                    "redemption_not_found",
                    "insufficient_credits",
                    "idempotency_key_reused",
                    "credentials_not_configured",
                    "erasure_refused",
                    "database_unavailable",
                ],
            },
            "field": {"type": "string", "description": "The request field that is wrong (400)."},
            "scope": {
                "type": "string",
                "enum": ["read", "redeem", "refunds", "events", "privacy"],
                "description": "The scope the token lacks (403).",
            },
            "credit_type": {"type": "string"},
            "requested": {"type": "integer"},
            "balance": {"type": "integer", "description": "The current balance (409)."},
        },
    },
    "RedemptionRequest": {
        "type": "object",
        "required": ["learner", "credit_type", "amount", "reference"],
        "additionalProperties": False,
        "properties": {
            "learner": {
                "description": "The learner's e-mail (current or former) or customer id.",
                "oneOf": [
                    _text(254),
                    {"type": "integer", "minimum": 1, "maximum": MAX_CUSTOMER_ID},
                ],
            },
            "credit_type": _text(64, examples=["mentor_minutes"]),
            "amount": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            "reference": _text(200, description="The booking this pays for."),
            "mentor": {"oneOf": [_text(200, min_length=0), {"type": "null"}]},
        },
    },
    "EventRequest": {
        "type": "object",
        "required": ["kind", "learner", "sku", "occurred_at"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "enum": list(EVENT_KINDS)},
            "learner": {
                "description": "The learner's e-mail (current or former) or customer id.",
                "oneOf": [
                    _text(254),
                    {"type": "integer", "minimum": 1, "maximum": MAX_CUSTOMER_ID},
                ],
            },
            "sku": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "pattern": "^\\S+$",
                "description": "The micro-SKU the event is about (a project's, a "
                "cohort's...); the bridge must know it.",
            },
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "When it happened: RFC 3339 with an offset, not "
                "more than a day ahead.",
            },
            "evidence": {
                "type": ["string", "null"],
                "format": "uri",
                "maxLength": 500,
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$",
                "description": "A URL of the work, for assessment_passed and "
                "project_accepted: put in the credential.",
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "key", "kind", "learner", "sku", "occurred_at", "recorded_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "key": {
                "type": "string",
                "description": "The Idempotency-Key it was recorded with (the token's own).",
            },
            "kind": {"type": "string", "enum": list(EVENT_KINDS)},
            "learner": {"$ref": "#/components/schemas/LearnerRef"},
            "sku": {"type": "string"},
            "occurred_at": TIME,
            "recorded_at": TIME,
            "credential": {"$ref": "#/components/schemas/CredentialRef"},
        },
    },
    "CredentialRef": {
        "type": "object",
        "description": "The Open Badges 3.0 credential an assessment_passed or "
        "project_accepted event issued (or the learner's live one for the SKU).",
        "required": ["id", "url", "status", "issued_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "The credential's page; also serves it as VC-JWT or JSON.",
            },
            "status": {"type": "string", "enum": _values(CredentialStatus)},
            "issued_at": TIME,
        },
    },
    "LearnerRef": {
        "type": "object",
        "required": ["id", "email", "customer_id"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "customer_id": {"type": ["integer", "null"]},
        },
    },
    "Redemption": {
        "type": "object",
        "required": [
            "id",
            "learner",
            "credit_type",
            "amount",
            "reference",
            "mentor",
            "status",
            "created_at",
            "refunded_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "learner": {"$ref": "#/components/schemas/LearnerRef"},
            "credit_type": {"type": "string"},
            "amount": {"type": "integer", "minimum": 1},
            "reference": {"type": "string"},
            "mentor": {"type": "string"},
            "status": {"type": "string", "enum": _values(RedemptionStatus)},
            "created_at": TIME,
            "refunded_at": NULLABLE_TIME,
            "balance_after": {
                "type": "integer",
                "description": "The balance of that type right after this change.",
            },
        },
    },
    "LedgerRow": {
        "type": "object",
        "required": [
            "id",
            "credit_type",
            "amount",
            "reason",
            "order_id",
            "offer_sku",
            "reverses_id",
            "note",
            "created_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "credit_type": {"type": "string"},
            "amount": {"type": "integer"},
            "reason": {"type": "string"},
            "order_id": {"type": ["integer", "null"]},
            "offer_sku": {"type": ["string", "null"]},
            "reverses_id": {"type": ["integer", "null"]},
            "note": {"type": "string"},
            "actor": {
                "type": "string",
                "description": "Who made a manual adjustment (the operator); empty otherwise.",
            },
            "created_at": TIME,
        },
    },
    "Booking": {
        "type": "object",
        "description": "A Cal.com or Calendly booking and what it spent.",
        "required": [
            "id",
            "source",
            "booking",
            "status",
            "attendance",
            "attendee_email",
            "mentor",
            "mentor_name",
            "event_type",
            "title",
            "starts_at",
            "ends_at",
            "minutes",
            "credit_type",
            "amount",
            "complimentary_minutes",
            "redemption_id",
            "note",
            "created_at",
            "cancelled_at",
            "held_at",
            "matched_by",
            "reviewed_by",
            "reviewed_at",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "source": {"type": "string", "enum": ["calcom", "calendly"]},
            "booking": {
                "type": "string",
                "description": "Cal.com booking uid or Calendly invitee URI.",
            },
            "status": {"type": "string", "enum": _values(BookingStatus)},
            "attendance": {"type": "string", "enum": _values(Attendance)},
            "attendee_email": {"type": "string"},
            "mentor": {"type": "string", "description": "The organizer's or host's e-mail."},
            "mentor_name": {"type": "string"},
            "event_type": {"type": "string"},
            "title": {"type": "string"},
            "starts_at": NULLABLE_TIME,
            "ends_at": NULLABLE_TIME,
            "minutes": {"type": ["integer", "null"]},
            "credit_type": {"type": ["string", "null"]},
            "amount": {"type": ["integer", "null"]},
            "complimentary_minutes": {
                "type": "integer",
                "minimum": 0,
                "description": "Minutes the complimentary call covered.",
            },
            "redemption_id": {"type": ["integer", "null"]},
            "note": {"type": "string"},
            "created_at": TIME,
            "cancelled_at": NULLABLE_TIME,
            "held_at": NULLABLE_TIME,
            "matched_by": {
                "type": ["string", "null"],
                "enum": ["token", "trusted_email", "email", "approved", "legacy", None],
                "description": "What named the learner: the booking link's token, "
                "a trusted e-mail, the e-mail alone (held for "
                "review), an operator's approval, or a match made "
                "before proofs were asked for.",
            },
            "reviewed_by": {"type": ["string", "null"]},
            "reviewed_at": NULLABLE_TIME,
        },
    },
    "Learner": {
        "type": "object",
        "required": [
            "learner",
            "balances",
            "seats",
            "access",
            "subscriptions",
            "recent_ledger",
            "recent_redemptions",
            "bookings",
        ],
        "additionalProperties": False,
        "properties": {
            "learner": {
                "type": "object",
                "required": ["id", "email", "customer_id", "former_emails"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer"},
                    "email": {"type": "string"},
                    "customer_id": {"type": ["integer", "null"]},
                    "former_emails": {"type": "array", "items": {"type": "string"}},
                },
            },
            "balances": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Credits by type: the sum of the ledger.",
            },
            "seats": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "cohort",
                        "cohort_title",
                        "starts_at",
                        "status",
                        "position",
                        "order_id",
                        "offer_sku",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer"},
                        "cohort": {"type": "string"},
                        "cohort_title": {"type": "string"},
                        "starts_at": NULLABLE_TIME,
                        "status": {"type": "string", "enum": _values(SeatStatus)},
                        "position": {
                            "type": ["integer", "null"],
                            "minimum": 1,
                            "description": "1-based waitlist place; null unless waitlisted.",
                        },
                        "order_id": {"type": ["integer", "null"]},
                        "offer_sku": {"type": ["string", "null"]},
                    },
                },
            },
            "access": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "kind",
                        "offer_sku",
                        "starts_at",
                        "ends_at",
                        "revoked_at",
                        "current",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "kind": {"type": "string"},
                        "offer_sku": {"type": "string"},
                        "starts_at": NULLABLE_TIME,
                        "ends_at": NULLABLE_TIME,
                        "revoked_at": NULLABLE_TIME,
                        "current": {"type": "boolean"},
                    },
                },
            },
            "subscriptions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "status",
                        "offer_skus",
                        "perks",
                        "next_payment_at",
                        "ends_at",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string"},
                        "offer_skus": {"type": "array", "items": {"type": "string"}},
                        "perks": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Perks while the subscription is active.",
                        },
                        "next_payment_at": NULLABLE_TIME,
                        "ends_at": NULLABLE_TIME,
                    },
                },
            },
            "recent_ledger": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerRow"}},
            "recent_redemptions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Redemption"},
            },
            "bookings": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Booking"},
                "description": "Recent bookings made in Cal.com or Calendly, newest first.",
            },
        },
    },
}


def openapi_document() -> dict[str, Any]:
    """The whole contract; a new dict each call, so no caller can change another's copy."""
    unavailable = _error("The database is unavailable; retry later.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "creator-bridge API",
            "version": "1",
            "description": (
                "Spend learners' credits from booking tools, look learners up and record "
                "outcome events (projects, interviews, placements) for the outcome report. "
                "Authenticate with `Authorization: Bearer <token>` from `bridge tokens create "
                "NAME --scope ...`. Each operation needs one scope (`x-scope`): read (look "
                "learners up), redeem (spend credits), refunds (credit a redemption back), "
                "events (record outcomes, which can issue credentials); `write` holds all four; "
                "`privacy` exports and erases learners (no other scope holds it). Idempotency "
                "keys are per token: the same key from two tokens names two requests."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v1/redemptions": {
                "post": {
                    "operationId": "redeem",
                    "summary": "Spend credits on a booking.",
                    "x-scope": "redeem",
                    "description": (
                        "Scope redeem. Debits the ledger when the balance covers the amount. The "
                        "same Idempotency-Key from the same token returns the first successful "
                        "answer and never debits twice; failures are not remembered, so a repeat "
                        "is judged afresh."
                    ),
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/RedemptionRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            "Redemption",
                            "Debited (or the replay of the first answer).",
                            headers=REPLAYED_HEADER,
                        ),
                        "400": _error("A field is missing or malformed; `field` names it."),
                        "401": UNAUTHORISED,
                        "403": _error("The token lacks scope redeem; `scope` names it."),
                        "404": _error("No learner is known by that e-mail or customer id."),
                        "409": _error(
                            "The balance does not cover the amount; `balance` says what there is."
                        ),
                        "413": _error("The body is larger than BRIDGE_WEBHOOK_MAX_BODY_BYTES."),
                        "422": _error("The Idempotency-Key was used for a different request."),
                        "503": unavailable,
                    },
                }
            },
            "/api/v1/redemptions/{redemption_id}": {
                "delete": {
                    "operationId": "refundRedemption",
                    "summary": "Credit a cancelled booking's redemption back, once.",
                    "x-scope": "refunds",
                    "description": "Scope refunds: any redemption, whichever token made it.",
                    "parameters": [
                        {
                            "name": "redemption_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    ],
                    "responses": {
                        "200": _json(
                            "Redemption",
                            "Refunded now, or refunded before (then the "
                            "Idempotent-Replayed header is set and nothing is credited).",
                            headers=REPLAYED_HEADER,
                        ),
                        "400": _error("The id is not a whole number."),
                        "401": UNAUTHORISED,
                        "403": _error("The token lacks scope refunds; `scope` names it."),
                        "404": _error("No redemption has that id."),
                        "503": unavailable,
                    },
                }
            },
            "/api/v1/events": {
                "post": {
                    "operationId": "recordEvent",
                    "summary": "Record an outcome: project started, submitted or accepted, "
                    "assessment passed, interview, placement.",
                    "x-scope": "events",
                    "description": (
                        "Scope events. Facts the shop does not have, for the outcome report. The "
                        "same Idempotency-Key from the same token returns the first answer and "
                        "records nothing twice; the key used again for a different event is "
                        "refused. assessment_passed and "
                        "project_accepted issue the learner's Open Badges 3.0 credential for the "
                        "SKU (once; the answer's `credential`); a learner without access to the "
                        "SKU, or a SKU of another kind or naming no competency, is a 400."
                    ),
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/EventRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            "Event",
                            "Recorded (or the replay of the first answer).",
                            headers=REPLAYED_HEADER,
                        ),
                        "400": _error(
                            "A field is missing or malformed, or the micro-SKU is "
                            "unknown; `field` names it."
                        ),
                        "401": UNAUTHORISED,
                        "403": _error("The token lacks scope events; `scope` names it."),
                        "404": _error("No learner is known by that e-mail or customer id."),
                        "409": _error(
                            "A credential event, but this bridge cannot issue credentials "
                            "(BRIDGE_PUBLIC_URL, the catalogue or the signing key); "
                            "nothing was recorded."
                        ),
                        "413": _error("The body is larger than BRIDGE_WEBHOOK_MAX_BODY_BYTES."),
                        "422": _error("The Idempotency-Key was used for a different event."),
                        "503": unavailable,
                    },
                }
            },
            "/api/v1/learners/{learner}": {
                "get": {
                    "operationId": "getLearner",
                    "summary": "A learner's balances, seats, access, perks, bookings and history.",
                    "x-scope": "read",
                    "parameters": [
                        {
                            "name": "learner",
                            "in": "path",
                            "required": True,
                            "description": "E-mail (current or former) or customer id.",
                            # Customer ids are positive: "0" (or "000") names nobody.
                            "schema": _text(
                                254, pattern="^(?!0+$)[^\\u0000-\\u001f\\u007f-\\u009f]*$"
                            ),
                        }
                    ],
                    "responses": {
                        "200": _json("Learner", "The learner."),
                        "400": _error("The e-mail or id is malformed."),
                        "401": UNAUTHORISED,
                        "403": _error("The token lacks scope read; `scope` names it."),
                        "404": _error("No learner is known by that e-mail or customer id."),
                        "503": unavailable,
                    },
                }
            },
            **privacy_paths(unavailable, UNAUTHORISED),
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {**copy.deepcopy(SCHEMAS), **privacy_schemas()},
        },
    }
