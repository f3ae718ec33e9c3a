"""The sync jobs' own storage: cursors, and the counts their summaries need.

A cursor says how far a resource has been reconciled, in WooCommerce modification time. It only
ever moves forward: a full or ``--since`` run re-reads older history without un-doing what an
incremental run already established.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, Engine, func, or_, update
from sqlmodel import col, select

from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.models import InboxDelivery, OrderState, OutboxItem, SyncCursor, utcnow


def read_cursor(engine: Engine, resource: str) -> datetime | None:
    with unit_of_work(engine) as session:
        row = session.get(SyncCursor, resource)
        return row.modified_after if row else None


def advance_cursor(engine: Engine, resource: str, moment: datetime) -> datetime:
    """Move the cursor to ``moment`` unless it is already there or beyond; returns where it is.

    One UPDATE when it moves (a sync moves it after every page); the row is made, or read,
    only when it did not.
    """
    with unit_of_work(engine) as session:
        result = session.execute(
            update(SyncCursor)
            .where(col(SyncCursor.resource) == resource)
            .where(
                or_(
                    col(SyncCursor.modified_after).is_(None),
                    col(SyncCursor.modified_after) < moment,
                )
            )
            .values(modified_after=moment, updated_at=utcnow())
        )
        if isinstance(result, CursorResult) and result.rowcount:
            session.commit()
            return moment
        insert_ignore(
            session,
            SyncCursor,
            {"resource": resource, "modified_after": moment, "updated_at": utcnow()},
            ["resource"],
        )
        where = session.exec(
            select(SyncCursor.modified_after).where(SyncCursor.resource == resource)
        ).one()
        session.commit()
        assert where is not None
        return where


def first_contact(engine: Engine) -> datetime | None:
    """When the bridge first heard of the shop: its first delivery or first applied order."""
    with unit_of_work(engine) as session:
        delivery = session.exec(
            select(InboxDelivery.received_at).order_by(col(InboxDelivery.received_at)).limit(1)
        ).first()
        order = session.exec(
            select(OrderState.updated_at).order_by(col(OrderState.updated_at)).limit(1)
        ).first()
    moments = [moment for moment in (delivery, order) if moment is not None]
    return min(moments) if moments else None


def outbox_high_water(engine: Engine) -> int:
    """The newest outbox row id: rows above it were queued later."""
    with unit_of_work(engine) as session:
        return int(session.exec(select(func.max(OutboxItem.id))).one() or 0)


def queued_since(engine: Engine, high_water: int) -> int:
    """Write-backs queued after ``outbox_high_water`` returned ``high_water``."""
    with unit_of_work(engine) as session:
        return int(
            session.exec(
                select(func.count()).select_from(OutboxItem).where(col(OutboxItem.id) > high_water)
            ).one()
        )


def notified_since(engine: Engine, high_water: int) -> int:
    """Learners a customer note or a coupon was queued for after ``high_water``."""
    with unit_of_work(engine) as session:
        payloads = session.exec(
            select(OutboxItem.payload).where(
                col(OutboxItem.id) > high_water,
                col(OutboxItem.resource).in_(["order_note", "coupon"]),
            )
        ).all()
    return len({p["notify"] for p in payloads if isinstance(p, dict) and p.get("notify")})
