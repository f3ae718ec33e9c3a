"""A small shop seeded through the real pipeline, for the outcome report's hand-checked figures.

Everything happens in September to November 2026; rows written while seeding are dated at the
moment the story says (``clock``), as if each webhook had arrived then. The figures expected
for October in Europe/Berlin (and in UTC, where the boundaries differ) are worked out in
tests/reporting/test_report_storage.py.

Learners (customer id):
- ann (11): free preview Oct 3, mentor hour Oct 5, first call Oct 8 (mentor "mia"),
  subscription started Oct 15; submits a project Nov 5.
- ben (12): free preview Sep 30 22:30 UTC (Oct 1 00:30 in Berlin), project Oct 11 22:30 UTC;
  project started Oct 12 and submitted Oct 28; interview Oct 30.
- cara (13): free preview Oct 20; a call Oct 22 (mentor "Noor") refunded Oct 23; a pending
  subscription; project started Sep 20 and submitted Oct 3.
- dan (14): cohort WEB seat Sep 2 (waitlisted), two mentor hours Sep 10 (one refunded Oct 6),
  call Sep 15 ("Noor"), two mentor hours Oct 12; project started Oct 14; interview Oct 20.
- eve (15): cohort DV seat Oct 25, call Oct 27 ("Max"), mentor hour Oct 30 22:30 UTC refunded
  in full Oct 31 23:30 UTC (Nov 1 00:30 in Berlin).
- fay (16): cohort WEB seat Sep 1 (active; the cohort ends Oct 20), free preview Sep 5, call
  Sep 20 ("Mia"), mentor hour Oct 2; interviews Oct 25 and Nov 2, placement Oct 29.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import select

from bridge.rules.catalogue.catalog import Catalogue, CohortSpec, Offer
from bridge.services.bookings import redeem_in_transaction, refund_in_transaction
from bridge.services.credentials.outcome_events import EventRequest, known_skus, record_event
from bridge.services.ledger import find_learner
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import make_engine, unit_of_work
from bridge.store.models import (
    LedgerEntry,
    OutcomeEvent,
    Redemption,
    Seat,
    Subscription,
    utcnow,
)
from bridge.store.models import Offer as OfferRow
from tests.support.databases import module_database
from tests.support.paths import load_json
from tests.support.sample_shop import BINDINGS, COHORT, OFFERS, make_order, store_cohorts

WEB = CohortSpec(
    code="WEB-2026-09",
    title="Web cohort, September 2026",
    starts_at=datetime(2026, 9, 1, 7, 0, tzinfo=UTC),
    ends_at=datetime(2026, 10, 20, 15, 0, tzinfo=UTC),
    timezone="Europe/Berlin",
    mentors=1,
    learners_per_mentor=1,
)
WEB_SEAT = Offer("COHORT-WEB-2026-09", "cohort_seat", "Web cohort", cohort=WEB.code)
CATALOGUE = Catalogue(
    offers={**OFFERS, WEB_SEAT.sku: WEB_SEAT},
    cohorts={COHORT.code: COHORT, WEB.code: WEB},
    bindings=BINDINGS,
)
# The funnel's free previews earn the complimentary call here (BRIDGE_PERKS_FOR_FREE_PREVIEWS):
# cara, who bought only a €0 preview, books hers.
SETTINGS = Settings().replace(
    orders={"complimentary_call_minutes": 30, "perks_for_free_previews": True}
)
# After the story ends and before the real clock, so "past" means the same in every test run.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEARNERS = {"ann": 11, "ben": 12, "cara": 13, "dan": 14, "eve": 15, "fay": 16}


def at(text: str) -> datetime:
    """A UTC moment written as WooCommerce writes GMT dates."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def email(name: str) -> str:
    return f"{name}@example.com"


@contextmanager
def clock(engine: Engine, when: datetime) -> Iterator[None]:
    """Date every row written inside the block at ``when``, as if it had been written then."""
    mark = utcnow()
    yield
    dated = (
        (LedgerEntry, "created_at"),
        (Redemption, "created_at"),
        (Redemption, "refunded_at"),
        (Seat, "created_at"),
        (Seat, "changed_at"),
        (OutcomeEvent, "created_at"),
    )
    with unit_of_work(engine) as session:
        for model, name in dated:
            column = getattr(model, name)
            session.execute(update(model).where(column >= mark).values({name: when}))
        session.commit()


class RefundShop:
    """Answers the pipeline's refund look-ups with refunds shaped like the captured ones."""

    def __init__(self) -> None:
        self.refunds: dict[int, list[dict[str, Any]]] = {}

    def order_refunds(self, order_id: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self.refunds.get(order_id, []))

    def get_order(self, order_id: int) -> dict[str, Any]:
        raise AssertionError(f"order {order_id} was not expected to be fetched")


