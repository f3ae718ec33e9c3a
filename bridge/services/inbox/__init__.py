"""The webhook inbox: each delivery stored before it is trusted, then processed and retried.

``inbox`` records a delivery, takes its attempts and records its outcome, keeps it as long as
the retention says and counts named counters; ``batches`` drains due deliveries in batches
claimed on the durable queue (bridge.services.queue), and processes one delivery as a batch of
one; ``view`` is the inbox as operators read it (the queue's listing); ``rejections`` counts
requests refused before anything is stored.
The handlers come from the caller (bridge.services.orders builds them).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.inbox.batches import (
    InboxDrain,
    claim_received,
    process_batch,
    process_delivery,
)
from bridge.services.inbox.inbox import (
    STATUSES,
    Delivery,
    Handler,
    Warned,
    apply_retention,
    count,
    counter_value,
    due_deliveries,
    one_at_a_time,
    record_delivery,
    retry_now,
    status_counts,
)
from bridge.services.inbox.rejections import RejectionTally
from bridge.services.inbox.view import (
    DeliveryNotFound,
    inbox_listing,
    list_deliveries,
    revive_dead,
    show_delivery,
)

__all__ = [
    "Delivery",
    "DeliveryNotFound",
    "Handler",
    "InboxDrain",
    "RejectionTally",
    "STATUSES",
    "Warned",
    "apply_retention",
    "claim_received",
    "count",
    "counter_value",
    "due_deliveries",
    "inbox_listing",
    "list_deliveries",
    "one_at_a_time",
    "process_batch",
    "process_delivery",
    "record_delivery",
    "retry_now",
    "revive_dead",
    "show_delivery",
    "status_counts",
]
