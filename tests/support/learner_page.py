"""Learners' own pages in tests: a learner with a mentor pack, a waitlisted cohort seat and a
passed assessment, on the example catalogue (whose cohort has weekly sessions), and their link."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from bridge.rules.bookings.events import BookingType
from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.credentials import import_csv, issuing_factory
from bridge.services.learner_links import page_link
from bridge.services.ledger import find_learner
from bridge.services.orders import process_order, store_file_catalogue
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Learner
from tests.support.credentials import credential_settings, example_catalogue
from tests.support.sample_shop import HISTORY_IS_NEWS, make_order

SECRET = "claim-secret-for-learner-pages-0123"
ANN = "ann@example.com"
BOOKING_URL = "https://cal.com/dana/mentor-hour"
# Before the example cohort starts (11 January 2027): its seats and waitlist are live.
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def page_catalogue() -> Catalogue:
    """The example catalogue with a bookable mentor hour (its Cal.com page)."""
    catalogue = example_catalogue()
    booking = BookingType("mentor-hour", title="Mentor hour", url=BOOKING_URL)
    return dataclasses.replace(catalogue, booking_types=(booking,))


def page_settings(database_url: str, tmp_path: Path, **changes: Mapping[str, Any]) -> Settings:
    """Settings that issue credentials, derive links and write notes for the fixtures' orders."""
    return credential_settings(
        database_url,
        tmp_path,
        claims={"secret": SECRET, "page_requests_per_minute": 1000},
        writeback={"notify_since": HISTORY_IS_NEWS},
        orders={"complimentary_call_minutes": 30},
        shop={"timezone": "Europe/Berlin", "locale": "en_GB"},
    ).replace(**changes)


def order(
    engine: Engine,
    settings: Settings,
    order_id: int,
    sku: str,
    email: str,
    customer_id: int,
    **kwargs: Any,
) -> None:
    """Apply one order for one unit of ``sku`` as the shop would send it."""
    catalogue = page_catalogue()
    payload = make_order(order_id, [(sku, 1)], email=email, customer_id=customer_id, **kwargs)
    process_order(engine, payload, catalogue=catalogue, settings=settings)


def learner_id(engine: Engine, email: str) -> int:
    with unit_of_work(engine) as session:
        learner = find_learner(session, email)
        assert learner is not None and learner.id is not None
        return learner.id


def link_of(engine: Engine, settings: Settings, email: str) -> str:
    """The learner's page token (made when they have none)."""
    with unit_of_work(engine) as session:
        link = page_link(
            session,
            learner_id(engine, email),
            settings.claims.secret,
            settings.web.public_url,
            create=True,
        )
        session.commit()
    assert link is not None and link.token is not None
    return link.token


def ann_with_everything(engine: Engine, settings: Settings) -> None:
    """Three learners fill the cohort, Bo waits first; Ann buys a 5-hour pack, a seat (2nd in
    line) and the assessment, and passes it."""
    store_file_catalogue(engine, page_catalogue())
    for n, email in enumerate(("cy@example.com", "dee@example.com", "eve@example.com")):
        order(engine, settings, 7100 + n, "COHORT-DV-2027-01", email, 300 + n)
    order(engine, settings, 7110, "COHORT-DV-2027-01", "bo@example.com", 310)
    order(engine, settings, 7120, "MENTOR-PACK-5H", ANN, 7)
    order(engine, settings, 7121, "COHORT-DV-2027-01", ANN, 7)
    order(engine, settings, 7122, "ASSESS-DV", ANN, 7)
    result = import_csv(
        engine,
        f"kind,learner,sku,occurred_at\nassessment_passed,{ANN},ASSESS-DV,2026-11-30\n",
        "UTC",
        issuing=issuing_factory(settings, page_catalogue),
    )
    assert result.committed and result.recorded == 1, result


def learner_names(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(Learner.email).order_by(Learner.email)).all())
