"""Draining the inbox in batches: claim due deliveries no one holds, then process them.

The claim is the durable queue's (bridge.services.queue): received deliveries and failed ones
whose backoff is over, picked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several workers take
disjoint batches) and under SQLite's one write lock (claims take turns), each stamped with a
short lease. A worker that dies leaves its claim to expire: the rows are claimable again after
the lease. A claimed batch takes its attempts in one transaction, runs, and records its outcomes
in one more; order deliveries go through the pipeline as one page
(bridge.services.orders.page_apply). One delivery processed on its own (``process_delivery``: a
retry by hand, a test) is a batch of one, by the same code.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from bridge.rules.inbound.payloads import DEFAULT_MAX_LINE_QUANTITY
from bridge.services.inbox.inbox import (
    DeliveryResult,
    Handler,
    accepted_payload,
    claim_attempts,
    db_call,
    handler_outcome,
    record_outcomes,
)
from bridge.services.queue import INBOX, claim, newest_id
from bridge.store.db import (
    DatabaseUnavailable,
    checkpoint,
    describe_db_error,
    ping,
    wait_for_acknowledgements,
)
from bridge.store.models import utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# Orders applied per unit of work while deliveries keep arriving. On SQLite a unit of work holds
# the one write lock, and webhook answers wait for it: smaller pages keep their latency down.
PAGE_SIZE = {"sqlite": 25, "postgresql": 100}
# A backlog no new delivery joined since the last batch (the end of a burst, a worker that
# starts late) is taken in larger batches and pages: nobody waits for the lock, and each page's
# own statements are shared by more orders.
BACKLOG_BATCH_SIZE = 500
BACKLOG_PAGE_SIZE = {"sqlite": 100, "postgresql": 100}
# While deliveries keep arriving, a drain ends after each batch and the loop pauses
# (webhooks.processing.GATHER) so that the receivers get the write lock and the CPU, unless
# more than this many deliveries were stored after the batch: then it goes on at once, and
# what is left when the arrivals stop stays a few seconds' work.
MOST_PUT_OFF = 2000
CLAIM_LEASE = timedelta(minutes=2)


def claim_received(
    engine: Engine,
    *,
    limit: int = BATCH_SIZE,
    lease: timedelta = CLAIM_LEASE,
    now: datetime | None = None,
    ids: Sequence[int] | None = None,
) -> list[int]:
    """Claim up to ``limit`` due deliveries nobody holds (only these ``ids``, when given): received
    ones and failed ones whose backoff is over; their ids, oldest first."""
    now = now or utcnow()
    return [
        int(i)
        for i in db_call(lambda: claim(engine, INBOX, now=now, lease=lease, limit=limit, ids=ids))
    ]


def database_down(engine: Engine, exc: BaseException) -> bool:
    """Whether a failure is the database going away, not something about the delivery.

    A connection-level error (OperationalError, InterfaceError, an invalidated connection) is
    confirmed by asking the database for ``SELECT 1``: a statement that failed on a database that
    answers (a lock timeout, a poison row) is the delivery's own failure.
    """
    if isinstance(exc, DatabaseUnavailable):
        return True
    if not isinstance(exc, (OperationalError, InterfaceError)) and not (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return False
    try:
        ping(engine)
    except DatabaseUnavailable:
        return True
    return False


def _database_error(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        return describe_db_error(exc)
    return str(exc)


class InboxDrain:
    """Drains the inbox for one processor (the service's thread or a ``bridge work`` process).

    Deliveries it claimed but could not process because the database went away keep their claim
    and are remembered here: the next drain, once the database answers, takes them first instead
    of waiting for the claim to expire. A database error is raised to the caller (who backs off
    and tries again); nothing about it is counted against the deliveries beyond the attempt
    their claim took.
    """

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        *,
        max_attempts: int,
        max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
        batch_size: int = BATCH_SIZE,
        max_batches: int = 1000,
        after_batch: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_batch: Callable[[Mapping[int, str]], None] | None = None,
        only: Sequence[int] | None = None,
    ) -> None:
        self.engine, self.handlers = engine, handlers
        self.max_attempts, self.max_quantity = max_attempts, max_quantity
        self.batch_size, self.max_batches = batch_size, max_batches
        self.after_batch = after_batch
        # ``clock``: the moment claims and backoffs count from (a scheduled job fixes it);
        # ``on_batch``: told each batch's final statuses (the inbox job reports them).
        self.clock, self.on_batch = clock, on_batch
        self.only = None if only is None else list(only)  # claim these deliveries, no others
        self.put_off: list[int] = []
        self.backlog_batch_size = max(batch_size, BACKLOG_BATCH_SIZE)
        self._newest: int | None = None  # the newest delivery the last batch saw stored
        # A drain run by a loop (webhooks.processing.DrainLoop, which pauses and comes back)
        # yields to arriving deliveries; one run once drains everything due.
        self.yield_to_arrivals = False
        # Set when a drain ended after a batch while deliveries kept arriving: the loop lets
        # the next batch gather (processing.GATHER) instead of taking each few at once.
        self.caught_up = False

    def __call__(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Claim and process batches until none is left (bounded); deliveries processed.

        Under a loop (``yield_to_arrivals``), while deliveries keep arriving and no more than
        MOST_PUT_OFF wait behind the batch, the drain ends after it (``caught_up``): the loop
        lets the next batch gather.
        """
        done = 0
        self.caught_up = False
        for _ in range(self.max_batches):
            if stop():
                break
            wait_for_acknowledgements(self.engine)
            now = self.clock()
            backlog = self.arrivals_stopped()
            ids = self.put_off or claim_received(
                self.engine,
                limit=self.backlog_batch_size if backlog else self.batch_size,
                now=now,
                ids=self.only,
            )
            if not ids:
                break
            try:
                finals = process_batch(
                    self.engine,
                    ids,
                    self.handlers,
                    max_attempts=self.max_attempts,
                    max_quantity=self.max_quantity,
                    now=now,
                    page_size=BACKLOG_PAGE_SIZE.get(self.engine.dialect.name) if backlog else None,
                )
            except DatabaseUnavailable:
                # The rows keep their claim; this drain takes them first once the database
                # answers (another process, after the claim's lease).
                self.put_off = list(ids)
                raise
            self.put_off = []
            done += len(ids)
            if self.on_batch is not None:
                self.on_batch(finals)
            if self.after_batch is not None:
                self.after_batch()
            # SQLite: the batch's pages reach the database file here, not inside the COMMIT of
            # an acknowledgement (bridge.store.db.SQLITE_WAL_AUTOCHECKPOINT).
            checkpoint(self.engine)
            behind = (self._newest or 0) - max(ids)  # deliveries stored after this batch
            if self.yield_to_arrivals and not backlog and behind <= MOST_PUT_OFF:
                self.caught_up = True
                break
        return done

    def arrivals_stopped(self) -> bool:
        """Whether no delivery was stored since this drain last looked (the first look counts
        as arriving): what is due is then a backlog, taken in larger batches and pages."""
        newest = db_call(lambda: newest_id(self.engine, INBOX))
        arriving = self._newest is None or newest != self._newest
        self._newest = newest
        return not arriving


def process_batch(
    engine: Engine,
    inbox_ids: Sequence[int],
    handlers: Mapping[str, Handler],
    *,
    max_attempts: int,
    max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
    now: datetime | None = None,
    page_size: int | None = None,
) -> dict[int, str]:
    """Process claimed deliveries: one claim and one record transaction for the batch, and
    each resource with a page handler (orders) applied a page (``page_size``, PAGE_SIZE by
    default) at a time; their final statuses.

    Statuses, attempts and retries are those of bridge.services.inbox.inbox.process_delivery for
    each delivery. Only an unreachable database raises.
    """
    now = now or utcnow()
    claims = db_call(lambda: claim_attempts(engine, inbox_ids, max_attempts, now))
    finals: dict[int, str] = {i: c for i, c in claims.items() if isinstance(c, str)}
    outcomes: dict[int, tuple[Any, Any]] = {}
    paged: dict[str, list[tuple[int, Any, Any]]] = defaultdict(list)
    failures: list[BaseException] = []
    for inbox_id, claimed in claims.items():
        if isinstance(claimed, str):
            continue
        payload = accepted_payload(handlers, claimed, max_quantity)
        if isinstance(payload, DeliveryResult):
            outcomes[inbox_id] = (claimed, payload)
        else:
            paged[claimed.resource].append((inbox_id, claimed, payload))
    # Every handler takes a page of its resource's payloads (bridge.services.inbox.inbox.Handler).
    size = page_size or PAGE_SIZE.get(engine.dialect.name, BATCH_SIZE)
    for resource, waiting in paged.items():
        for start in range(0, len(waiting), size):
            items = waiting[start : start + size]
            wait_for_acknowledgements(engine)
            try:
                answers = handlers[resource]([payload for _, _, payload in items])
                if len(answers) != len(items):
                    raise RuntimeError(
                        f"the {resource} handler answered {len(answers)} of {len(items)} payloads"
                    )
            except Exception as exc:  # noqa: BLE001  (each delivery counts it as its attempt)
                answers = [exc] * len(items)
            for (inbox_id, claimed, _), answer in zip(items, answers, strict=True):
                outcomes[inbox_id] = (claimed, handler_outcome(claimed, answer))
                if isinstance(answer, BaseException):
                    failures.append(answer)
    # A handler that failed because the database went away did nothing wrong: the batch is put
    # off (its rows keep their claim) rather than recorded as failed, which would wait for the
    # inbox job's retry.
    down = next((exc for exc in failures if database_down(engine, exc)), None)
    if down is not None:
        raise DatabaseUnavailable(_database_error(down))
    if outcomes:
        wait_for_acknowledgements(engine)
        finals.update(record_outcomes(engine, outcomes, max_attempts, now))
    return finals


def process_delivery(
    engine: Engine,
    inbox_id: int,
    handlers: Mapping[str, Handler],
    *,
    max_attempts: int,
    now: datetime | None = None,
    max_quantity: int = DEFAULT_MAX_LINE_QUANTITY,
) -> str:
    """Run one delivery through its handler now, as a batch of one; its final status.

    Whatever the handler raises is recorded (failed with backoff, dead after
    ``max_attempts``); only an unreachable database raises (DatabaseUnavailable).
    """
    finals = process_batch(
        engine, [inbox_id], handlers, max_attempts=max_attempts, max_quantity=max_quantity, now=now
    )
    return finals[inbox_id]
