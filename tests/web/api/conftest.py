"""The token API's app on the test database, and a client holding a write token."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.support.redemptions import ContractClient, make_token
from webhooks import create_app


@pytest.fixture
def app(engine: Engine, database_url: str) -> Flask:
    return create_app(Settings().replace(database={"url": database_url}), engine)


@pytest.fixture
def writer(app: Flask, engine: Engine) -> ContractClient:
    """A booking tool's write token, every answer checked against the OpenAPI document."""
    return ContractClient(app, make_token(engine, "booking-tool", "write"))
