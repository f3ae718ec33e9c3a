"""`bridge learner EMAIL` gives the learner's page address; `--new-link` replaces it."""

from __future__ import annotations

import json

import pytest

from bridge.services.learner_links import learner_for_page_token
from bridge.services.orders import process_order
from bridge.store.db import make_engine, unit_of_work
from tests.support.learner_page import SECRET, page_settings
from tests.support.sample_shop import make_order, sample_catalogue

pytestmark = pytest.mark.both_databases


@pytest.fixture
def bridge_env(database_url):
    return {
        "DATABASE_URL": database_url,
        "BRIDGE_CLAIM_SECRET": SECRET,
        "BRIDGE_PUBLIC_URL": "https://bridge.example.com",
    }


@pytest.fixture
def ann(database_url, tmp_path, catalogue):
    engine = make_engine(database_url)
    settings = page_settings(database_url, tmp_path)
    process_order(
        engine,
        make_order(801, [("MENTOR-PACK-3H", 1)], email="ann@example.com", customer_id=7),
        catalogue=sample_catalogue(),
        settings=settings,
    )
    engine.dispose()
    return database_url


def _token(url: str) -> str:
    assert url.startswith("https://bridge.example.com/me/me-")
    return url.rsplit("/", 1)[1]


def test_json_gives_the_page_url_and_new_link_replaces_it(bridge, ann):
    """The same page_url twice; --new-link gives another and the old one names nobody."""
    first = json.loads(bridge("learner", "ann@example.com", "--json").output)
    again = json.loads(bridge("learner", "ann@example.com", "--json").output)
    assert first["page_url"] == again["page_url"]
    assert first["page_last_opened_at"] is None
    new = bridge("learner", "ann@example.com", "--new-link", "--json")
    assert new.exit_code == 0, new.output
    replaced = json.loads(new.output)["page_url"]
    assert replaced != first["page_url"]
    engine = make_engine(ann)
    with unit_of_work(engine) as session:
        assert learner_for_page_token(session, _token(first["page_url"])) is None
        found = learner_for_page_token(session, _token(replaced))
        assert found is not None and found.email == "ann@example.com"
    engine.dispose()
    human = bridge("learner", "ann@example.com")
    assert f"page: {replaced}" in human.output and "not opened yet" in human.output


def test_without_the_secret_new_link_is_one_line_and_the_json_says_none(bridge, ann):
    """No BRIDGE_CLAIM_SECRET: --new-link fails with one line, --json has page_url null."""
    refused = bridge("learner", "ann@example.com", "--new-link", BRIDGE_CLAIM_SECRET="")
    assert refused.exit_code == 1
    assert "BRIDGE_CLAIM_SECRET is not set" in refused.output
    assert "Traceback" not in refused.output
    shown = bridge("learner", "ann@example.com", "--json", BRIDGE_CLAIM_SECRET="")
    assert json.loads(shown.output)["page_url"] is None


def test_help_explains_new_link(bridge):
    """--help names the option and what it does to the old link."""
    assert "the old one stops working" in " ".join(bridge("learner", "--help").output.split())
