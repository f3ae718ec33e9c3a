"""The privacy tests' story: Lena, a learner with something in every part of the bridge (a
ledger, a seat, a Cal.com booking, a claimed team-pack place, an outcome event and its
credential), and Helena, whose address ends in Lena's, there to be left alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bridge.services.credentials import import_csv, issuing_factory
from bridge.services.learner_links import page_link
from bridge.services.ledger import find_learner
from bridge.services.orders import process_order, store_file_catalogue
from bridge.services.team_packs import claim_place, list_claims
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from tests.support.bookings import (
    LENA,
    LENA_ID,
    booking_app,
    calcom_variant,
    link_token,
    post_calcom,
)
from tests.support.credentials import PUBLIC_URL, example_catalogue
from tests.support.sample_shop import make_order

HELENA = "helena.fischer@example.com"
LINK_SECRET = "claim-secret-privacy-test"
NAME = "Lena Fischer"
# Order ids of the story: Lena's pack and assessment, her cohort seat, the team pack her
# employer bought, Helena's pack.
PACK_ORDER, SEAT_ORDER, TEAM_ORDER, HELENA_ORDER = 9301, 9302, 9303, 9304


def lena_order(order_id: int, lines: list[tuple[str, int]], **changes: Any) -> dict[str, Any]:
    """A real-shaped order of Lena's, billed in her name."""
    order = make_order(order_id, lines, email=LENA, customer_id=LENA_ID, **changes)
    order["billing"].update(first_name="Lena", last_name="Fischer")
    order["shipping"].update(first_name="Lena", last_name="Fischer")
    return order


@dataclass
class Story:
    """The database Lena's story is told in, and the settings it was told with."""

    engine: Engine
    settings: Settings
    key_folder: Path
    page_token: str = ""

    def apply(self, order: dict[str, Any]) -> None:
        process_order(self.engine, order, catalogue=example_catalogue(), settings=self.settings)


def tell_story(engine: Engine, settings: Settings, folder: Path) -> Story:
    """Lena's whole story, applied the way the shop, Cal.com and her employer would."""
    store_file_catalogue(engine, example_catalogue())
    told = Story(engine, settings, folder)
    told.apply(lena_order(PACK_ORDER, [("MENTOR-PACK-5H", 1), ("ASSESS-DV", 1)]))
    told.apply(lena_order(SEAT_ORDER, [("COHORT-DV-2027-01", 1)]))
    helena = make_order(HELENA_ORDER, [("MENTOR-PACK-3H", 1)], email=HELENA, customer_id=3188)
    helena["billing"].update(first_name="Helena", last_name="Fischer")
    told.apply(helena)
    boss = make_order(TEAM_ORDER, [("TEAM-DV-PROJECT-5", 1)], email="boss@employer.example")
    boss["customer_id"] = 40
    told.apply(boss)
    code = list_claims(engine, TEAM_ORDER, settings)["places"][0]["code"]
    claim_place(engine, code, LENA, NAME, settings)

    app = booking_app(engine, settings.replace(claims={"secret": LINK_SECRET}))
    token = link_token(engine, LENA, secret=LINK_SECRET)
    with app.test_client() as client:
        answer = post_calcom(client, calcom_variant("calcom_booking_created", token=token))
        assert answer.status_code == 200, answer.get_data(as_text=True)

    with unit_of_work(engine) as session:
        lena = find_learner(session, LENA)
        assert lena is not None
        link = page_link(session, int(lena.id or 0), LINK_SECRET, PUBLIC_URL, create=True)
        assert link is not None and link.token is not None
        told.page_token = link.token
        session.commit()

    result = import_csv(
        engine,
        f"kind,learner,sku,occurred_at\nassessment_passed,{LENA},ASSESS-DV,2026-11-30\n",
        "UTC",
        issuing=issuing_factory(settings, example_catalogue),
    )
    assert result.committed and result.recorded == 1
    return told
