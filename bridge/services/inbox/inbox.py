"""The webhook inbox: store each delivery before trusting it, then process it, retrying failures.

A delivery is identified by its business identity (topic, resource id, ``date_modified_gmt``),
not by WooCommerce's delivery id, which two deliveries in one second can share. A payload that
breaks the rules is stored ``rejected`` with its reason and never retried; any failure while
processing counts as an attempt, backs off, and is dead-lettered after the maximum (the retry
policy of bridge.rules.retry, on the durable queue of bridge.services.queue).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Dialect, Engine, Insert, bindparam, delete, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from bridge.logs import redact
from bridge.rules.inbound.payloads import (
    DEFAULT_MAX_LINE_QUANTITY,
    MAX_ID,
    BodyRefused,
    DeliveryStatus,
    PayloadRejected,
    classify,
    parse_json_body,
)
from bridge.rules.retry import after_failure, backoff, exhausted
from bridge.services.queue import INBOX, counts, due_ids, make_due, retry
from bridge.store.bulk import insert_ignore, table_of, update_rows
from bridge.store.db import (
    DatabaseUnavailable,
    acknowledging,
    describe_db_error,
    raw_write,
    reclaim_space,
    unit_of_work,
)
from bridge.store.models import Counter, InboxDelivery, utcnow

log = logging.getLogger(__name__)

# Nothing more happens to these unless a person retries them.
FINISHED = (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.REJECTED)
STATUSES = tuple(DeliveryStatus)

# resource -> handler: takes a page of that resource's payloads (each one ``classify`` accepted)
# and answers one item per payload, in order: a short description of what changed, or the
# exception the payload earned (recorded as that delivery's failure).
Handler = Callable[[Sequence[Any]], Sequence[Any]]


def one_at_a_time(handle: Callable[[Any], str]) -> Handler:
    """A handler that takes a page from one that takes a payload: each payload in turn, a
    failure answered as that payload's exception."""

    def page(payloads: Sequence[Any]) -> list[Any]:
        answers: list[Any] = []
        for payload in payloads:
            try:
                answers.append(handle(payload))
            except Exception as exc:  # noqa: BLE001  (the delivery's own failure)
                answers.append(exc)
        return answers

    return page


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
        """The payload's id when it is one the database can hold (1 .. 2^63 - 1)."""
        value = self.payload.get("id") if isinstance(self.payload, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
            return value
        return None

    @property
    def business_key(self) -> str:
        """Topic + resource id + modification time; bodies without a time fall back to a hash."""
        modified = None
        if isinstance(self.payload, dict):
            modified = self.payload.get("date_modified_gmt")
        if self.resource_id is not None and isinstance(modified, str) and modified:
            return f"{self.topic}:{self.resource_id}:{modified[:64]}"
        digest = hashlib.sha256(self.body).hexdigest()[:16]
        return f"{self.topic}:{self.resource_id}:{digest}:{self.delivery_id}"


@dataclass(frozen=True)
class Recorded:
    inbox_id: int
    duplicate: bool
    status: str
    reason: str = ""


def db_call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(describe_db_error(exc)) from None


@functools.cache
def _inbox_insert(dialect: str) -> Insert:
    """``INSERT INTO inbox ... ON CONFLICT (business_key) DO NOTHING RETURNING id``."""
    table = table_of(InboxDelivery)
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    return make(table).on_conflict_do_nothing(index_elements=["business_key"]).returning(table.c.id)


# The columns an acknowledgement writes, in the order its statement binds them.
_ROW_COLUMNS = (
    "topic",
    "resource",
    "event",
    "resource_id",
    "webhook_id",
    "delivery_id",
    "business_key",
    "headers",
    "body",
    "status",
    "received_at",
    "processed_at",
    "attempts",
    "last_error",
)


class _DriverStatement(NamedTuple):
    """A statement compiled once for a dialect: its SQL, and how a row becomes its parameters
    (the column types' own bind processors, as SQLAlchemy would apply them)."""

    sql: str
    order: tuple[str, ...] | None  # positional parameters (SQLite), else named (PostgreSQL)
    processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def parameters(self, row: Mapping[str, Any]) -> Any:
        values = {
            name: row[name] if process is None else process(row[name])
            for name, process in self.processors
        }
        return values if self.order is None else tuple(values[name] for name in self.order)


_DRIVER_STATEMENTS: dict[tuple[type, str, str], _DriverStatement] = {}


def _driver_statement(dialect: Dialect, which: str) -> _DriverStatement:
    """The acknowledgement's INSERT (``insert``) or its duplicate's SELECT (``known``),
    compiled once per kind of dialect."""
    key = (type(dialect), dialect.paramstyle, which)
    found = _DRIVER_STATEMENTS.get(key)
    if found is not None:
        return found
    table = table_of(InboxDelivery)
    if which == "insert":
        statement: Any = _inbox_insert(dialect.name)
        names: tuple[str, ...] = _ROW_COLUMNS
    else:
        statement = core_select(table.c.id, table.c.status, table.c.last_error).where(
            table.c.business_key == bindparam("business_key")
        )
        names = ("business_key",)
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    found = _DriverStatement(
        compiled.string,
        tuple(compiled.positiontup or ()) if compiled.positional else None,
        tuple(
            (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        ),
    )
    _DRIVER_STATEMENTS[key] = found
    return found


def record_delivery(
    engine: Engine,
    delivery: Delivery,
    *,
    handled: frozenset[str],
    max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
    status: str | None = None,
) -> Recorded:
    """Commit the delivery to the inbox; a repeat of a known business identity is a duplicate.

    Deliveries on topics nothing handles (or with an empty body) are stored as ignored, and
    payloads that break a rule as rejected, with the reason. A receiver that checked its own
    source's deliveries (booking tools carry no resource id) passes ``status``. Raises
    DatabaseUnavailable when the database cannot take it.
    """
    if status is not None and delivery.resource in handled:
        reason = ""
    else:
        status, reason = classify(
            delivery.topic, delivery.payload, handled, max_quantity=max_quantity
        )
    key = delivery.business_key
    now = utcnow()

    row = {
        "topic": delivery.topic[:64],
        "resource": delivery.resource[:32],
        "event": delivery.event[:32],
        "resource_id": delivery.resource_id,
        "webhook_id": delivery.webhook_id[:32],
        "delivery_id": delivery.delivery_id[:64],
        "business_key": key[:200],
        "headers": dict(delivery.headers),
        "body": delivery.body,
        "status": status,
        "received_at": now,
        "processed_at": now if status != DeliveryStatus.RECEIVED else None,
        "attempts": 0,
        "last_error": reason[:2000],
    }

    # One statement when the delivery is new (the usual case): INSERT ... RETURNING, compiled
    # once per database and run on the driver's connection (the hot path of every
    # acknowledgement: no ORM session, no SQLAlchemy Connection or statement cache lookup, and
    # the write lock held only for the statement and the commit).
    insert = _driver_statement(engine.dialect, "insert")
    parameters = insert.parameters(row)
    with acknowledging(engine), raw_write(engine, one_statement=True) as connection:
        cursor = connection.cursor()
        try:
            cursor.execute(insert.sql, parameters)
            inserted = cursor.fetchone()
            if inserted is None:
                known = _driver_statement(engine.dialect, "known")
                cursor.execute(known.sql, known.parameters({"business_key": key[:200]}))
                found = cursor.fetchone()
        finally:
            cursor.close()
    if inserted is not None:
        return Recorded(
            int(inserted[0]),
            duplicate=False,
            status=status,
            reason=reason if status == DeliveryStatus.REJECTED else "",
        )
    if found is None:  # deleted between the two statements: cannot happen under the lock
        raise DatabaseUnavailable("the stored delivery could not be read back")
    known_id, known_status, known_error = found
    return Recorded(
        int(known_id),
        duplicate=True,
        status=known_status,
        reason=known_error if known_status == DeliveryStatus.REJECTED else "",
    )


def count(engine: Engine, name: str) -> None:
    """Add one to a named counter (best effort: a counter must never fail a request)."""
    try:
        add_to_counters(engine, {name: 1})
    except SQLAlchemyError:
        log.warning("could not count %s: database unavailable", name)


def add_to_counters(engine: Engine, amounts: Mapping[str, int]) -> None:
    """Add to named counters, in one transaction (raises SQLAlchemyError when it cannot)."""
    with unit_of_work(engine) as session:
        for name, amount in sorted(amounts.items()):
            insert_ignore(
                session, Counter, {"name": name, "value": 0, "updated_at": utcnow()}, ["name"]
            )
            session.execute(
                update(Counter)
                .where(col(Counter.name) == name)
                .values(value=Counter.value + amount, updated_at=utcnow())
            )
        session.commit()


def counter_value(engine: Engine, name: str) -> int:
    with unit_of_work(engine) as session:
        row = session.get(Counter, name)
        return row.value if row else 0


class Warned(str):
    """A handler's result that is a warning: the delivery is processed, the row says why."""


class DeliveryResult(NamedTuple):
    """What became of a delivery: its status, the error the row keeps, the handler's result."""

    status: str
    error: str
    result: str


@dataclass(frozen=True)
class _Claimed:
    topic: str
    resource: str
    body: bytes | None
    attempts: int
    context: dict[str, Any]


def claim_attempts(
    engine: Engine, inbox_ids: Sequence[int], max_attempts: int, now: datetime
) -> dict[int, _Claimed | str]:
    """Take one attempt of each delivery before running anything, so a crash mid-run still
    counts as one, in one transaction: each is claimed, or says why not (missing, finished,
    dead). Plain rows, one UPDATE for all: no ORM object per delivery."""
    answers: dict[int, _Claimed | str] = {inbox_id: "missing" for inbox_id in inbox_ids}
    table = table_of(InboxDelivery)
    changes: list[dict[str, Any]] = []
    gave_up: list[tuple[int, str]] = []
    with unit_of_work(engine) as session:
        rows = session.execute(
            core_select(
                table.c.id,
                table.c.status,
                table.c.attempts,
                table.c.last_error,
                table.c.topic,
                table.c.resource,
                table.c.body,
                table.c.resource_id,
                table.c.delivery_id,
                table.c.next_attempt_at,
            )
            .where(table.c.id.in_(sorted(set(inbox_ids))))
            .order_by(table.c.id)
        ).all()
        for row in rows:
            if row.status in (*FINISHED, DeliveryStatus.DEAD):
                answers[row.id] = row.status
                continue
            if exhausted(row.attempts, max_attempts):
                error = row.last_error or (
                    f"gave up after {row.attempts} attempts that did not finish"
                )
                changes.append(
                    {
                        "id": row.id,
                        "status": DeliveryStatus.DEAD,
                        "attempts": row.attempts,
                        "next_attempt_at": None,
                        "last_error": error,
                    }
                )
                gave_up.append((row.id, error))
                answers[row.id] = DeliveryStatus.DEAD
                continue
            attempts = row.attempts + 1
            # A crash mid-run is retried after the backoff, but never inside the drain's lease.
            retry_at = now + backoff(attempts)
            if row.next_attempt_at is not None and row.next_attempt_at > retry_at:
                retry_at = row.next_attempt_at
            changes.append(
                {
                    "id": row.id,
                    "status": row.status,
                    "attempts": attempts,
                    "next_attempt_at": retry_at,
                    "last_error": row.last_error,
                }
            )
            answers[row.id] = _Claimed(
                row.topic,
                row.resource,
                row.body,
                attempts,
                {
                    "inbox_id": row.id,
                    "topic": row.topic,
                    "resource_id": row.resource_id,
                    "delivery_id": row.delivery_id,
                },
            )
        update_rows(session, table, changes)
        session.commit()
    for inbox_id, error in gave_up:
        log.warning("delivery dead: %s", error, extra={"inbox_id": inbox_id})
    return answers


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)[:2000]


def accepted_payload(handlers: Mapping[str, Handler], claimed: _Claimed, max_quantity: int) -> Any:
    """The delivery's payload when its handler should run, else its final (status, error, "")."""
    if claimed.body is None:
        return DeliveryResult(
            DeliveryStatus.DEAD, "raw body was purged before the delivery was processed", ""
        )
    try:
        payload = parse_json_body(claimed.body)
        status, reason = classify(
            claimed.topic, payload, frozenset(handlers), max_quantity=max_quantity
        )
    except (BodyRefused, PayloadRejected) as exc:
        return DeliveryResult(DeliveryStatus.REJECTED, redact(str(exc))[:2000], "")
    except Exception as exc:  # noqa: BLE001  (counted as an attempt, like a handler's failure)
        return handler_outcome(claimed, exc)
    if status != DeliveryStatus.RECEIVED:
        return DeliveryResult(status, reason, "")
    return payload


def handler_outcome(claimed: _Claimed, result: Any) -> DeliveryResult:
    """What a handler's answer (its result, or what it raised) makes of the delivery."""
    if isinstance(result, (BodyRefused, PayloadRejected)):
        return DeliveryResult(DeliveryStatus.REJECTED, redact(str(result))[:2000], "")
    if isinstance(result, BaseException):
        # The traceback is for developers (DEBUG); the row and the log line say what failed.
        log.debug(
            "delivery %s failed",
            claimed.context["inbox_id"],
            exc_info=(type(result), result, result.__traceback__),
        )
        return DeliveryResult(DeliveryStatus.FAILED, _one_line(result), "")
    # A Warned result is processed, and the row says what to look at.
    warning = str(result)[:2000] if isinstance(result, Warned) else ""
    return DeliveryResult(DeliveryStatus.PROCESSED, warning, result)


def run_handler(
    handlers: Mapping[str, Handler], claimed: _Claimed, max_quantity: int
) -> DeliveryResult:
    """(status, error, result) of running the handler; never raises."""
    payload = accepted_payload(handlers, claimed, max_quantity)
    if isinstance(payload, DeliveryResult):
        return payload
    try:
        [result] = handlers[claimed.resource]([payload])
    except Exception as exc:  # noqa: BLE001  (any failure is one attempt: backoff, then dead)
        result = exc
    return handler_outcome(claimed, result)


def record_outcomes(
    engine: Engine,
    outcomes: Mapping[int, tuple[_Claimed, DeliveryResult]],
    max_attempts: int,
    now: datetime,
) -> dict[int, str]:
    """Record what became of several deliveries, in one transaction; their final statuses."""

    def record() -> dict[int, str]:
        finals: dict[int, str] = {}
        table = table_of(InboxDelivery)
        changes: list[dict[str, Any]] = []
        with unit_of_work(engine) as session:
            rows = {
                row.id: row
                for row in session.execute(
                    select(table.c.id, table.c.attempts, table.c.processed_at).where(
                        table.c.id.in_(sorted(outcomes))
                    )
                ).all()
            }
            for inbox_id, (_claimed, (status, error, _result)) in outcomes.items():
                row = rows.get(inbox_id)
                if row is None:
                    finals[inbox_id] = "missing"
                    continue
                final, next_attempt_at = status, None
                if final == DeliveryStatus.FAILED:
                    fate = after_failure(row.attempts, max_attempts, now)
                    final = DeliveryStatus.DEAD if fate.dead else final
                    next_attempt_at = fate.next_attempt_at
                changes.append(
                    {
                        "id": inbox_id,
                        "status": final,
                        "last_error": error,
                        "next_attempt_at": next_attempt_at,
                        "processed_at": now if final in FINISHED else row.processed_at,
                    }
                )
                finals[inbox_id] = final
            update_rows(session, table, changes)
            session.commit()
        return finals

    finals = db_call(record)
    for inbox_id, (claimed, (_status, error, result)) in outcomes.items():
        final = finals[inbox_id]
        if final == "missing":
            continue
        quiet = final in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED)
        level = logging.INFO if quiet else logging.WARNING
        log.log(
            level,
            "delivery %s%s",
            final,
            f": {error}" if error else "",
            extra={**claimed.context, "result": result} if result else claimed.context,
        )
    return finals


