"""What is wrong now, each condition under a stable key (the incident it opens)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bridge.rules.cohorts import SeatStatus
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import (
    Cohort,
    Credential,
    JobRun,
    JobRunStatus,
    OutboxItem,
    OutboxStatus,
    Seat,
    UnmappedLine,
)

# The kinds of condition, in the order alerts list them.
KINDS = (
    "writeback_dead",
    "shop_webhooks",
    "job_failing",
    "unmapped_sku",
    "cohort_filling",
    "signing_key_missing",
)


@dataclass(frozen=True)
class Condition:
    """Something the creator should know: its key, kind, one line saying what, and the fix."""

    key: str
    kind: str
    summary: str
    fix: str


def _dead_writebacks(session: Session) -> list[Condition]:
    dead = session.exec(
        select(func.count()).select_from(OutboxItem).where(OutboxItem.status == OutboxStatus.DEAD)
    ).one()
    if not dead:
        return []
    return [
        Condition(
            "writeback_dead",
            "writeback_dead",
            f"{dead} write-back{'s' if dead != 1 else ''} to WooCommerce "
            f"{'are' if dead != 1 else 'is'} dead (out of tries): the shop does not show what "
            "learners hold",
            "read the error on the console's Outbox page, fix its cause, then "
            "`bridge outbox retry --all`",
        )
    ]


def _jobs(session: Session, settings: Settings) -> list[Condition]:
    found = []
    for run in session.exec(select(JobRun).order_by(col(JobRun.job))).all():
        summary = run.summary or {}
        if run.job == "webhooks":
            notes = " ".join(str(note) for note in summary.get("notes") or [])
            elsewhere = "not the bridge's" in notes
            if run.status == JobRunStatus.FAILED or elsewhere:
                found.append(
                    Condition(
                        "shop_webhooks",
                        "shop_webhooks",
                        "the shop's webhooks are disabled or point elsewhere: orders reach the "
                        "bridge only by the scheduled sync",
                        "`bridge webhooks status --repair` (or `bridge webhooks install`)",
                    )
                )
        failures = int(summary.get("failures_in_a_row") or 0)
        if run.status == JobRunStatus.FAILED and failures >= settings.alerts.job_failures:
            found.append(
                Condition(
                    f"job_failing:{run.job}",
                    "job_failing",
                    f"the {run.job} sync job failed {failures} times in a row; last: "
                    f"{run.reason[:200]}",
                    f"`bridge sync {run.job}` shows the error; the console's home lists the fix",
                )
            )
    return found


def _unmapped(session: Session) -> list[Condition]:
    rows = session.exec(
        select(UnmappedLine.sku, func.count())
        .group_by(col(UnmappedLine.sku))
        .order_by(col(UnmappedLine.sku))
    ).all()
    return [
        Condition(
            f"unmapped_sku:{sku or '(no SKU)'}",
            "unmapped_sku",
            f"SKU {sku or '(none)'} sold in {count} paid order line{'s' if count != 1 else ''} "
            "but maps to no micro-SKU: its buyers got nothing",
            "map it in catalog.toml (or product meta), then `bridge sync orders --full`",
        )
        for sku, count in rows
    ]


def _cohorts(session: Session, settings: Settings, now: datetime) -> list[Condition]:
    active = (
        select(Seat.cohort_code, func.count())
        .where(Seat.status == SeatStatus.ACTIVE)
        .group_by(col(Seat.cohort_code))
    )
    taken = dict(session.exec(active).all())
    found = []
    for cohort in session.exec(select(Cohort).order_by(col(Cohort.code))).all():
        upcoming = cohort.starts_at is None or cohort.starts_at > now
        seats = int(taken.get(cohort.code, 0))
        if not upcoming or cohort.capacity <= 0:
            continue
        if seats * 100 >= cohort.capacity * settings.alerts.cohort_fill_percent:
            found.append(
                Condition(
                    f"cohort_filling:{cohort.code}",
                    "cohort_filling",
                    f"cohort {cohort.code} has {seats} of {cohort.capacity} seats taken "
                    f"({seats * 100 // cohort.capacity}%)",
                    "add mentors or assessment slots to raise its capacity, or open the next "
                    "cohort",
                )
            )
    return found


def _signing_key(session: Session, settings: Settings) -> list[Condition]:
    if settings.credentials.signing_key or Path(settings.credentials.key_file).is_file():
        return []
    issued = session.exec(select(func.count()).select_from(Credential)).one()
    if not issued and not settings.web.public_url:
        return []  # credentials are not in use
    return [
        Condition(
            "signing_key_missing",
            "signing_key_missing",
            "the credential signing key is missing (neither BRIDGE_CREDENTIAL_SIGNING_KEY nor "
            "the key file): credentials cannot be issued and wallets cannot verify new ones",
            "restore the key file from your backup (BRIDGE_CREDENTIAL_KEY_FILE); "
            "`bridge credentials rotate-key` only if it is lost",
        )
    ]


def find_conditions(engine: Engine, settings: Settings, now: datetime) -> list[Condition]:
    """Every condition that holds now, in KINDS order."""
    with unit_of_work(engine) as session:
        found = [
            *_dead_writebacks(session),
            *_jobs(session, settings),
            *_unmapped(session),
            *_cohorts(session, settings, now),
            *_signing_key(session, settings),
        ]
    return sorted(found, key=lambda c: (KINDS.index(c.kind), c.key))
