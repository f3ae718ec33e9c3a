"""What learners hold, and the order state it is reconciled from.

The ledger of credits (granted once per source, reversed by a new row) and access, reconciled
toward what an order confers now (``ledger``); seats in cohorts and their waitlists (``seats``);
learners found, created and locked (``learners``); the events an order's application reports
(``outcomes``); what a page of orders needs from storage, read and locked at once
(``page_state``); what an order's state keeps beside the ledger, its lines and refunds
(``order_summary``); credits past their expiry (``expiry``); the perks a learner's subscriptions
give (``perks``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.ledger.expiry import expire_credits, expire_learner, expired_remainders
from bridge.services.ledger.learners import (
    UnknownLearner,
    apply_customer,
    find_learner,
    lock_learner,
    resolve_learner,
)
from bridge.services.ledger.ledger import (
    GRANT_REASONS,
    CreditTarget,
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
    reconcile_access,
    reconcile_complimentary_calls,
    reconcile_credits,
)
from bridge.services.ledger.order_summary import simulated_orders, stored_refunds_of
from bridge.services.ledger.outcomes import Event, OrderOutcome
from bridge.services.ledger.page_state import (
    PAGE_KEY,
    NotInPage,
    PageState,
    add_new,
    flush_page,
    load_page,
    lock_cohorts,
    page_state_of,
    resolve_in_page,
    store_new_aliases,
)
from bridge.services.ledger.perks import active_perks, active_perks_of, row_perks
from bridge.services.ledger.seats import SEAT_HELD, waitlist_position

__all__ = [
    "CreditTarget",
    "Event",
    "GRANT_REASONS",
    "NotInPage",
    "OrderOutcome",
    "PAGE_KEY",
    "PageState",
    "SEAT_HELD",
    "UnknownLearner",
    "active_perks",
    "active_perks_of",
    "add_new",
    "adjust_credits",
    "apply_customer",
    "apply_order",
    "balances",
    "balances_of",
    "complimentary_key",
    "correct_expiries",
    "expire_credits",
    "expire_learner",
    "expired_remainders",
    "find_learner",
    "flush_page",
    "is_stale",
    "load_page",
    "lock_cohorts",
    "lock_learner",
    "needs_learner",
    "order_subscription_terms",
    "owes",
    "page_state_of",
    "reconcile_access",
    "reconcile_complimentary_calls",
    "reconcile_credits",
    "resolve_in_page",
    "resolve_learner",
    "row_perks",
    "simulated_orders",
    "store_new_aliases",
    "stored_refunds_of",
    "waitlist_position",
]
