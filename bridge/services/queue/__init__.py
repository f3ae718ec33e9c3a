"""The durable queue the inbox and the outbox both are: rows claimed with a lease, attempts, the
retry policy (bridge.rules.retry), dead-letter, retry-now, counts and listing.

``queues`` says what each queue is (its table, its statuses, what a claim and a retry take);
``claims`` is the claim, one SQL for both databases: due rows picked ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, and inside the one write transaction (``BEGIN IMMEDIATE``) on SQLite, then stamped
with a lease in the same statement, so two workers never hold one row; ``views`` is the queue as
people read it (counts, a filtered page of rows, one row) and retry-now. What a row's processing
does stays with its feature (bridge.services.inbox, bridge.services.writeback).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.queue.claims import claim, due_count, due_ids, due_select, newest_id
from bridge.services.queue.queues import INBOX, OUTBOX, QUEUES, Queue
from bridge.services.queue.views import (
    Listing,
    ListQuery,
    counts,
    list_rows,
    make_due,
    retry,
    show_row,
)

__all__ = [
    "INBOX",
    "OUTBOX",
    "QUEUES",
    "ListQuery",
    "Listing",
    "Queue",
    "claim",
    "counts",
    "due_count",
    "due_ids",
    "due_select",
    "list_rows",
    "make_due",
    "newest_id",
    "retry",
    "show_row",
]
