"""The shop a cohort's write-backs drain into, faked over HTTP (tests/support/writeback.py)."""

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
    return FakeShop(http)
