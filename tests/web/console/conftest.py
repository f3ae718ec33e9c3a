"""The console's seeded shop (tests/support/console.py) and a clock the tests move on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.console import Clock, ConsoleShop, seed_console_shop


@pytest.fixture
def shop(engine: Engine, database_url: str, tmp_path: Path) -> ConsoleShop:
    return seed_console_shop(engine, database_url, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()
