"""Applying what the shop sends: WooCommerce JSON in, reconciled state out.

A page of orders is one unit of work (``page_apply``): what the rules need from the shop
(refunds, the current state of a deleted order) is fetched first, then the page is applied and
committed in one transaction; a single webhook is a page of one. ``pages`` finds the orders of
a page that changed; ``watch`` keeps when the bridge started watching the shop (customers hear
only of news); ``delivery_handlers`` builds the per-resource handlers (orders, customers,
products, subscriptions, bookings) the inbox and the sync jobs hand payloads to.

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
from bridge.services.orders.page_apply import process_order, process_orders
from bridge.services.orders.pages import changed_orders
from bridge.services.orders.watch import record_watch_start

__all__ = [
    "build_handlers",
    "build_outbox_drainer",
    "catalogue_loader",
    "changed_orders",
    "process_customer",
    "process_order",
    "process_orders",
    "record_watch_start",
    "store_file_catalogue",
]
