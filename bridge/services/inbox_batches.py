"""Draining the inbox in batches: claim received deliveries no one holds, then process them.

A claim stamps ``next_attempt_at`` with a short lease on rows still ``received``; on PostgreSQL
the rows are picked ``FOR UPDATE SKIP LOCKED``, so several workers take disjoint batches; on
SQLite every write transaction holds the database lock (BEGIN IMMEDIATE), so claims are
serialised as a whole and one claimer at a time takes a batch. A worker that dies leaves its
claim to expire: the rows are claimable again after the lease (and the inbox job's stalled-row
rule still applies). Each claimed delivery is processed by bridge.services.inbox, unchanged:
its statuses, attempts and retries stay what they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlmodel import col, select

from bridge.rules.payloads import DEFAULT_MAX_LINE_QUANTITY
from bridge.services.inbox import RECEIVED, Handler, process_delivery
from bridge.store.db import DatabaseUnavailable, unit_of_work, wait_for_acknowledgements
from bridge.store.models import InboxDelivery, utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 100
CLAIM_LEASE = timedelta(minutes=2)


def claim_received(engine: Engine, *, limit: int = BATCH_SIZE, lease: timedelta = CLAIM_LEASE,
                   now: datetime | None = None) -> list[int]:
    """Claim up to ``limit`` received deliveries nobody holds; their ids, oldest first."""
    now = now or utcnow()
    pick = (
        select(InboxDelivery.id)
        .where(InboxDelivery.status == RECEIVED,
               or_(col(InboxDelivery.next_attempt_at).is_(None),
                   col(InboxDelivery.next_attempt_at) <= now))
        .order_by(col(InboxDelivery.id))
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    with unit_of_work(engine) as session:
        ids = session.execute(
            update(InboxDelivery)
            .where(col(InboxDelivery.id).in_(pick.scalar_subquery()))
            .values(next_attempt_at=now + lease)
            .returning(InboxDelivery.id)
        ).scalars().all()
        session.commit()
    return sorted(int(i) for i in ids)


def drain_received(
    engine: Engine,
    handlers: Mapping[str, Handler],
    *,
    max_attempts: int,
    max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
    batch_size: int = BATCH_SIZE,
    max_batches: int = 1000,
    after_batch: Callable[[], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Claim and process batches until none is left (bounded); returns deliveries processed."""
    done = 0
    for _ in range(max_batches):
        if stop():
            break
        wait_for_acknowledgements(engine)
        ids = claim_received(engine, limit=batch_size)
        if not ids:
            break
        for inbox_id in ids:
            wait_for_acknowledgements(engine)
            try:
                # Whatever a handler raises is recorded on the row; only the database can fail.
                process_delivery(engine, inbox_id, handlers, max_attempts=max_attempts,
                                 max_quantity=max_quantity)
            except DatabaseUnavailable as exc:
                # The row keeps its claim; once the lease ends it is claimed and tried again.
                log.warning("delivery processing put off: %s", exc, extra={"inbox_id": inbox_id})
            except Exception:  # noqa: BLE001  (one bad delivery must not stop the drain)
                log.exception("delivery processing failed", extra={"inbox_id": inbox_id})
            done += 1
        if after_batch is not None:
            after_batch()
    return done
