"""GET /outcomes, /outcomes.json and a cohort's page: public, floored, naming nobody."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.console import (
    BUYERS,
    buyer_email,
    seed_console_shop,
)
from webhooks import create_app

pytestmark = pytest.mark.both_databases


def test_the_public_pages_show_floored_figures_and_no_personal_data(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Three active seats are too few to show the fill; six projects started are enough."""
    shop = seed_console_shop(engine, database_url, tmp_path)
    client = create_app(shop.settings, engine, handlers={}, background=False).test_client()
    data = client.get("/outcomes.json").get_json()
    cohort = data["cohorts"][0]
    assert cohort["code"] == "DV-2027-01" and cohort["seats_left"] == 0
    assert cohort["seats_left_why"].startswith("full: every seat is taken")
    assert cohort["fill"] == {"value": None, "text": "not enough data"}
    assert cohort["project_submission_rate"] == {"value": None, "text": "not enough data"}
    project = next(s for s in data["skus"] if s["sku"] == "PROJ-DATAVIZ")
    assert project["project_submission_rate"] == {"value": 0.8333, "text": "83%", "learners": 6}
    pages = [
        client.get(path) for path in ("/outcomes", "/outcomes.json", "/outcomes/cohorts/DV-2027-01")
    ]
    assert [page.status_code for page in pages] == [200, 200, 200]
    for page in pages:
        text = page.get_data(as_text=True)
        for first, last, _ in BUYERS:
            assert buyer_email(first) not in text and first not in text and last not in text
        assert "@example.com" not in text
    assert client.get("/outcomes/cohorts/NOPE").status_code == 404


def test_a_cohort_whose_page_is_off_is_not_published(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Without public_outcomes in the catalogue file the cohort is absent and its page 404s."""
    shop = seed_console_shop(engine, database_url, tmp_path, public=False)
    client = create_app(shop.settings, engine, handlers={}, background=False).test_client()
    data = client.get("/outcomes.json").get_json()
    assert data["cohorts"] == []
    assert "COHORT-DV-2027-01" not in [s["sku"] for s in data["skus"]]
    assert client.get("/outcomes/cohorts/DV-2027-01").status_code == 404
