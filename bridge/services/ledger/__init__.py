"""What learners hold, and the order state it is reconciled from.

The ledger of credits (granted once per source, reversed by a new row) and access, reconciled
toward what an order confers now by the pure rules of bridge.rules.reconcile (``ledger``); seats
in cohorts and their waitlists, allocated by bridge.rules.seating.allocate_seats (``seats``);
learners found, created and locked (``learners``); the events an order's application reports
(``outcomes``); the rows of a page of orders as plain rows, read and locked at once, written in
bulk (``page_state``: every order is applied as part of a ``Page``); what an order's state keeps
beside the ledger, its lines and refunds (``order_summary``); credits past their expiry
(``expiry``); the perks a learner's subscriptions give (``perks``); erased learners'
identities, kept as tombstones (``erased``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.ledger.erased import erased_learners, identity_hash
from bridge.services.ledger.expiry import expire_credits, expire_learner, expired_remainders
from bridge.services.ledger.learners import (
    UnknownLearner,
    apply_customer,
    find_learner,
    lock_learner,
    resolve_learner,
)
from bridge.services.ledger.ledger import (
    adjust_credits,
    apply_order,
    balances,
    balances_of,
    complimentary_key,
    correct_expiries,
    is_stale,
    needs_learner,
    order_subscription_terms,
    owes,
    reconcile_complimentary_calls,
)
from bridge.services.ledger.order_summary import (
    SIMULATED_KEY,
    simulated_orders,
    stored_refunds_of,
)
from bridge.services.ledger.outcomes import GRANT_REASONS, CreditTarget, Event, OrderOutcome
from bridge.services.ledger.page_state import (
    ClaimRow,
    LearnerRow,
    Page,
    StateRow,
    load_page,
    read_rows,
    write_rows,
)
from bridge.services.ledger.perks import active_perks, active_perks_of, row_perks
from bridge.services.ledger.seats import SEAT_HELD, UnknownCohort, waitlist_position

__all__ = [
    "SIMULATED_KEY",
    "StateRow",
    "ClaimRow",
    "CreditTarget",
    "Event",
    "GRANT_REASONS",
    "LearnerRow",
    "OrderOutcome",
    "Page",
    "SEAT_HELD",
    "UnknownCohort",
    "UnknownLearner",
    "active_perks",
    "active_perks_of",
    "adjust_credits",
    "apply_customer",
    "apply_order",
    "balances",
    "balances_of",
    "complimentary_key",
    "correct_expiries",
    "erased_learners",
    "expire_credits",
    "expire_learner",
    "expired_remainders",
    "find_learner",
    "identity_hash",
    "is_stale",
    "load_page",
    "lock_learner",
    "needs_learner",
    "order_subscription_terms",
    "owes",
    "read_rows",
    "reconcile_complimentary_calls",
    "resolve_learner",
    "row_perks",
    "simulated_orders",
    "stored_refunds_of",
    "waitlist_position",
    "write_rows",
]
