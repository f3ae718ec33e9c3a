"""A catalogue applied while the web service runs is what its next request shows: the public
outcomes page and the console, without a restart (both databases)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from bridge.services.catalogue import apply_catalogue
from tests.support.console import log_in, seed_console_shop
from webhooks import create_app


def test_outcomes_and_the_console_follow_an_applied_catalogue(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """public_outcomes off and a capacity of 4 applied: /outcomes drops the cohort, the
    console's cohort page shows the new capacity and the promoted learner, same app."""
    shop = seed_console_shop(engine, database_url, tmp_path)
    path = Path(shop.settings.catalogue.file)
    apply_catalogue(engine, path, shop.settings, operator="bridge init")  # as `bridge init` does
    client = create_app(shop.settings, engine, handlers={}, background=False).test_client()
    assert client.get("/outcomes/cohorts/DV-2027-01").status_code == 200
    log_in(client)
    before = client.get("/console/cohorts/DV-2027-01").get_data(as_text=True)
    assert "Capacity</dt><dd>3:" in before

    text = path.read_text(encoding="utf-8")
    text = text.replace("public_outcomes = true", "public_outcomes = false", 1)
    text = text.replace("learners_per_mentor = 3\n", "learners_per_mentor = 4\n", 1)
    path.write_text(text, encoding="utf-8")
    home = client.get("/console/").get_data(as_text=True)
    assert "differs from the catalogue applied" in home

    apply_catalogue(engine, path, shop.settings, operator="ops@example.com")
    assert client.get("/outcomes/cohorts/DV-2027-01").status_code == 404
    after = client.get("/console/cohorts/DV-2027-01").get_data(as_text=True)
    assert "Capacity</dt><dd>4:" in after
    assert "dan@example.com" in after.split('id="roster"')[1].split('id="waitlist"')[0]
    assert "differs from the catalogue applied" not in client.get("/console/").get_data(
        as_text=True
    )
