"""WooCommerce Subscriptions: their payloads stored, their terms, and their sync.

Credits come from the parent and renewal orders (bridge.services.orders); the perks a
subscription gives are read in bridge.services.ledger.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.subscriptions.subscriptions import (
    learner_subscriptions,
    process_subscription,
    reconcile_subscriptions,
    subscription_policy,
)

__all__ = [
    "learner_subscriptions",
    "process_subscription",
    "reconcile_subscriptions",
    "subscription_policy",
]