def refund(refund_id: int, when: str, amount: str, line_id: int, quantity: int) -> dict[str, Any]:
    """A /orders/<id>/refunds entry (the captured one, re-dated and re-aimed)."""
    captured = load_json("woocommerce-real/rest/4d-order-b-refunds.json")[0]  # type: ignore[index]
    line = captured["line_items"][0]
    line.update(quantity=-quantity, total=f"-{amount}", subtotal=f"-{amount}")
    line["meta_data"][0].update(value=str(line_id), display_value=str(line_id))
    captured.update(id=refund_id, date_created=when, date_created_gmt=when, amount=amount)
    return captured


def order(
    order_id: int,
    name: str,
    lines: list[tuple[str, int, str]],
    paid: str,
    *,
    status: str = "completed",
    modified: str | None = None,
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An order of ``name``'s with (SKU, quantity, line total) lines, paid at ``paid`` (GMT)."""
    payload = make_order(
        order_id,
        [(sku, quantity) for sku, quantity, _ in lines],
        status=status,
        email=email(name),
        customer_id=LEARNERS[name],
        modified=modified or paid,
        paid=paid,
        refunds=refunds,
    )
    for line, (_, _, total) in zip(payload["line_items"], lines, strict=True):
        line.update(total=total, subtotal=total)
    payload["total"] = str(sum((Decimal(total) for _, _, total in lines), Decimal("0.00")))
    payload["date_created_gmt"] = paid
    return payload


def store_offers(engine: Engine, catalogue: Catalogue = CATALOGUE) -> None:
    """The offer table as `bridge catalog sync` leaves it: each SKU with its kind."""
    with unit_of_work(engine) as session:
        for offer in catalogue.offers.values():
            session.add(OfferRow(sku=offer.sku, kind=offer.kind, title=offer.title))
        session.commit()


def learner_id(engine: Engine, name: str) -> int:
    with unit_of_work(engine) as session:
        learner = find_learner(session, email(name))
        assert learner is not None and learner.id is not None
        return learner.id


class SeededShop:
    """Runs the story step by step against one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shop = RefundShop()
        self.keys = iter(range(1, 10**6))

    def buy(self, payload: dict[str, Any], when: str) -> None:
        with clock(self.engine, at(when)):
            process_order(
                self.engine, payload, catalogue=CATALOGUE, settings=SETTINGS, shop=self.shop
            )

    def call(self, name: str, when: str, mentor: str, *, refunded_at: str | None = None) -> None:
        body = {
            "learner": email(name),
            "credit_type": "mentor_minutes",
            "amount": 30,
            "reference": f"call {when}",
            "mentor": mentor,
        }
        with clock(self.engine, at(when)):
            result = redeem_in_transaction(self.engine, body, f"call-{next(self.keys)}")
        if refunded_at is not None:
            with clock(self.engine, at(refunded_at)):
                refund_in_transaction(self.engine, result.body["id"])

    def subscribe(self, subscription_id: int, name: str, start: str, status: str) -> None:
        with unit_of_work(self.engine) as session:
            session.add(
                Subscription(
                    id=subscription_id,
                    learner_id=learner_id(self.engine, name),
                    status=status,
                    start_gmt=at(start),
                    offer_skus=["SUB-MENTOR-MONTHLY"],
                )
            )
            session.commit()

    def event(self, kind: str, name: str, sku: str, when: str) -> None:
        request = EventRequest(
            kind=kind,
            learner=email(name),
            sku=sku,
            occurred_at=at(when),
            key=f"seed-{next(self.keys)}",
        )
        with unit_of_work(self.engine) as session:
            record_event(session, request, skus=known_skus(session), source="csv")
            session.commit()


def seed_shop(engine: Engine) -> SeededShop:
    """The whole story of the module docstring, in the order it happened."""
    store_cohorts(engine, CATALOGUE)
    store_offers(engine)
    shop = SeededShop(engine)
    mentor_hour = "MENTOR-1H"
    shop.buy(
        order(12, "fay", [(WEB_SEAT.sku, 1, "200.00")], "2026-09-01T10:00:00"),
        "2026-09-01T10:00:00",
    )
    shop.buy(
        order(13, "dan", [(WEB_SEAT.sku, 1, "200.00")], "2026-09-02T10:00:00"),
        "2026-09-02T10:00:00",
    )
    shop.buy(
        order(10, "fay", [("PREVIEW-DV", 1, "0.00")], "2026-09-05T10:00:00"), "2026-09-05T10:00:00"
    )
    dan_hours = order(
        6, "dan", [(mentor_hour, 2, "100.00")], "2026-09-10T10:00:00", status="processing"
    )
    shop.buy(dan_hours, "2026-09-10T10:00:00")
    shop.call("dan", "2026-09-15T10:00:00", "Noor")
    shop.call("fay", "2026-09-20T10:00:00", "Mia")
    shop.buy(
        order(3, "ben", [("PREVIEW-DV", 1, "0.00")], "2026-09-30T22:30:00"), "2026-09-30T22:30:00"
    )
    shop.buy(
        order(11, "fay", [(mentor_hour, 1, "50.00")], "2026-10-02T10:00:00"), "2026-10-02T10:00:00"
    )
    shop.buy(
        order(1, "ann", [("PREVIEW-DV", 1, "0.00")], "2026-10-03T10:00:00"), "2026-10-03T10:00:00"
    )
    shop.buy(
        order(2, "ann", [(mentor_hour, 1, "50.00")], "2026-10-05T10:00:00"), "2026-10-05T10:00:00"
    )
    shop.shop.refunds[6] = [refund(601, "2026-10-06T09:00:00", "50.00", line_id=600, quantity=1)]
    refunded = replace_order(
        dan_hours,
        modified="2026-10-06T09:00:00",
        refunds=[{"id": 601, "reason": "", "total": "-50.00"}],
    )
    shop.buy(refunded, "2026-10-06T09:00:00")
    shop.call("ann", "2026-10-08T10:00:00", "mia")
    shop.buy(
        order(4, "ben", [("PROJ-DATAVIZ", 1, "120.00")], "2026-10-11T22:30:00"),
        "2026-10-11T22:30:00",
    )
    shop.buy(
        order(7, "dan", [(mentor_hour, 2, "100.00")], "2026-10-12T10:00:00"), "2026-10-12T10:00:00"
    )
    shop.event("project_started", "ben", "PROJ-DATAVIZ", "2026-10-12T09:00:00")
    shop.event("project_started", "dan", "PROJ-DATAVIZ", "2026-10-14T09:00:00")
    shop.subscribe(700, "ann", "2026-10-15T10:00:00", "active")
    shop.buy(
        order(5, "cara", [("PREVIEW-DV", 1, "0.00")], "2026-10-20T12:00:00"), "2026-10-20T12:00:00"
    )
    # Reported late: events are recorded once the learner is known, dated when they happened.
    shop.event("project_started", "cara", "PROJ-DATAVIZ", "2026-09-20T09:00:00")
    shop.event("project_submitted", "cara", "PROJ-DATAVIZ", "2026-10-03T09:00:00")
    shop.event("interview", "dan", "PROJ-DATAVIZ", "2026-10-20T09:00:00")
    shop.subscribe(701, "cara", "2026-10-21T10:00:00", "pending")
    shop.call("cara", "2026-10-22T10:00:00", "Noor", refunded_at="2026-10-23T10:00:00")
    shop.buy(
        order(8, "eve", [("COHORT-DV-2027-01", 1, "300.00")], "2026-10-25T10:00:00"),
        "2026-10-25T10:00:00",
    )
    shop.event("interview", "fay", "PROJ-DATAVIZ", "2026-10-25T09:00:00")
    shop.call("eve", "2026-10-27T10:00:00", "Max")
    shop.event("project_submitted", "ben", "PROJ-DATAVIZ", "2026-10-28T09:00:00")
    shop.event("placement", "fay", "PROJ-DATAVIZ", "2026-10-29T09:00:00")
    shop.event("interview", "ben", "PROJ-DATAVIZ", "2026-10-30T09:00:00")
    eve_hour = order(9, "eve", [(mentor_hour, 1, "50.00")], "2026-10-30T22:30:00")
    shop.buy(eve_hour, "2026-10-30T22:30:00")
    shop.buy(
        replace_order(
            eve_hour,
            status="refunded",
            modified="2026-10-31T23:30:00",
            refunds=[{"id": 901, "reason": "", "total": "-50.00"}],
        ),
        "2026-10-31T23:30:00",
    )
    shop.event("interview", "fay", "PROJ-DATAVIZ", "2026-11-02T09:00:00")
    shop.event("project_submitted", "ann", "PROJ-DATAVIZ", "2026-11-05T09:00:00")
    return shop


def replace_order(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The same order later: a new status, modification date or refund list."""
    later = copy.deepcopy(payload)
    if "modified" in changes:
        later["date_modified_gmt"] = changes.pop("modified")
    later.update(changes)
    return later


def stored_events(engine: Engine) -> list[tuple[str, str, datetime]]:
    with unit_of_work(engine) as session:
        rows = session.exec(select(OutcomeEvent).order_by(OutcomeEvent.id)).all()
        return [(row.kind, row.offer_sku, row.occurred_at) for row in rows]


@contextmanager
def seeded_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Engine]]:
    """(url, engine) of a database of its own with the story seeded, for read-only tests.

    Seeding takes a second or two; a module seeds once per database instead of once per test.
    """
    with module_database(request, tmp_path_factory.mktemp("seeded-shop"), "bridge_report") as url:
        engine = make_engine(url)
        try:
            seed_shop(engine)
            yield url, engine
        finally:
            engine.dispose()
