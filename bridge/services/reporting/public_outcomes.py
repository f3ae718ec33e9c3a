"""The public outcome pages' figures, read from the store (figures and floor: rules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from bridge.rules.cohorts import Limits, SeatStatus
from bridge.rules.report.outcome_figures import (
    CohortFacts,
    EventFact,
    OfferFact,
    PublicOutcomes,
    SeatFact,
    public_outcomes,
)
from bridge.store.db import unit_of_work
from bridge.store.models import Cohort, Offer, OutcomeEvent, Seat, utcnow


def cohort_limits(row: Cohort) -> Limits:
    return Limits(
        capacity=row.capacity,
        mentors=row.mentors,
        learners_per_mentor=row.learners_per_mentor,
        assessment_slots=row.assessment_slots,
        waitlist=row.waitlist,
        ends_at=row.ends_at,
    )


def load_public_outcomes(engine: Engine, now: datetime | None = None) -> PublicOutcomes:
    """Every published cohort's and outcome SKU's figures, as of now."""
    now = now or utcnow()
    with unit_of_work(engine) as session:
        cohorts = [
            CohortFacts(
                row.code,
                row.title,
                row.starts_at,
                row.ends_at,
                cohort_limits(row),
                row.public_outcomes,
            )
            for row in session.exec(select(Cohort).order_by(col(Cohort.code))).all()
        ]
        seats = [
            SeatFact(*row)
            for row in session.exec(
                select(Seat.learner_id, Seat.cohort_code, Seat.status, Seat.offer_sku).where(
                    col(Seat.status).in_([SeatStatus.ACTIVE, SeatStatus.WAITLISTED])
                )
            ).all()
        ]
        events = [
            EventFact(*row)
            for row in session.exec(
                select(OutcomeEvent.learner_id, OutcomeEvent.kind, OutcomeEvent.offer_sku).where(
                    col(OutcomeEvent.occurred_at) <= now
                )
            ).all()
        ]
        offers = []
        for row in session.exec(select(Offer)).all():
            definition = row.definition or {}
            cohort = definition.get("cohort")
            offers.append(
                OfferFact(
                    row.sku,
                    row.kind,
                    row.title or str(definition.get("title") or ""),
                    cohort if isinstance(cohort, str) else None,
                    row.active,
                )
            )
    return public_outcomes(cohorts, seats, events, offers, now)
