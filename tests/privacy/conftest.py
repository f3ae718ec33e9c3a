"""Lena's story (tests/support/privacy.py) on each database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.credentials import credential_settings
from tests.support.privacy import LINK_SECRET, Story, tell_story


@pytest.fixture
def story(engine: Engine, database_url: str, tmp_path: Path) -> Story:
    """Lena's whole story, applied the way the shop, Cal.com and her employer would."""
    settings = credential_settings(
        database_url,
        tmp_path,
        claims={"secret": LINK_SECRET},
        orders={"complimentary_call_minutes": 0},
    )
    return tell_story(engine, settings, tmp_path)
