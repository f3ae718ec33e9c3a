"""The perks a learner holds now, read from their stored subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from bridge.rules.catalogue.catalog import Catalogue
from bridge.rules.perks import offer_perks, perks_hold
from bridge.store.bulk import among
from bridge.store.models import Subscription, utcnow


def row_perks(row: Subscription, catalogue: Catalogue | None, now: datetime) -> list[str]:
    """One subscription's perks now: the offers' current ones, else those stored with it."""
    if not perks_hold(row.status, row.end_gmt, now):
        return []
    if catalogue is not None:
        return offer_perks(row.offer_skus or [], catalogue)
    return [str(perk) for perk in row.perks or []]


def active_perks(
    session: Session,
    learner_id: int,
    *,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> list[str]:
    """The perks the learner holds now, sorted: from subscriptions active or pending-cancel.

    With a catalogue, perks are the offers' current ones; without, those stored when each
    subscription was last applied.
    """
    return active_perks_of(session, [learner_id], catalogue=catalogue, now=now)[learner_id]


def active_perks_of(
    session: Session,
    learner_ids: Iterable[int],
    *,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> dict[int, list[str]]:
    """``active_perks`` of several learners in one query (every id given has an entry)."""
    now = now or utcnow()
    ids = sorted(set(learner_ids))
    perks: dict[int, set[str]] = {learner_id: set() for learner_id in ids}
    if ids:
        for row in session.exec(
            select(Subscription).where(among(col(Subscription.learner_id), ids))
        ).all():
            assert row.learner_id is not None  # matched by the IN above
            perks[row.learner_id].update(row_perks(row, catalogue, now))
    return {learner_id: sorted(held) for learner_id, held in perks.items()}