def due_deliveries(engine: Engine, now: datetime | None = None, limit: int = 500) -> list[int]:
    """The deliveries the next drain takes: received ones nobody holds (a worker that vanished
    left its lease to run out) and failed ones whose backoff is over; nothing is claimed."""
    return [int(i) for i in db_call(lambda: due_ids(engine, INBOX, now or utcnow(), limit=limit))]


def retry_now(engine: Engine, inbox_id: int | None = None) -> int:
    """Make failed (or, for one id, dead or rejected) deliveries due again; returns how many.

    One delivery gets fresh attempts; every failed one keeps its attempts and comes due now.
    """
    if inbox_id is None:
        return make_due(engine, INBOX, utcnow(), statuses=[DeliveryStatus.FAILED])
    return len(retry(engine, INBOX, utcnow(), ids=[inbox_id]))


def purge_bodies(engine: Engine, retention: timedelta, now: datetime | None = None) -> int:
    """Drop the raw bodies (personal data) of finished deliveries older than the retention."""
    cutoff = (now or utcnow()) - retention
    with unit_of_work(engine) as session:
        changed = session.exec(
            update(InboxDelivery)
            .where(
                col(InboxDelivery.status).in_(FINISHED),
                col(InboxDelivery.received_at) < cutoff,
                col(InboxDelivery.body).is_not(None),
            )
            .values(body=None)
        ).rowcount
        session.commit()
        return int(changed or 0)


