"""A cohort filled by real order payloads, on a catalogue file of the test's own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.services.catalogue import current_catalogue, load_catalogue
from bridge.services.operations import example_catalogue_text
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Learner, OutboxItem, Seat
from tests.support.sample_shop import make_order

# A second cohort of the same course, sold by its own offer: where deferrals go.
APRIL = """
[cohorts.DV-2027-04]
title = "Data-viz cohort, April 2027"
starts = 2027-04-12T09:00:00
ends = 2027-05-21T18:00:00
timezone = "Europe/Berlin"
mentors = 1
learners_per_mentor = 2
waitlist = true

[offers.COHORT-DV-2027-04]
kind = "cohort_seat"
title = "Data-viz cohort, April 2027"
cohort = "DV-2027-04"
"""


def write_catalogue(path: Path, learners_per_mentor: int = 3) -> Path:
    """The example catalogue with DV-2027-01 at ``learners_per_mentor`` seats, and DV-2027-04."""
    text = example_catalogue_text().replace(
        "learners_per_mentor = 3\n", f"learners_per_mentor = {learners_per_mentor}\n", 1
    )
    path.write_text(text + APRIL, encoding="utf-8")
    return path


def told(settings: Settings) -> Settings:
    """Settings under which every order of these tests is news: customers are told."""
    return settings.replace(writeback={"notify_since": datetime(2026, 1, 1, tzinfo=UTC)})


def catalogue_of(engine: Engine, path: Path) -> Catalogue:
    return load_catalogue(engine, current_catalogue(engine, path))


def buy_seat(
    engine: Engine,
    settings: Settings,
    catalogue: Catalogue,
    order_id: int,
    email: str,
    paid_day: int,
    *,
    sku: str = "COHORT-DV-2027-01",
    **kw: Any,
) -> None:
    """``email`` buys one seat, paid on day ``paid_day`` of 2026-08."""
    process_order(
        engine,
        make_order(
            order_id,
            [(sku, 1)],
            email=email,
            customer_id=0,
            paid=f"2026-08-{paid_day:02d}T10:00:00",
            modified=kw.pop("modified", f"2026-08-{paid_day:02d}T10:00:00"),
            **kw,
        ),
        catalogue=catalogue,
        settings=settings,
    )


def seats_by_email(engine: Engine, code: str) -> dict[str, list[str]]:
    """Who is active and who waits (in waitlist order) in a cohort."""
    from bridge.store.models import seat_purchase_order

    with unit_of_work(engine) as session:
        rows = session.exec(
            select(Seat, Learner)
            .join(Learner, col(Learner.id) == col(Seat.learner_id))
            .where(Seat.cohort_code == code)
            .order_by(*seat_purchase_order())
        ).all()
    out: dict[str, list[str]] = {}
    for seat, learner in rows:
        out.setdefault(seat.status, []).append(learner.email)
    return out


def notes_for(engine: Engine, order_id: int) -> list[str]:
    """The texts of the notes queued for an order."""
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxItem).where(
                OutboxItem.resource == "order_note", OutboxItem.target_id == order_id
            )
        ).all()
    return [str(row.payload["data"]["note"]) for row in rows]


def stock_queued(engine: Engine) -> list[dict[str, Any]]:
    """The stock write-backs queued, newest last."""
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxItem)
            .where(col(OutboxItem.target_key).like("%:stock"))
            .order_by(col(OutboxItem.id))
        ).all()
    return [{"key": row.target_key, **row.payload["data"]} for row in rows]
