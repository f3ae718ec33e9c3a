"""The console's seeded shop (tests/support/console.py), a clock the tests move on, and a
browser tab on the module's Chromium (tests/web/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.store.db import make_engine
from tests.support.browser import copy_sqlite, serve
from tests.support.console import Clock, ConsoleShop, seed_console_shop
from webhooks import create_app


@pytest.fixture
def shop(engine: Engine, database_url: str, tmp_path: Path) -> ConsoleShop:
    return seed_console_shop(engine, database_url, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A tab of the module's VIEWPORT (1000 x 760 unless the module says otherwise); its last
    screen is kept as screenshot.png in the test's tmp_path."""
    viewport = getattr(request.module, "VIEWPORT", {"width": 1000, "height": 760})
    context = browser.new_context(viewport=viewport)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    tab.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
    context.close()


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, ConsoleShop]]:
    """The seeded console shop (ann, ben, cara hold seats; dan, eve, fay wait) served for real
    to the browser tests; (base URL, shop). A module needing more (bookings, alerts) has its own."""
    database_url = copy_sqlite(sqlite_template, tmp_path)
    engine = make_engine(database_url)
    shop = seed_console_shop(engine, database_url, tmp_path)
    app = create_app(shop.settings, engine, handlers={}, background=False)
    with serve(app) as base:
        yield base, shop
    engine.dispose()
