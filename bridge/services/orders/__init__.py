"""Applying what the shop sends: WooCommerce JSON in, reconciled state out.

Every order is applied as part of a page (``page_apply``; a single webhook is a page of one):
what the rules need from the shop (refunds, the current state of a deleted order) is fetched
first, then the page is applied and committed in one transaction. ``pages`` tells the orders of
a page that changed; ``watch`` keeps when the bridge started watching the shop (customers hear
only of news); ``delivery_handlers`` builds the per-resource handlers (orders, customers,
products, subscriptions, bookings) the inbox and the sync jobs hand pages of payloads to.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.orders.delivery_handlers import (
    build_handlers,
    build_outbox_drainer,
    catalogue_loader,
    process_customer,
    store_file_catalogue,
)
from bridge.services.orders.page_apply import (
    OrderResult,
    Tell,
    ValidatedOrder,
    apply_orders,
    process_order,
    validate_order,
)
from bridge.services.orders.watch import record_watch_start

__all__ = [
    "OrderResult",
    "Tell",
    "ValidatedOrder",
    "apply_orders",
    "build_handlers",
    "build_outbox_drainer",
    "catalogue_loader",
    "process_customer",
    "process_order",
    "record_watch_start",
    "store_file_catalogue",
    "validate_order",
]
