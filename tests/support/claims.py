"""Team-pack helpers shared by the claim tests: a catalogue with a pack, orders, refunds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlmodel import select

from bridge.rules.catalogue.catalog import Catalogue, Offer
from bridge.services.ledger import balances, find_learner
from bridge.services.orders import process_order
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import Access, ClaimPlace
from tests.support.sample_shop import HISTORY_IS_NEWS, make_order, sample_catalogue

PACK = "TEAM-DV-PROJECT-5"
SECRET = "claim-secret-for-tests-0123456789"
PACK_OFFER = Offer(
    PACK,
    "bundle",
    "Data-viz project for a team of five",
    includes=("PROJ-DATAVIZ",),
    claimable=True,
    places=5,
)


def pack_catalogue() -> Catalogue:
    catalogue = sample_catalogue()
    return dataclasses.replace(catalogue, offers={**catalogue.offers, PACK: PACK_OFFER})


def claim_settings(database_url: str, **changes: Mapping[str, Any]) -> Settings:
    """Settings for team packs; ``changes`` as Settings.replace takes them, by group."""
    # The fixtures' orders are dated in the past: here they are news (see HISTORY_IS_NEWS).
    return (
        Settings()
        .replace(
            database={"url": database_url},
            claims={"secret": SECRET},
            web={"public_url": "https://bridge.example.com"},
            writeback={"notify_since": HISTORY_IS_NEWS},
        )
        .replace(**changes)
    )


def pack_order(order_id: int, quantity: int = 1, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("email", "boss@employer.example")
    kwargs.setdefault("customer_id", 40)
    return make_order(order_id, [(PACK, quantity)], **kwargs)


def refund_units(order_id: int, units: int, refund_id: int = 900) -> list[dict[str, Any]]:
    """The /orders/<id>/refunds answer for ``units`` units of the pack line refunded."""
    return [
        {
            "id": refund_id,
            "date_created_gmt": "2026-11-29T10:00:00",
            "amount": "100.00",
            "line_items": [
                {
                    "quantity": -units,
                    "total": "-100.00",
                    "meta_data": [{"key": "_refunded_item_id", "value": str(order_id * 100)}],
                }
            ],
        }
    ]


class FakeShop:
    def __init__(self, refunds: dict[int, list[dict[str, Any]]] | None = None) -> None:
        self.refunds = refunds or {}

    def order_refunds(self, order_id: int) -> list[dict[str, Any]]:
        return self.refunds.get(order_id, [])

    def get_order(self, order_id: int) -> dict[str, Any]:
        raise AssertionError("not asked in these tests")


def apply(engine, settings, order, catalogue=None, shop=None):  # type: ignore[no-untyped-def]
    return process_order(
        engine, order, catalogue=catalogue or pack_catalogue(), settings=settings, shop=shop
    )


def holdings(engine, email: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Balances and current access windows of a learner by e-mail (empty when unknown)."""
    with unit_of_work(engine) as session:
        learner = find_learner(session, email)
        if learner is None:
            return {"balances": {}, "access": []}
        access = session.exec(
            select(Access).where(Access.learner_id == learner.id, Access.revoked_at == None)  # noqa: E711
        ).all()
        return {
            "balances": {k: v for k, v in balances(session, learner.id).items() if v},
            "access": sorted(row.offer_sku for row in access),
        }


def places(engine, order_id: int) -> list[ClaimPlace]:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(ClaimPlace)
            .where(ClaimPlace.order_id == order_id)
            .order_by(ClaimPlace.unit, ClaimPlace.place)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)
