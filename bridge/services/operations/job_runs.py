"""The last run of each sync job, kept so the console can say when each job ran and how."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import col, select

from bridge.errors import BridgeError
from bridge.store.db import unit_of_work
from bridge.store.models import JobRun, JobRunStatus


def record_job_run(
    engine: Engine,
    job: str,
    status: str,
    reason: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    summary: Mapping[str, Any],
) -> None:
    """Replace the job's last run with this one; its summary counts the failures in a row
    (``failures_in_a_row``, for the alerts)."""
    with unit_of_work(engine) as session:
        row = session.get(JobRun, job)
        before = int((row.summary or {}).get("failures_in_a_row") or 0) if row else 0
        row = row or JobRun(job=job, status=status, started_at=started_at, finished_at=finished_at)
        row.status, row.reason = status, reason[:500]
        row.started_at, row.finished_at = started_at, finished_at
        failures = before + 1 if status == JobRunStatus.FAILED else 0
        row.summary = {**summary, "failures_in_a_row": failures}
        session.add(row)
        session.commit()


def last_job_runs(engine: Engine) -> dict[str, dict[str, Any]]:
    """job -> its last run (status, reason, times, summary)."""
    with unit_of_work(engine) as session:
        return {
            row.job: {
                "job": row.job,
                "status": row.status,
                "reason": row.reason,
                "started_at": row.started_at,
                "finished_at": row.finished_at,
                "summary": row.summary or {},
            }
            for row in session.exec(select(JobRun).order_by(col(JobRun.job))).all()
        }


# A `bridge inbox work` process keeps a row of its own here, beaten while it lives, so that the
# web processes (which only store in that mode) can tell in /healthz whether anyone processes.
WORKER_PREFIX = "inbox-worker "
# A worker row left by a process killed outright is dropped by the next worker after this long.
WORKER_ROWS_KEPT = timedelta(days=1)


def worker_name(host: str, pid: int) -> str:
    """The row's key: one per worker process (the job column holds 64 characters)."""
    return f"{WORKER_PREFIX}{host[:40]}:{pid}"[:64]


def beat_worker(
    engine: Engine, name: str, *, started_at: datetime, now: datetime, state: str, processed: int
) -> None:
    """Record that the worker lives (its last beat is ``finished_at``) and what it is doing."""
    record_job_run(
        engine,
        name,
        JobRunStatus.RUNNING,
        "",
        started_at=started_at,
        finished_at=now,
        summary={"state": state, "processed": processed},
    )


def end_worker(engine: Engine, name: str, *, now: datetime) -> None:
    """A worker that stops cleanly removes its row; older rows of killed workers go too."""
    with unit_of_work(engine) as session:
        session.execute(delete(JobRun).where(col(JobRun.job) == name))
        session.commit()
    forget_dead_workers(engine, now=now)


def forget_dead_workers(engine: Engine, *, now: datetime) -> int:
    """Drop the rows of workers silent for longer than WORKER_ROWS_KEPT; how many."""
    with unit_of_work(engine) as session:
        gone = session.exec(
            delete(JobRun).where(
                col(JobRun.job).startswith(WORKER_PREFIX),
                col(JobRun.finished_at) < now - WORKER_ROWS_KEPT,
            )
        ).rowcount
        session.commit()
    return int(gone or 0)


@dataclass(frozen=True)
class WorkerHealth:
    """What the web can tell about `bridge inbox work` processes from their heartbeats."""

    alive: int  # beat within the staleness bound
    silent: int  # beat once, then stopped beating (killed, hung, or cut off from the database)
    last_beat: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": "running" if self.alive else "stopped",
            "workers": self.alive,
            "silent_workers": self.silent,
            "last_heartbeat": self.last_beat.isoformat() if self.last_beat else None,
        }


def worker_health(engine: Engine, *, now: datetime, stale_after: timedelta) -> WorkerHealth:
    """Workers whose last beat is recent (alive) and those whose beat stopped (silent)."""
    with unit_of_work(engine) as session:
        beats = session.exec(
            select(JobRun.finished_at).where(col(JobRun.job).startswith(WORKER_PREFIX))
        ).all()
    alive = sum(1 for beat in beats if beat >= now - stale_after)
    return WorkerHealth(
        alive=alive, silent=len(beats) - alive, last_beat=max(beats) if beats else None
    )


@contextmanager
def manual_run(engine: Engine, job: str, clock: Callable[[], datetime]) -> Iterator[dict[str, Any]]:
    """A job run by hand (``bridge catalog sync``, ``bridge outbox drain``) counts as the job's
    run, as ``bridge sync JOB`` does: kept as its last run, OK unless a BridgeError ends it (the
    error goes on). The caller fills the yielded summary; ``failed`` in it marks a run that
    ended without raising but did not do its work (a drain the shop stopped)."""
    started_at = clock()
    summary: dict[str, Any] = {"manual": True}
    try:
        yield summary
    except BridgeError as exc:
        reason = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
        record_job_run(
            engine,
            job,
            JobRunStatus.FAILED,
            reason,
            started_at=started_at,
            finished_at=clock(),
            summary=summary,
        )
        raise
    failed = str(summary.pop("failed", "") or "")
    record_job_run(
        engine,
        job,
        JobRunStatus.FAILED if failed else JobRunStatus.OK,
        failed,
        started_at=started_at,
        finished_at=clock(),
        summary=summary,
    )
