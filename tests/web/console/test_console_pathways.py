"""The console's learner page shows the learner's progress on each pathway: steps done with
their credentials, steps left and the offers that would fulfil them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.services.credentials import issue_credential, issuing_factory, manual_source_key
from bridge.store.db import unit_of_work
from bridge.store.models import Learner
from tests.support.console import ConsoleShop, log_in
from tests.support.credentials import PUBLIC_URL, write_key
from webhooks import create_app


@pytest.mark.both_databases
def test_the_learner_page_shows_pathway_progress_and_what_to_buy_next(  # type: ignore[no-untyped-def]
    shop: ConsoleShop, tmp_path: Path
):
    """Ann's accepted project is one step of two: the page names its credential and says to
    buy the assessment."""
    settings = shop.settings.replace(
        web={"public_url": PUBLIC_URL},
        credentials={"key_file": write_key(tmp_path / "signing.pem")},
    )
    setup = issuing_factory(settings, lambda: shop.catalogue)()
    with unit_of_work(shop.engine) as session:
        ann = session.get(Learner, shop.learner_id("Ann"))
        assert ann is not None
        issued = issue_credential(
            session,
            setup,
            ann,
            "PROJ-DATAVIZ",
            source_key=manual_source_key(session, ann, "PROJ-DATAVIZ"),
        ).credential
        session.commit()
    client = create_app(settings, shop.engine, handlers={}, background=False).test_client()
    log_in(client)
    html = client.get(f"/console/learners/{shop.learner_id('Ann')}").get_data(as_text=True)
    assert '<h2 id="pathways">Pathways</h2>' in html
    assert "Data-viz practitioner pathway: 1 of 2 steps" in html
    assert f"<code>{issued.uuid}</code>" in html
    assert "Next: buy Data-viz assessment (ASSESS-DV)" in html
