"""What applying a catalogue changes (pure): offers and cohorts added, removed or edited.

`bridge catalog apply` shows these lines before (``--dry-run``) or as it stores the file; what the
changes do to seats and waitlists is worked out by the service from the stored seats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.rules.catalogue.catalog import Catalogue, CohortSpec, offer_to_dict

_COHORT_FIELDS = (
    "title",
    "starts_at",
    "ends_at",
    "timezone",
    "mentors",
    "learners_per_mentor",
    "assessment_slots",
    "capacity",
    "waitlist",
    "public_outcomes",
)
_SECTIONS = (
    ("title", "the shop's title"),
    ("url", "the shop's URL"),
    ("currency", "the currency"),
    ("competencies", "the competencies"),
    ("stacks", "the stacks (upsell rules)"),
    ("coupon_rules", "the coupon rules"),
    ("not_offers", "the SKUs that are not offers"),
    ("booking_types", "the booking types"),
)


@dataclass(frozen=True)
class Change:
    """One difference: what (``offer``, ``cohort``, ``section``), which, how, and the values."""

    subject: str
    name: str
    change: str  # added, removed, changed
    field: str = ""
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        if self.change != "changed":
            return f"{self.subject} {self.name} {self.change}"
        if self.field:
            values = f"{_show(self.before)} -> {_show(self.after)}"
            return f"{self.subject} {self.name}: {self.field} {values}"
        return f"{self.subject} {self.name} changed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "name": self.name,
            "change": self.change,
            "field": self.field or None,
            "before": _plain(self.before),
            "after": _plain(self.after),
        }


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _cohort_value(spec: CohortSpec, name: str) -> Any:
    return spec.capacity if name == "capacity" else getattr(spec, name)


def _compare(subject: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    out = [Change(subject, name, "added") for name in sorted(set(after) - set(before))]
    out += [Change(subject, name, "removed") for name in sorted(set(before) - set(after))]
    return out


def catalogue_changes(before: Catalogue | None, after: Catalogue) -> list[Change]:
    """Every difference between the catalogue in force and the one to apply, in a stable order."""
    before = before or Catalogue()
    out = _compare("cohort", before.cohorts, after.cohorts)
    for code in sorted(set(before.cohorts) & set(after.cohorts)):
        old, new = before.cohorts[code], after.cohorts[code]
        for name in _COHORT_FIELDS:
            was, now = _cohort_value(old, name), _cohort_value(new, name)
            if was != now:
                out.append(Change("cohort", code, "changed", name, was, now))
        if old.sessions != new.sessions:
            out.append(Change("cohort", code, "changed", "sessions"))
    out += _compare("offer", before.offers, after.offers)
    for sku in sorted(set(before.offers) & set(after.offers)):
        old_offer, new_offer = offer_to_dict(before.offers[sku]), offer_to_dict(after.offers[sku])
        for name in sorted(new_offer):
            if old_offer.get(name) != new_offer[name]:
                out.append(
                    Change("offer", sku, "changed", name, old_offer.get(name), new_offer[name])
                )
    for name, label in _SECTIONS:
        if _section(before, name) != _section(after, name):
            out.append(Change("section", label, "changed"))
    return out


def _section(catalogue: Catalogue, name: str) -> Any:
    value = getattr(catalogue, name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def capacity_changes(changes: list[Change]) -> dict[str, tuple[int, int]]:
    """Cohort code -> (capacity before, after), for the cohorts whose capacity changed."""
    return {
        change.name: (int(change.before), int(change.after))
        for change in changes
        if change.subject == "cohort" and change.field == "capacity"
    }
