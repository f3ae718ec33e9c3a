"""The shop the outbox drains into, faked over HTTP, and settings with three attempts a row."""

from __future__ import annotations

import pytest
import responses

from bridge.settings import Settings
from tests.support.writeback import FakeShop


@pytest.fixture
def shop_settings(settings: Settings) -> Settings:
    return settings.replace(writeback={"outbox_max_attempts": 3})


@pytest.fixture
def shop(http: responses.RequestsMock) -> FakeShop:
    """A WooCommerce shop answering the write-back endpoints (tests/support/writeback.py)."""
    return FakeShop(http)
