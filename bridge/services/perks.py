"""The perks a learner holds now, read from their stored subscriptions."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bridge.rules.catalog import Catalogue
from bridge.rules.perks import offer_perks, perks_hold
from bridge.store.models import Subscription, utcnow


def row_perks(row: Subscription, catalogue: Catalogue | None, now: datetime) -> list[str]:
    """One subscription's perks now: the offers' current ones, else those stored with it."""
    if not perks_hold(row.status, row.end_gmt, now):
        return []
    if catalogue is not None:
        return offer_perks(row.offer_skus or [], catalogue)
    return [str(perk) for perk in row.perks or []]


def active_perks(session: Session, learner_id: int, *, catalogue: Catalogue | None = None,
                 now: datetime | None = None) -> list[str]:
    """The perks the learner holds now, sorted: from subscriptions active or pending-cancel.

    With a catalogue, perks are the offers' current ones; without, those stored when each
    subscription was last applied.
    """
    now = now or utcnow()
    perks: set[str] = set()
    for row in session.exec(select(Subscription)
                            .where(Subscription.learner_id == learner_id)).all():
        perks.update(row_perks(row, catalogue, now))
    return sorted(perks)
