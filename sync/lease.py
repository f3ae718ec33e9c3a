"""Job leases in the database: one runner per job across processes and machines.

A lease is one ``job_lease`` row: who holds the job and until when. Taking it is a single
conditional write (insert if absent, else take over only if expired or already ours), atomic on
PostgreSQL (row lock, WHERE re-checked) and on SQLite (every write transaction is BEGIN
IMMEDIATE). A running job renews its lease between items; a holder that died stops renewing,
and its lease is taken over once it has expired. Times come from this machine's clock, so the
clocks of machines sharing a database must agree to well within the lease length.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlmodel import col, select

from bridge.errors import RetryableError
from bridge.store.bulk import insert_ignore
from bridge.store.db import unit_of_work
from bridge.store.models import JobLease, utcnow

log = logging.getLogger(__name__)


class LeaseHeld(RetryableError):
    """Another runner holds the job's lease; ``holder`` and ``expires_at`` say who and until."""

    def __init__(self, job: str, holder: str, expires_at: datetime | None) -> None:
        self.job = job
        self.holder = holder
        self.expires_at = expires_at
        until = f" until {expires_at:%Y-%m-%d %H:%M:%S} UTC" if expires_at else ""
        super().__init__(f"{job} is already running ({holder}{until})")


class LeaseLost(RetryableError):
    """The lease expired while the job ran and another runner took it over."""


def runner_id() -> str:
    """host:pid:random, unique per runner even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    """A held lease; ``keep_alive`` between items, ``release`` when done."""

    engine: Engine
    job: str
    holder: str
    ttl: timedelta
    expires_at: datetime
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic
    _renewed: float = 0.0

    def __post_init__(self) -> None:
        self._renewed = self.monotonic()

    def keep_alive(self) -> None:
        """Renew once a third of the lease has passed; cheap to call after every item."""
        if self.monotonic() - self._renewed >= self.ttl.total_seconds() / 3:
            self.renew()

    def renew(self) -> None:
        """Push the expiry one lease length ahead; LeaseLost if another runner took it."""
        now = self.clock()
        expires_at = now + self.ttl
        with unit_of_work(self.engine) as session:
            renewed = session.execute(
                update(JobLease)
                .where(col(JobLease.job) == self.job, col(JobLease.holder) == self.holder)
                .values(expires_at=expires_at)
                .returning(col(JobLease.job))
            ).first()
            session.commit()
        if renewed is None:
            raise LeaseLost(
                f"{self.job}: the lease expired and another runner took the job over; "
                f"raise BRIDGE_SYNC_LEASE_SECONDS (now {self.ttl.total_seconds():.0f})"
            )
        self.expires_at = expires_at
        self._renewed = self.monotonic()

    def release(self) -> None:
        """Give the job up (only if still ours), so the next runner need not wait."""
        with unit_of_work(self.engine) as session:
            session.execute(
                delete(JobLease).where(
                    col(JobLease.job) == self.job, col(JobLease.holder) == self.holder
                )
            )
            session.commit()


def acquire(
    engine: Engine,
    job: str,
    holder: str,
    ttl: timedelta,
    *,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> Lease:
    """Take the job's lease, or raise LeaseHeld naming the runner that has it."""
    now = clock()
    expires_at = now + ttl
    values: dict[str, Any] = {
        "job": job,
        "holder": holder,
        "acquired_at": now,
        "expires_at": expires_at,
    }
    with unit_of_work(engine) as session:
        taken = insert_ignore(session, JobLease, values, ["job"])
        if not taken:
            taken = (
                session.execute(
                    update(JobLease)
                    .where(col(JobLease.job) == job)
                    .where((col(JobLease.expires_at) <= now) | (col(JobLease.holder) == holder))
                    .values(holder=holder, acquired_at=now, expires_at=expires_at)
                    .returning(col(JobLease.job))
                ).first()
                is not None
            )
        current = None if taken else session.get(JobLease, job)
        session.commit()
    if not taken:
        raise LeaseHeld(
            job,
            current.holder if current else "another runner",
            current.expires_at if current else None,
        )
    log.debug("lease taken", extra={"job": job, "holder": holder})
    return Lease(engine, job, holder, ttl, expires_at, clock, monotonic)


def leases(engine: Engine) -> list[JobLease]:
    """Every lease row, held or expired, by job."""
    with unit_of_work(engine) as session:
        return list(session.exec(select(JobLease).order_by(col(JobLease.job))).all())
