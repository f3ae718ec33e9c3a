"""Helpers for the redemption and API tests: funded learners, tokens, a contract-checking client."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import Engine, func
from sqlmodel import select
from werkzeug.test import TestResponse

from bridge.services.ledger import balances, find_learner
from bridge.services.operations import create_token
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import IdempotencyRecord, LedgerEntry, Redemption
from tests.support.sample_shop import make_order, sample_catalogue
from webhooks.api.openapi import openapi_document

# For tests whose subject does not depend on the database: conftest's database_url, SQLite only.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
_order_ids = iter(range(9000, 10**6))
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339 with an offset (jsonschema checks date-time only with an optional package)."""
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def fund(
    engine: Engine, email: str = "alice@example.com", *, customer_id: int = 2, packs: int = 1
) -> None:
    """Sell ``packs`` 5-hour mentor packs (300 minutes each) to a learner, as the shop would."""
    settings = Settings().replace(orders={"complimentary_call_minutes": 0})
    order = make_order(
        next(_order_ids), [("MENTOR-PACK-5H", packs)], email=email, customer_id=customer_id
    )
    process_order(engine, order, catalogue=sample_catalogue(), settings=settings)


def balance_of(engine: Engine, ref: str | int, credit_type: str = "mentor_minutes") -> int:
    with unit_of_work(engine) as session:
        learner = find_learner(session, ref)
        assert learner is not None
        return balances(session, learner.id).get(credit_type, 0)


def written_rows(engine: Engine) -> tuple[int, int, int]:
    """How many ledger rows, redemptions and idempotency records exist: proof nothing was added."""
    with unit_of_work(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (LedgerEntry, Redemption, IdempotencyRecord)
        )


def make_token(engine: Engine, name: str, scope: str) -> str:
    with unit_of_work(engine) as session:
        _, plain = create_token(session, name, scope)
        session.commit()
    return plain


class ContractClient:
    """A Flask test client that checks every response against the OpenAPI document."""

    def __init__(self, app: Flask, token: str | None = None) -> None:
        self.client = app.test_client()
        self.token = token
        self.document = openapi_document()
        self.checked = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        sent = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer is not None and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {bearer}"
        response = self.client.open(path, method=method, headers=sent, **kwargs)
        check_contract(self.document, method, path, response)
        self.checked += 1
        return response

    def redeem(self, body: Any, key: str | None = "key-1", **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.request("POST", "/api/v1/redemptions", json=body, headers=headers, **kwargs)

    def refund(self, redemption_id: int | str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", f"/api/v1/redemptions/{redemption_id}", **kwargs)

    def learner(self, ref: str | int, **kwargs: Any) -> TestResponse:
        return self.request("GET", f"/api/v1/learners/{ref}", **kwargs)


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def check_contract(
    document: dict[str, Any], method: str, path: str, response: TestResponse
) -> None:
    """The status is documented, the body is JSON matching its schema, headers as declared."""
    operation = _operation(document, method, path.split("?", 1)[0])
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (
        f"{method} {path} answered {response.status_code}, not documented: {response.data!r}"
    )
    assert response.mimetype == "application/json", response.mimetype
    schema = documented["content"]["application/json"]["schema"]
    validator = Draft202012Validator(
        {**schema, "components": document["components"]},
        format_checker=FORMATS,
    )
    errors = sorted(validator.iter_errors(response.get_json()), key=str)
    assert not errors, f"{method} {path} {response.status_code}: {errors[0].message}"
    for header in documented.get("headers", {}):
        if header == "WWW-Authenticate":
            assert response.headers.get(header), f"{response.status_code} lacks {header}"
