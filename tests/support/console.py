"""A small shop for the console and the public pages, seeded through the real pipeline.

The sample catalogue (catalog.example.toml) with the DV-2027-01 cohort published: capacity 3
(1 mentor x 3 learners per mentor, 5 assessment slots). Six learners buy a seat, so three are
active and three wait in order; six start the data-viz project and five submit it. One
write-back is dead (WooCommerce refused it) and one webhook delivery is dead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.catalogue import load_catalogue, read_catalogue_file
from bridge.services.credentials.outcome_events import EventRequest, known_skus, record_event
from bridge.services.ledger import find_learner
from bridge.services.operations import add_operator
from bridge.services.orders import process_order, store_file_catalogue
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, OutboxItem
from tests.support.paths import ROOT
from tests.support.sample_shop import make_order

EXAMPLE = ROOT / "catalog.example.toml"
ADMIN, VIEWER = "ada.admin@example.com", "vic.viewer@example.com"
PASSWORD = "correct horse battery staple"
SECRET_KEY = "test-console-secret-key-0123456789abcdef"
# (first name, last name, customer id) in the order they bought a seat.
BUYERS = [
    ("Ann", "Archer", 31),
    ("Ben", "Baker", 32),
    ("Cara", "Cole", 33),
    ("Dan", "Dorn", 34),
    ("Eve", "Ernst", 35),
    ("Fay", "Fox", 36),
]


def buyer_email(first: str) -> str:
    return f"{first.lower()}@example.com"


def write_catalogue(folder: Path, *, public: bool = True) -> Path:
    """The example catalogue with the cohort's public page on (or off)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    if public:
        text = text.replace("waitlist = true", "waitlist = true\npublic_outcomes = true", 1)
    path = folder / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class ConsoleShop:
    engine: Engine
    settings: Settings
    catalogue: Catalogue
    dead_outbox_id: int
    dead_inbox_id: int

    def learner_id(self, first: str) -> int:
        with unit_of_work(self.engine) as session:
            learner = find_learner(session, buyer_email(first))
            assert learner is not None and learner.id is not None
            return learner.id


def seed_console_shop(
    engine: Engine, database_url: str, folder: Path, *, public: bool = True
) -> ConsoleShop:
    path = write_catalogue(folder, public=public)
    settings = Settings().replace(
        database={"url": database_url},
        console={"secret_key": SECRET_KEY},
        catalogue={"file": path},
    )
    file_catalogue = read_catalogue_file(path)
    store_file_catalogue(engine, file_catalogue)
    catalogue = load_catalogue(engine, file_catalogue)
    for index, (first, last, customer) in enumerate(BUYERS):
        order = make_order(
            100 + index,
            [("COHORT-DV-2027-01", 1), ("PROJ-DATAVIZ", 1)],
            email=buyer_email(first),
            customer_id=customer,
            modified=f"2026-11-{10 + index:02d}T10:00:00",
            paid=f"2026-11-{10 + index:02d}T10:00:00",
        )
        order["billing"].update(first_name=first, last_name=last)
        process_order(engine, order, catalogue=catalogue, settings=settings)
    with unit_of_work(engine) as session:
        skus = known_skus(session)
        for index, (first, _, _) in enumerate(BUYERS):
            kinds = ["project_started"] + (["project_submitted"] if index < 5 else [])
            for kind in kinds:
                record_event(
                    session,
                    EventRequest(
                        kind,
                        buyer_email(first),
                        "PROJ-DATAVIZ",
                        datetime(2026, 11, 20 + index, 9, tzinfo=UTC),
                        f"{kind}-{first}",
                    ),
                    skus=skus,
                    source="api",
                )
        session.commit()
        dead_outbox_id = session.exec(select(OutboxItem.id).order_by(col(OutboxItem.id))).first()
        session.execute(
            update(OutboxItem)
            .where(col(OutboxItem.id) == dead_outbox_id)
            .values(
                status="dead",
                attempts=8,
                last_error="403 woocommerce_rest_cannot_edit: Sorry, you are not allowed to edit "
                "this resource.",
            )
        )
        delivery = InboxDelivery(
            topic="order.updated",
            resource="order",
            event="updated",
            resource_id=999,
            business_key="order.updated:999:x",
            body=b'{"id": 999}',
            status="dead",
            attempts=8,
            last_error="OrderPayloadError: order 999 has no status",
        )
        session.add(delivery)
        session.commit()
        session.refresh(delivery)
        assert dead_outbox_id is not None and delivery.id is not None
        dead_inbox_id = delivery.id
    add_operator(engine, ADMIN, PASSWORD, "admin")
    add_operator(engine, VIEWER, PASSWORD, "viewer")
    return ConsoleShop(engine, settings, catalogue, dead_outbox_id, dead_inbox_id)


class Clock:
    """Now, as the app sees it; tests move it on."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def log_in(client, email: str = ADMIN, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Log a Flask test client in through the form; returns the response."""
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    return client.post(
        "/console/login", data={"email": email, "password": password, "csrf_token": token}
    )


def log_in_page(
    page: Any, base: str, email: str = ADMIN, password: str = PASSWORD, *, home: bool = False
) -> None:
    """Log a Playwright page in through the console's form; with home, wait for the home page."""
    page.goto(f"{base}/console/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    if home:
        page.wait_for_url(f"{base}/console/")
