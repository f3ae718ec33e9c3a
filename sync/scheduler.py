"""The clock: every job on its schedule (APScheduler 3), one instance at a time, stoppable.

One ``SyncScheduler`` per process, in the clock process (``bridge scheduler``) or inside the web
worker (``bridge serve``). Within a process APScheduler runs a job at most once at a time
(``max_instances=1``) and folds missed runs into one (``coalesce``); across processes the
job's lease does the same. Stopping sets a flag the jobs check between pages, so a running job
finishes the page it is on, commits it and returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from threading import Event
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bridge.settings import Settings, schedule_seconds
from bridge.store.models import JobRunStatus
from sync.context import JobResult, SyncPorts
from sync.context import summary_line as job_summary_line
from sync.jobs import JOB_ORDER, JOBS, run_job

log = logging.getLogger(__name__)


def schedule_of(settings: Settings, job: str) -> str:
    """The job's schedule setting (``BRIDGE_SYNC_<JOB>_SCHEDULE``)."""
    return settings.sync.schedule(job)


def trigger_for(schedule: str) -> BaseTrigger | None:
    """An APScheduler trigger for a validated schedule; None for ``off``."""
    if schedule == "off":
        return None
    seconds = schedule_seconds(schedule)
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, timezone=UTC)
    return CronTrigger.from_crontab(schedule, timezone=UTC)


def planned_jobs(settings: Settings) -> list[tuple[str, str]]:
    """(job, schedule) for every job this process will run, in run order."""
    planned = []
    for name in JOB_ORDER:
        schedule = schedule_of(settings, name)
        if schedule == "off":
            continue
        if JOBS[name].needs_shop and not settings.shop.configured:
            continue
        planned.append((name, schedule))
    return planned


class SyncScheduler:
    """The scheduled jobs of one process."""

    def __init__(
        self,
        ports: SyncPorts,
        *,
        stop: Event | None = None,
        on_result: Callable[[JobResult], None] | None = None,
        scheduler: Any = None,
    ) -> None:
        self.ports = ports
        self.stop = stop or Event()
        self.on_result = on_result or log_result
        self.scheduler = scheduler or BackgroundScheduler(timezone=UTC)
        self.planned = planned_jobs(ports.settings)
        for name, schedule in self.planned:
            trigger = trigger_for(schedule)
            options: dict[str, Any] = {}
            if isinstance(trigger, IntervalTrigger):
                # Interval jobs catch up right away after a start (downtime, deploy).
                options["next_run_time"] = datetime.now(UTC)
            self.scheduler.add_job(
                self.run,
                trigger,
                args=[name],
                id=name,
                name=f"sync {name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
                **options,
            )

    def run(self, name: str) -> JobResult | None:
        """One scheduled run of a job (APScheduler calls this in its thread pool)."""
        if self.stop.is_set():
            return None
        result = run_job(name, self.ports, stop=self.stop)
        self.on_result(result)
        return result

    def start(self) -> None:
        self.scheduler.start()
        log.info(
            "scheduler started",
            extra={"jobs": ",".join(f"{name}@{schedule}" for name, schedule in self.planned)},
        )

    def request_stop(self) -> None:
        """Ask running jobs to stop after their current page; safe from a signal handler."""
        self.stop.set()

    def shutdown(self) -> None:
        """Stop scheduling and wait for running jobs to finish their current page."""
        self.stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        log.info("scheduler stopped")

    def wait(self) -> None:
        """Block until a stop is requested (the clock process's main thread)."""
        while not self.stop.wait(timeout=1.0):
            pass


def log_result(result: JobResult) -> None:
    """A scheduled run's summary in the log: failures as errors, a held lease as info."""
    line = job_summary_line(result)
    if result.status == JobRunStatus.FAILED:
        log.error("sync %s failed: %s", result.job, result.reason, extra={"summary": line})
    elif result.status in (JobRunStatus.BUSY, JobRunStatus.SKIPPED):
        log.info("sync %s skipped: %s", result.job, result.reason)
    elif result.tally.fetched or result.tally.changed or result.changes:
        log.info("sync %s", line)
    else:
        log.debug("sync %s", line)
