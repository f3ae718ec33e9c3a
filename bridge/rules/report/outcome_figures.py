"""Public outcome figures (pure): per cohort and per micro-SKU, behind a privacy floor.

A figure is shown only when at least ``PRIVACY_FLOOR`` learners stand behind it; otherwise it
reads "not enough data" and the count behind it is withheld too. Rows come in with opaque
learner ids and only counts and rates go out, so nothing here can name a learner. Seats left
is always shown: it is the stock the shop already publishes on the cohort's products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.rules.cohorts import (
    Limits,
    SeatStatus,
    capacity_reason,
    seats_left,
    seats_left_reason,
)

PRIVACY_FLOOR = 5
NOT_ENOUGH = "not enough data"
# Kinds of offer whose buyers have outcomes worth publishing.
OUTCOME_KINDS = ("project", "assessment", "cohort_seat", "bundle")


@dataclass(frozen=True)
class CohortFacts:
    code: str
    title: str
    starts_at: datetime | None
    ends_at: datetime | None
    limits: Limits
    public: bool


@dataclass(frozen=True)
class SeatFact:
    learner: int
    cohort: str
    status: str
    sku: str | None


@dataclass(frozen=True)
class EventFact:
    learner: int
    kind: str
    sku: str


@dataclass(frozen=True)
class OfferFact:
    sku: str
    kind: str
    title: str
    cohort: str | None
    active: bool


@dataclass(frozen=True)
class Figure:
    """A rate, or nothing when fewer than the floor of learners stand behind it."""

    value: float | None
    base: int  # learners behind the figure
    unit: str  # "percent" or "per_100"

    @property
    def shown(self) -> bool:
        return self.value is not None and self.base >= PRIVACY_FLOOR

    @property
    def text(self) -> str:
        if not self.shown or self.value is None:
            return NOT_ENOUGH
        if self.unit == "percent":
            return f"{self.value * 100:.0f}%"
        return f"{self.value:g}"

    def as_dict(self) -> dict[str, Any]:
        if not self.shown:
            return {"value": None, "text": NOT_ENOUGH}
        return {"value": self.value, "text": self.text, "learners": self.base}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _per_100(events: Sequence[EventFact], graduates: set[int]) -> Figure:
    interviews = sum(1 for e in events if e.kind == "interview" and e.learner in graduates)
    value = round(100 * interviews / len(graduates), 1) if graduates else None
    return Figure(value, len(graduates), "per_100")


def _submission(events: Sequence[EventFact], learners: set[int] | None, sku: str | None) -> Figure:
    """Of the learners who started a project, the share who submitted it."""
    started: set[int] = set()
    submitted: set[int] = set()
    for event in events:
        if (learners is not None and event.learner not in learners) or (
            sku is not None and event.sku != sku
        ):
            continue
        if event.kind in ("project_started", "project_submitted"):
            started.add(event.learner)
        if event.kind == "project_submitted":
            submitted.add(event.learner)
    return Figure(_rate(len(submitted), len(started)), len(started), "percent")


@dataclass(frozen=True)
class CohortOutcome:
    cohort: CohortFacts
    seats_left: int
    seats_left_why: str
    fill: Figure
    submission: Figure
    interviews: Figure

    def as_dict(self) -> dict[str, Any]:
        c = self.cohort
        return {
            "code": c.code,
            "title": c.title,
            "starts_at": c.starts_at.isoformat() if c.starts_at else None,
            "ends_at": c.ends_at.isoformat() if c.ends_at else None,
            "capacity": c.limits.capacity,
            "capacity_why": capacity_reason(c.limits),
            "seats_left": self.seats_left,
            "seats_left_why": self.seats_left_why,
            "waitlist": c.limits.waitlist,
            "fill": self.fill.as_dict(),
            "project_submission_rate": self.submission.as_dict(),
            "interviews_per_100_graduates": self.interviews.as_dict(),
        }


@dataclass(frozen=True)
class SkuOutcome:
    offer: OfferFact
    submission: Figure
    interviews: Figure
    cohort: CohortOutcome | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sku": self.offer.sku,
            "kind": self.offer.kind,
            "title": self.offer.title,
            "project_submission_rate": self.submission.as_dict(),
            "interviews_per_100_graduates": self.interviews.as_dict(),
            "cohort": None,
        }
        if self.cohort is not None:
            data.update(
                cohort=self.cohort.cohort.code,
                seats_left=self.cohort.seats_left,
                seats_left_why=self.cohort.seats_left_why,
                fill=self.cohort.fill.as_dict(),
            )
        return data


@dataclass(frozen=True)
class PublicOutcomes:
    generated_at: datetime
    cohorts: tuple[CohortOutcome, ...]
    skus: tuple[SkuOutcome, ...]

    def cohort(self, code: str) -> CohortOutcome | None:
        return next((c for c in self.cohorts if c.cohort.code == code), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "privacy_floor": PRIVACY_FLOOR,
            "cohorts": [c.as_dict() for c in self.cohorts],
            "skus": [s.as_dict() for s in self.skus],
        }


def _ended(cohort: CohortFacts, now: datetime) -> bool:
    return cohort.ends_at is not None and cohort.ends_at <= now


def cohort_outcome(
    cohort: CohortFacts, seats: Sequence[SeatFact], events: Sequence[EventFact], now: datetime
) -> CohortOutcome:
    """A cohort's signals: its active learners' projects, their interviews once it ended."""
    active = [s for s in seats if s.cohort == cohort.code and s.status == SeatStatus.ACTIVE]
    learners = {s.learner for s in active}
    graduates = learners if _ended(cohort, now) else set()
    return CohortOutcome(
        cohort=cohort,
        seats_left=seats_left(cohort.limits, len(active), now),
        seats_left_why=seats_left_reason(cohort.limits, len(active), now),
        fill=Figure(_rate(len(active), cohort.limits.capacity), len(learners), "percent"),
        submission=_submission(events, learners, None),
        interviews=_per_100(events, graduates),
    )


def public_outcomes(
    cohorts: Sequence[CohortFacts],
    seats: Sequence[SeatFact],
    events: Sequence[EventFact],
    offers: Sequence[OfferFact],
    now: datetime,
) -> PublicOutcomes:
    """Figures for the published cohorts, and for the micro-SKUs on sale that have outcomes.

    A micro-SKU no longer on sale stays while outcome events speak of it; one that sells
    seats in a cohort that is not published is left out with it.
    """
    ordered = sorted(
        (c for c in cohorts if c.public),
        key=lambda c: (c.starts_at is None, c.starts_at or now, c.code),
    )
    by_code = {c.code: cohort_outcome(c, seats, events, now) for c in ordered}
    hidden = {c.code for c in cohorts if not c.public}
    ended = {c.code for c in cohorts if _ended(c, now)}
    with_events = {e.sku for e in events}
    skus: list[SkuOutcome] = []
    for offer in sorted(offers, key=lambda o: o.sku):
        if offer.kind not in OUTCOME_KINDS or offer.cohort in hidden:
            continue
        if not offer.active and offer.sku not in with_events:
            continue
        graduates = {
            e.learner for e in events if e.kind == "project_submitted" and e.sku == offer.sku
        }
        graduates |= {
            s.learner
            for s in seats
            if s.sku == offer.sku and s.status == SeatStatus.ACTIVE and s.cohort in ended
        }
        skus.append(
            SkuOutcome(
                offer=offer,
                submission=_submission(events, None, offer.sku),
                interviews=_per_100(events, graduates),
                cohort=by_code.get(offer.cohort or "") if offer.kind == "cohort_seat" else None,
            )
        )
    return PublicOutcomes(now, tuple(by_code[c.code] for c in ordered), tuple(skus))
