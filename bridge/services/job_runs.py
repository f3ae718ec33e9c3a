"""The last run of each sync job, kept so the console can say when each job ran and how."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from bridge.store.db import unit_of_work
from bridge.store.models import JobRun


def record_job_run(engine: Engine, job: str, status: str, reason: str, *, started_at: datetime,
                   finished_at: datetime, summary: Mapping[str, Any]) -> None:
    """Replace the job's last run with this one."""
    with unit_of_work(engine) as session:
        row = session.get(JobRun, job) or JobRun(job=job, status=status, started_at=started_at,
                                                 finished_at=finished_at)
        row.status, row.reason = status, reason[:500]
        row.started_at, row.finished_at = started_at, finished_at
        row.summary = dict(summary)
        session.add(row)
        session.commit()


def last_job_runs(engine: Engine) -> dict[str, dict[str, Any]]:
    """job -> its last run (status, reason, times, summary)."""
    with unit_of_work(engine) as session:
        return {row.job: {"job": row.job, "status": row.status, "reason": row.reason,
                          "started_at": row.started_at, "finished_at": row.finished_at,
                          "summary": row.summary or {}}
                for row in session.exec(select(JobRun).order_by(col(JobRun.job))).all()}
