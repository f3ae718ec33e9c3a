"""Incidents: one per condition while it holds, told once when it opens and once when it
clears; the daily digest; the test alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from bridge.services.alerts.channels import deliver
from bridge.services.alerts.conditions import find_conditions
from bridge.settings import Settings
from bridge.store.db import unit_of_work
from bridge.store.models import AlertIncident, AlertState, Counter

DIGEST_COUNTER = "alerts_digest_day"
PREFIX = "[creator-bridge]"


@dataclass
class AlertRun:
    """What one check did."""

    opened: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    sent: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # channel -> why, for this run
    digest: bool = False
    channels: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "cleared": self.cleared,
            "sent": self.sent,
            "failed": self.failed,
            "digest": self.digest,
            "channels": list(self.channels),
        }


def _open_message(row: AlertIncident) -> tuple[str, str]:
    return (
        f"{PREFIX} {row.summary[:120]}",
        f"{row.summary}\n\nFix: {row.fix}\n\nOpened {row.opened_at:%Y-%m-%d %H:%M} UTC "
        f"(incident {row.key}). You will get one more message when it clears.",
    )


def _clear_message(row: AlertIncident) -> tuple[str, str]:
    cleared = f"{row.cleared_at:%Y-%m-%d %H:%M}" if row.cleared_at else "now"
    return (
        f"{PREFIX} cleared: {row.summary[:110]}",
        f"Cleared {cleared} UTC: {row.summary}\n(incident {row.key}, opened "
        f"{row.opened_at:%Y-%m-%d %H:%M} UTC)",
    )


def _send(settings: Settings, run: AlertRun, subject: str, body: str) -> bool:
    """True when every configured channel took the message."""
    outcome = deliver(settings.alerts, subject, body)
    failures = {channel: why for channel, why in outcome.items() if why != "sent"}
    run.failed.update(failures)
    if outcome and not failures:
        run.sent += 1
    return bool(outcome) and not failures


def _open_rows(session: Session) -> dict[str, AlertIncident]:
    rows = session.exec(select(AlertIncident).where(AlertIncident.state == AlertState.OPEN)).all()
    return {row.key: row for row in rows}


def check_alerts(
    engine: Engine, settings: Settings, now: datetime, *, tell: bool = True
) -> AlertRun:
    """Open an incident for each new condition, clear those gone, tell each change once
    (``tell=False``, a dry run's preview: open and clear only, send nothing)."""
    run = AlertRun(channels=settings.alerts.channels if tell else ())
    conditions = {c.key: c for c in find_conditions(engine, settings, now)}
    with unit_of_work(engine) as session:
        current = _open_rows(session)
        for key, condition in conditions.items():
            if key not in current:
                session.add(
                    AlertIncident(
                        key=key,
                        kind=condition.kind,
                        summary=condition.summary[:500],
                        fix=condition.fix[:500],
                        opened_at=now,
                    )
                )
                run.opened.append(key)
        for key, row in current.items():
            if key not in conditions:
                row.state, row.cleared_at = AlertState.CLEARED, now
                session.add(row)
                run.cleared.append(key)
        session.commit()
    if not run.channels:
        return run
    # Tell what has not been told yet (a channel that failed is tried again next time).
    with unit_of_work(engine) as session:
        untold = session.exec(
            select(AlertIncident)
            .where(
                or_(
                    col(AlertIncident.open_sent_at).is_(None),
                    and_(
                        col(AlertIncident.state) == AlertState.CLEARED,
                        col(AlertIncident.clear_sent_at).is_(None),
                    ),
                )
            )
            .order_by(col(AlertIncident.id))
        ).all()
        for row in untold:
            if row.open_sent_at is None:
                if row.state == AlertState.CLEARED:
                    # Cleared before anyone was told: nothing to say either way.
                    row.open_sent_at = row.clear_sent_at = now
                elif _send(settings, run, *_open_message(row)):
                    row.open_sent_at = now
            elif row.state == AlertState.CLEARED and _send(settings, run, *_clear_message(row)):
                row.clear_sent_at = now
            session.add(row)
            session.commit()
    _digest(engine, settings, now, run)
    return run


def _digest(engine: Engine, settings: Settings, now: datetime, run: AlertRun) -> None:
    hour = settings.alerts.digest_hour
    if hour is None or now.hour < hour:
        return
    today = now.date().toordinal()
    with unit_of_work(engine) as session:
        counter = session.get(Counter, DIGEST_COUNTER) or Counter(name=DIGEST_COUNTER, value=0)
        if counter.value >= today:
            return
        rows = list(_open_rows(session).values())
        lines = [f"- {row.summary}\n  Fix: {row.fix}" for row in rows] or ["Nothing is wrong."]
        subject = f"{PREFIX} daily digest {now:%Y-%m-%d}: {len(rows)} open incident(s)"
        if _send(settings, run, subject, "\n".join(lines)):
            counter.value, counter.updated_at = today, now
            session.add(counter)
            session.commit()
            run.digest = True


def send_test_alert(settings: Settings, now: datetime) -> dict[str, str]:
    """A test message to every configured channel; channel -> "sent" or why it failed."""
    return deliver(
        settings.alerts,
        f"{PREFIX} test alert",
        f"This is a test alert sent {now:%Y-%m-%d %H:%M} UTC. Alerts reach you here.",
    )


def list_incidents(session: Session, *, limit: int = 100) -> list[AlertIncident]:
    """Open incidents first, then the most recently cleared."""
    rows = session.exec(
        select(AlertIncident).order_by(col(AlertIncident.id).desc()).limit(1000)
    ).all()
    return sorted(rows, key=lambda r: (r.state != AlertState.OPEN, -(r.id or 0)))[:limit]


def incident_data(row: AlertIncident) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "key": row.key,
        "kind": row.kind,
        "state": row.state,
        "summary": row.summary,
        "fix": row.fix,
        "opened_at": iso(row.opened_at),
        "cleared_at": iso(row.cleared_at),
        "open_sent_at": iso(row.open_sent_at),
        "clear_sent_at": iso(row.clear_sent_at),
    }
