"""The sync jobs' shop, faked over HTTP, and the ports they run with."""

from __future__ import annotations

import pytest
import responses
from sqlalchemy import Engine

from bridge.rules.catalogue.catalog import Catalogue
from bridge.settings import Settings
from sync.context import SyncPorts
from tests.support.sync import HttpShop, make_ports


@pytest.fixture
def shop(http: responses.RequestsMock) -> HttpShop:
    """A WooCommerce shop answering the sync jobs' requests (tests/support/sync.py)."""
    return HttpShop(http)


@pytest.fixture
def ports(engine: Engine, settings: Settings, catalogue: Catalogue) -> SyncPorts:
    return make_ports(engine, settings, catalogue)