def delete_old_deliveries(
    engine: Engine, retention: timedelta, now: datetime | None = None, *, chunk: int = 2000
) -> int:
    """Delete finished and dead deliveries older than the retention, a chunk per transaction.

    Failed and received rows stay whatever their age: they still have work to do. Duplicate
    detection needs a row only while WooCommerce may resend it (seconds to days); an older
    replay is applied again harmlessly, as the order's stored modification date makes it stale.
    """
    cutoff = (now or utcnow()) - retention
    deleted = 0
    while True:
        with unit_of_work(engine) as session:
            ids = session.exec(
                select(InboxDelivery.id)
                .where(
                    col(InboxDelivery.status).in_((*FINISHED, DeliveryStatus.DEAD)),
                    col(InboxDelivery.received_at) < cutoff,
                )
                .limit(chunk)
            ).all()
            if not ids:
                return deleted
            session.execute(delete(InboxDelivery).where(col(InboxDelivery.id).in_(ids)))
            session.commit()
            deleted += len(ids)


@dataclass(frozen=True)
class Retention:
    bodies_dropped: int
    rows_deleted: int
    pages_reclaimed: int


def apply_retention(
    engine: Engine,
    *,
    body_retention: timedelta,
    row_retention: timedelta,
    now: datetime | None = None,
) -> Retention:
    """Drop old bodies, delete old rows, and give the space back (SQLite: incremental vacuum)."""
    now = now or utcnow()
    bodies = db_call(lambda: purge_bodies(engine, body_retention, now))
    rows = db_call(lambda: delete_old_deliveries(engine, row_retention, now))
    pages = db_call(lambda: reclaim_space(engine)) if bodies or rows else 0
    return Retention(bodies, rows, pages)


def status_counts(engine: Engine) -> dict[str, int]:
    return counts(engine, INBOX)
