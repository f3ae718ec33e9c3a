"""The environment a `bridge` run sees in the CLI tests that pass it explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.services.operations import example_catalogue_path


@pytest.fixture
def env(database_url: str, workdir: Path) -> dict[str, str]:
    """This test's database, the example catalogue and a webhook secret, in an empty folder."""
    return {
        "DATABASE_URL": database_url,
        "BRIDGE_CATALOG_FILE": str(example_catalogue_path()),
        "WOOCOMMERCE_WEBHOOK_SECRET": "whsec-wcreal-test",
    }
