"""Write-back to WooCommerce: what the bridge decided, shown in the shop.

Planned inside the transaction that decided it (``plan``, with ``notes``, ``coupons`` and the
outbox queue ``queue``), sent later by the outbox transport (``outbox``, its rows as people see
them in ``outbox_rows``, what a drain did in ``outbox_summary``), so nothing is lost while the
shop is down.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.writeback.notes import (
    enqueue_credential_note,
    enqueue_page_link_note,
    note_templates_for,
)
from bridge.services.writeback.outbox import drain_outbox
from bridge.services.writeback.outbox_rows import (
    OutboxItemNotFound,
    list_outbox,
    outbox_counts,
    outbox_listing,
    retry_outbox,
    show_outbox_item,
)
from bridge.services.writeback.outbox_summary import DrainSummary
from bridge.services.writeback.plan import (
    enqueue_cohort_stock,
    enqueue_customer_meta,
    enqueue_writebacks_for,
    refresh_catalogue_writebacks,
)
from bridge.services.writeback.queue import STATUSES

__all__ = [
    "DrainSummary",
    "OutboxItemNotFound",
    "STATUSES",
    "drain_outbox",
    "enqueue_cohort_stock",
    "enqueue_credential_note",
    "enqueue_customer_meta",
    "enqueue_page_link_note",
    "enqueue_writebacks_for",
    "list_outbox",
    "note_templates_for",
    "outbox_counts",
    "outbox_listing",
    "refresh_catalogue_writebacks",
    "retry_outbox",
    "show_outbox_item",
]
