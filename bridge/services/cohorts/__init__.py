"""Cohorts as an operator steers them: seats allocated again, promoted, removed, moved.

A cohort's seats allocated again in purchase order after its capacity changed (``seating``:
raising it promotes the waitlist, lowering it evicts nobody), and the steering actions
(``steering``): promote a waitlisted learner out of turn, take one off the waitlist, move a
learner's seat or waitlist place to another cohort; each audited, told once in a customer note,
with both cohorts' stock written back. The allocation rule itself is bridge.rules.seating.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.cohorts.seating import (
    Rebalanced,
    UnknownCohortCode,
    held_seats,
    lock_cohorts,
    rebalance,
    seat_claim,
)
from bridge.services.cohorts.steering import (
    ACTIONS,
    AlreadySteered,
    Steered,
    SteeringError,
    steer,
)

__all__ = [
    "ACTIONS",
    "AlreadySteered",
    "Rebalanced",
    "Steered",
    "SteeringError",
    "UnknownCohortCode",
    "held_seats",
    "lock_cohorts",
    "rebalance",
    "seat_claim",
    "steer",
]
