"""The bridge's own running state: job leases and runs, sync cursors, when watching
began, named counters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class JobLease(SQLModel, table=True):
    """One runner per job across processes; an expired lease may be taken over."""

    __tablename__ = "job_lease"

    job: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class JobRunStatus(StrEnum):
    """How a sync job's run ended (JobRun.status), or that an inbox worker is running."""

    OK = "ok"
    FAILED = "failed"
    BUSY = "busy"  # another runner holds the job's lease
    SKIPPED = "skipped"  # it cannot run here (e.g. a setting it needs is missing)
    RUNNING = "running"  # the heartbeat row of a `bridge inbox work` process


class JobRun(SQLModel, table=True):
    """How the last run of each sync job ended, for the console; its status is a JobRunStatus."""

    __tablename__ = "job_run"

    job: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)
    reason: str = Field(default="", max_length=500)
    started_at: datetime
    finished_at: datetime
    summary: dict[str, Any] | None = json_column()


class SyncCursor(SQLModel, table=True):
    """How far a resource has been reconciled (WooCommerce ``date_modified_gmt``)."""

    __tablename__ = "sync_cursor"

    resource: str = Field(primary_key=True, max_length=32)
    modified_after: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class WatchState(SQLModel, table=True):
    """When the bridge started watching the shop: what happened before is history, told nobody."""

    __tablename__ = "watch_state"

    key: str = Field(primary_key=True, max_length=32)
    since: datetime
    source: str = Field(default="", max_length=32)  # init, first sync, first delivery
    created_at: datetime = Field(default_factory=utcnow)


class Counter(SQLModel, table=True):
    """Named counters (e.g. rejected webhook signatures) that outlive a process."""

    name: str = Field(primary_key=True, max_length=64)
    value: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """One operator action (a manual grant, a retry, a cohort steered, a token revoked): who,
    when, through what, on what and why. Rows are only ever added.

    ``subject`` and ``details`` hold references (``learner:12``, ids, amounts), never personal
    data such as a learner's e-mail: an erased learner leaves no trace here but their id.
    """

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    operator: str = Field(max_length=200, index=True)  # a console e-mail, --by, or the OS user
    via: str = Field(max_length=16)  # cli, console or api
    action: str = Field(max_length=64, index=True)  # e.g. credits.grant, outbox.retry
    subject: str = Field(default="", max_length=200, index=True)  # e.g. learner:12
    reason: str = Field(default="", max_length=500)
    details: dict[str, Any] | None = json_column()


class AlertState(StrEnum):
    """Where an alert incident stands (AlertIncident.state)."""

    OPEN = "open"
    CLEARED = "cleared"


class AlertIncident(SQLModel, table=True):
    """One incident the creator is alerted to: opened once, cleared once, each told once.

    ``key`` names the condition (``writeback_dead``, ``job_failing:orders``); at most one
    incident per key is open. ``open_sent_at``/``clear_sent_at`` stay empty until every
    configured channel took the message, so a channel that was down is tried again.
    """

    __tablename__ = "alert_incident"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=32)
    state: str = Field(default=AlertState.OPEN, max_length=16, index=True)
    summary: str = Field(default="", max_length=500)
    fix: str = Field(default="", max_length=500)
    opened_at: datetime = Field(default_factory=utcnow)
    cleared_at: datetime | None = None
    open_sent_at: datetime | None = None
    clear_sent_at: datetime | None = None
