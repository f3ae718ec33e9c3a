"""The webhook inbox: store each delivery before trusting it, then process it, retrying failures.

A delivery is identified by its business identity (topic, resource id, ``date_modified_gmt``),
not by WooCommerce's delivery id, which two deliveries in one second can share.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from bridge.errors import BridgeError
from bridge.services.ledger import insert_ignore
from bridge.store.db import DatabaseUnavailable, acknowledging, describe_db_error, unit_of_work
from bridge.store.models import Counter, InboxDelivery, utcnow

log = logging.getLogger(__name__)

RECEIVED, PROCESSED, FAILED, DEAD, IGNORED = "received", "processed", "failed", "dead", "ignored"
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
# A delivery still 'received' this long after arrival lost its worker (crash, restart).
STALLED_AFTER = timedelta(minutes=5)

# resource -> handler(payload) returning a short description of what changed.
Handler = Callable[[Any], str]


@dataclass(frozen=True)
class Delivery:
    """One webhook request as received: verified, parsed, not yet trusted to be processable."""

    topic: str
    webhook_id: str
    delivery_id: str
    headers: Mapping[str, str]
    body: bytes
    payload: Any

    @property
    def resource(self) -> str:
        return self.topic.split(".", 1)[0]

    @property
    def event(self) -> str:
        return self.topic.split(".", 1)[1] if "." in self.topic else ""

    @property
    def resource_id(self) -> int | None:
        if isinstance(self.payload, dict) and isinstance(self.payload.get("id"), int):
            return self.payload["id"]
        return None

    @property
    def business_key(self) -> str:
        """Topic + resource id + modification time; bodies without a time fall back to a hash."""
        modified = None
        if isinstance(self.payload, dict):
            modified = self.payload.get("date_modified_gmt")
        if self.resource_id is not None and modified:
            return f"{self.topic}:{self.resource_id}:{modified}"
        digest = hashlib.sha256(self.body).hexdigest()[:16]
        return f"{self.topic}:{self.resource_id}:{digest}:{self.delivery_id}"


@dataclass(frozen=True)
class Recorded:
    inbox_id: int
    duplicate: bool
    status: str


def _db_call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None


def record_delivery(engine: Engine, delivery: Delivery, *, handled: frozenset[str],
                    status: str | None = None) -> Recorded:
    """Commit the delivery to the inbox; a repeat of a known business identity is a duplicate.

    Deliveries for resources nothing handles (or without a resource) are stored as ignored;
    a receiver that knows better (booking tools carry no resource id) passes ``status``.
    Raises DatabaseUnavailable when the database cannot take it.
    """
    if status is None or delivery.resource not in handled:
        status = RECEIVED if delivery.resource in handled and delivery.resource_id else IGNORED
    key = delivery.business_key

    def write() -> Recorded:
        # One statement when the delivery is new (the usual case): INSERT ... RETURNING.
        with unit_of_work(engine) as session:
            table = InboxDelivery.__table__  # type: ignore[attr-defined]
            dialect = session.get_bind().dialect.name
            builder = pg_insert if dialect == "postgresql" else sqlite_insert
            statement = builder(table).values(
                topic=delivery.topic[:64],
                resource=delivery.resource[:32],
                event=delivery.event[:32],
                resource_id=delivery.resource_id,
                webhook_id=delivery.webhook_id[:32],
                delivery_id=delivery.delivery_id[:64],
                business_key=key[:200],
                headers=dict(delivery.headers),
                body=delivery.body,
                status=status,
                received_at=utcnow(),
                attempts=0,
                last_error="",
            ).on_conflict_do_nothing(index_elements=["business_key"]).returning(table.c.id)
            inserted = session.execute(statement).first()
            if inserted is not None:
                session.commit()
                return Recorded(int(inserted[0]), duplicate=False, status=status)
            row = session.exec(
                select(InboxDelivery).where(InboxDelivery.business_key == key[:200])
            ).one()
            session.commit()
            return Recorded(row.id, duplicate=True, status=row.status)

    with acknowledging(engine):
        return _db_call(write)


def count(engine: Engine, name: str) -> None:
    """Add one to a named counter (best effort: a counter must never fail a request)."""
    try:
        with unit_of_work(engine) as session:
            insert_ignore(session, Counter, {"name": name, "value": 0, "updated_at": utcnow()},
                          ["name"])
            session.execute(update(Counter).where(col(Counter.name) == name)
                            .values(value=Counter.value + 1, updated_at=utcnow()))
            session.commit()
    except SQLAlchemyError:
        log.warning("could not count %s: database unavailable", name)


def counter_value(engine: Engine, name: str) -> int:
    with unit_of_work(engine) as session:
        row = session.get(Counter, name)
        return row.value if row else 0


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h."""
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_CAP)


