"""Cohorts for operators: capacity and why, the roster, the waitlist in order, fill over time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.cohorts import (
    SeatSpan,
    SeatStatus,
    capacity_reason,
    fill_over_time,
    seats_left,
    seats_left_reason,
)
from bridge.rules.words import did_you_mean
from bridge.services.reporting.public_outcomes import cohort_limits
from bridge.store.models import Cohort, Learner, Seat, seat_purchase_order, utcnow


class UnknownCohortCode(PermanentError):
    """No cohort has this code."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _summary(row: Cohort, counts: dict[str, int], now: datetime) -> dict[str, Any]:
    limits = cohort_limits(row)
    active = counts.get(SeatStatus.ACTIVE, 0)
    return {
        "code": row.code,
        "title": row.title,
        "starts_at": _iso(row.starts_at),
        "ends_at": _iso(row.ends_at),
        "timezone": row.timezone,
        "capacity": row.capacity,
        "capacity_why": capacity_reason(limits),
        "mentors": row.mentors,
        "learners_per_mentor": row.learners_per_mentor,
        "assessment_slots": row.assessment_slots,
        "waitlist_open": row.waitlist,
        "active": active,
        "waitlisted": counts.get(SeatStatus.WAITLISTED, 0),
        "released": counts.get(SeatStatus.RELEASED, 0),
        "seats_left": seats_left(limits, active, now),
        "over_capacity": max(active - row.capacity, 0),
        "seats_left_why": seats_left_reason(limits, active, now),
        "fill": round(active / row.capacity, 4) if row.capacity else None,
        "public_outcomes": row.public_outcomes,
    }


def list_cohorts(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every cohort with its capacity, why, and its seats by status, by start."""
    now = now or utcnow()
    counts: dict[str, dict[str, int]] = {}
    for code, status, count in session.exec(
        select(Seat.cohort_code, Seat.status, func.count()).group_by(Seat.cohort_code, Seat.status)
    ).all():
        counts.setdefault(code, {})[status] = int(count)
    rows = session.exec(select(Cohort)).all()
    rows = sorted(rows, key=lambda r: (r.starts_at is None, r.starts_at or now, r.code))
    return [_summary(row, counts.get(row.code, {}), now) for row in rows]


def cohort_roster(session: Session, code: str, now: datetime | None = None) -> dict[str, Any]:
    """One cohort: its summary, active seats, the waitlist in order and fill over time."""
    now = now or utcnow()
    row = session.get(Cohort, code.strip()) if code.strip() else None
    if row is None:
        hint = did_you_mean(code, session.exec(select(Cohort.code)).all())
        raise UnknownCohortCode(
            f"no cohort {code.strip()!r}; {hint or '`bridge cohort` lists the cohorts'}"
        )
    seats = session.exec(
        select(Seat, Learner)
        .join(Learner, col(Learner.id) == col(Seat.learner_id))
        .where(Seat.cohort_code == row.code)
        .order_by(*seat_purchase_order())
    ).all()
    counts: dict[str, int] = {}
    for seat, _ in seats:
        counts[seat.status] = counts.get(seat.status, 0) + 1

    def person(seat: Seat, learner: Learner) -> dict[str, Any]:
        return {
            "seat_id": seat.id,
            "learner_id": learner.id,
            "email": learner.email,
            "name": learner.name,
            "order_id": seat.order_id,
            "offer_sku": seat.offer_sku,
            "since": _iso(seat.changed_at if seat.status == SeatStatus.ACTIVE else seat.created_at),
        }

    roster = [person(s, lr) for s, lr in seats if s.status == SeatStatus.ACTIVE]
    waiting = [(s, lr) for s, lr in seats if s.status == SeatStatus.WAITLISTED]
    waitlist = [
        {"position": index, **person(s, lr)} for index, (s, lr) in enumerate(waiting, start=1)
    ]
    spans = []
    for seat, _ in seats:
        if seat.status == SeatStatus.ACTIVE:
            spans.append(SeatSpan(seat.changed_at))
        elif seat.status == SeatStatus.RELEASED:
            spans.append(SeatSpan(seat.created_at, seat.changed_at))
    until = row.ends_at.date() if row.ends_at else None
    fill = [
        {"day": day.isoformat(), "active": held}
        for day, held in fill_over_time(spans, now.date(), until)
    ]
    return {
        "cohort": _summary(row, counts, now),
        "roster": roster,
        "waitlist": waitlist,
        "fill_over_time": fill,
    }
