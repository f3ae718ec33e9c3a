"""Ann's learner page served for real to the browser tests (tests/support/learner_page.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.store.db import make_engine
from tests.support.browser import copy_sqlite, serve
from tests.support.learner_page import (
    ANN,
    NOW,
    ann_with_everything,
    link_of,
    page_catalogue,
    page_settings,
)
from webhooks import create_app


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, str]]:
    """Ann's page (her credential and everything else) served for real; (base URL, her token)."""
    database_url = copy_sqlite(sqlite_template, tmp_path)
    engine = make_engine(database_url)
    settings = page_settings(database_url, tmp_path)
    ann_with_everything(engine, settings)
    token = link_of(engine, settings, ANN)
    app = create_app(settings, engine, handlers={}, background=False, clock=lambda: NOW)
    app.extensions["bridge"] = dataclasses.replace(
        app.extensions["bridge"], catalogue=page_catalogue
    )
    with serve(app) as base:
        yield base, token
    engine.dispose()
