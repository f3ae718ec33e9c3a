"""The shop a cohort's write-backs drain into, faked over HTTP (tests/support/writeback.py), and
what a `bridge` run sees: the catalogue file in the working folder and an operator's name."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from bridge.settings import Settings
from tests.support.writeback import FakeShop


@pytest.fixture
def bridge_env(database_url: str, workdir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "BRIDGE_CATALOG_FILE": str(workdir / "catalog.toml"),
        "BRIDGE_OPERATOR": "ops@example.com",
    }


@pytest.fixture
def shop_settings(settings: Settings) -> Settings:
    return settings.replace(writeback={"outbox_max_attempts": 3})


@pytest.fixture
def shop(http: responses.RequestsMock) -> FakeShop:
    return FakeShop(http)
