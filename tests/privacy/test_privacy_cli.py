"""`bridge learners export` and `bridge learners erase` as an operator runs them: a summary or
the whole JSON, WordPress pages; the erasure asks first, previews with --dry-run, refuses to
guess under --json, and answers an unknown learner in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.services.ledger import find_learner
from bridge.store.db import unit_of_work
from tests.support.bookings import LENA
from tests.support.credentials import PUBLIC_URL
from tests.support.privacy import LINK_SECRET, NAME, Story


@pytest.fixture
def bridge_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The story's settings as the environment: credentials can be revoked here."""
    return {
        "DATABASE_URL": database_url,
        "BRIDGE_PUBLIC_URL": PUBLIC_URL,
        "BRIDGE_CREDENTIAL_KEY_FILE": str(tmp_path / "credential-signing-key.pem"),
        "BRIDGE_CLAIM_SECRET": LINK_SECRET,
        "BRIDGE_OPERATOR": "privacy-desk",
    }


def known(story: Story) -> bool:
    with unit_of_work(story.engine) as session:
        return find_learner(session, LENA) is not None


def test_export_prints_a_summary_the_json_and_wordpress_pages(story, bridge) -> None:
    summary = bridge("learners", "export", LENA)
    assert summary.exit_code == 0, summary.output
    assert f"{LENA} {NAME}" in summary.output and "Credit ledger" in summary.output
    whole = json.loads(bridge("learners", "export", LENA, "--json").output)
    assert whole["learner"]["email"] == LENA and whole["sections"]["credentials"]
    pages = json.loads(bridge("learners", "export", LENA, "--wordpress").output)
    assert pages[-1]["done"] and not any(page["done"] for page in pages[:-1])


def test_erase_asks_first_and_no_keeps_everything(story, bridge) -> None:
    refused = bridge("learners", "erase", LENA, input="n\n")
    assert refused.exit_code == 1 and "erase learner" in refused.output
    assert known(story)
    preview = bridge("learners", "erase", LENA, "--dry-run")
    assert preview.exit_code == 0 and "would erase learner" in preview.output
    assert known(story)
    guessing = bridge("learners", "erase", LENA, "--json")
    assert guessing.exit_code == 2 and "add --yes" in guessing.output
    assert known(story)


def test_erase_with_yes_then_again_and_an_unknown_learner(story, bridge) -> None:
    done = bridge("learners", "erase", LENA, "--yes", "--reason", "request 3")
    assert done.exit_code == 0, done.output
    assert "erased learner" in done.output and "retained ledger rows" in done.output
    assert not known(story)
    again = json.loads(bridge("learners", "erase", LENA, "--json").output)
    assert again["already_erased"] and not again["items_removed"]
    nobody = bridge("learners", "erase", "nobody@example.com", "--yes")
    assert nobody.exit_code == 1
    assert nobody.output.strip().startswith("error:") and len(nobody.output.splitlines()) == 1
    found = bridge("learners", "--search", "fischer").output.splitlines()
    assert [line.split()[0] for line in found] == ["helena.fischer@example.com"]