class Warned(str):
    """A handler's result that is a warning: the delivery is processed, the row says why."""


def process_delivery(engine: Engine, inbox_id: int, handlers: Mapping[str, Handler], *,
                     max_attempts: int, now: datetime | None = None) -> str:
    """Run the delivery through its handler and record the outcome on the inbox row."""
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, inbox_id)
        if row is None or row.status in (PROCESSED, IGNORED, DEAD):
            return row.status if row else "missing"
        topic, resource, body, attempts = row.topic, row.resource, row.body, row.attempts
    context = {"inbox_id": inbox_id, "topic": topic, "resource_id": row.resource_id,
               "delivery_id": row.delivery_id}
    handler = handlers.get(resource)
    error = ""
    result = ""
    if handler is None:
        status = IGNORED
    elif body is None:
        status, error = DEAD, "raw body was purged before the delivery was processed"
    else:
        try:
            result = handler(json.loads(body))
            status = PROCESSED
            if isinstance(result, Warned):
                error = str(result)[:2000]  # processed, and the row says what to look at
        except (BridgeError, SQLAlchemyError, ValueError, KeyError, TypeError) as exc:
            # Expected failure kinds are recorded and retried; anything else is a bug and
            # propagates to the log with its traceback (the row stays 'received' and is retried).
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:2000]
            status = FAILED
    now = now or utcnow()
    with unit_of_work(engine) as session:
        row = session.get(InboxDelivery, inbox_id)
        assert row is not None
        row.attempts = attempts + 1
        row.last_error = error
        if status == FAILED:
            if row.attempts >= max_attempts:
                status = DEAD
            else:
                row.next_attempt_at = now + backoff(row.attempts)
        if status in (PROCESSED, IGNORED):
            row.processed_at = now
            row.next_attempt_at = None
        row.status = status
        session.add(row)
        session.commit()
    level = logging.INFO if status in (PROCESSED, IGNORED) else logging.WARNING
    log.log(level, "delivery %s%s", status, f": {error}" if error else "",
            extra={**context, "result": result} if result else context)
    return status


def due_deliveries(engine: Engine, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Failed deliveries whose next try has come, and received ones whose worker vanished."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        failed = select(InboxDelivery.id).where(
            InboxDelivery.status == FAILED, col(InboxDelivery.next_attempt_at) <= now)
        stalled = select(InboxDelivery.id).where(
            InboxDelivery.status == RECEIVED, InboxDelivery.received_at <= now - STALLED_AFTER)
        ids = session.execute(failed.union(stalled).limit(limit)).scalars().all()
        return sorted(ids)


def retry_now(engine: Engine, inbox_id: int | None = None) -> int:
    """Make failed (or, for one id, dead) deliveries due again; returns how many."""
    with unit_of_work(engine) as session:
        statement = update(InboxDelivery).values(next_attempt_at=utcnow())
        if inbox_id is None:
            statement = statement.where(col(InboxDelivery.status) == FAILED)
        else:
            statement = statement.where(col(InboxDelivery.id) == inbox_id,
                                        col(InboxDelivery.status).in_([FAILED, DEAD]))
            statement = statement.values(status=FAILED, attempts=0)
        changed = session.execute(statement).rowcount
        session.commit()
        return int(changed or 0)


def purge_bodies(engine: Engine, retention: timedelta, now: datetime | None = None) -> int:
    """Drop the raw bodies (personal data) of finished deliveries older than the retention."""
    cutoff = (now or utcnow()) - retention
    with unit_of_work(engine) as session:
        changed = session.execute(
            update(InboxDelivery)
            .where(col(InboxDelivery.status).in_([PROCESSED, IGNORED]),
                   col(InboxDelivery.received_at) < cutoff,
                   col(InboxDelivery.body).is_not(None))
            .values(body=None)
        ).rowcount
        session.commit()
        return int(changed or 0)


def status_counts(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(InboxDelivery.status, func.count()).group_by(InboxDelivery.status)
        ).all()
        return {status: int(n) for status, n in rows}
