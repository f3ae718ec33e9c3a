"""The creator's catalogue: read, checked, bound to the shop's products, stored.

The catalogue file applied on purpose and stored (``applied``: what every command, page and job
reads); the catalogue parsed and checked against the shop; WooCommerce products and variations
bound to micro-SKUs (one ``product_binding`` row each); offers and cohorts stored
(``catalogue``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.catalogue.applied import (
    AppliedCatalogue,
    ApplyResult,
    FileStatus,
    apply_catalogue,
    catalogue_in_force,
    current_catalogue,
    file_status,
)
from bridge.services.catalogue.catalogue import (
    CatalogueReport,
    apply_product_payload,
    inspect_catalogue,
    load_catalogue,
    read_catalogue_file,
    store_cohorts,
    store_offers,
    sync_catalogue,
    unmapped_skus,
)

__all__ = [
    "AppliedCatalogue",
    "ApplyResult",
    "CatalogueReport",
    "FileStatus",
    "apply_catalogue",
    "catalogue_in_force",
    "current_catalogue",
    "file_status",
    "apply_product_payload",
    "inspect_catalogue",
    "load_catalogue",
    "read_catalogue_file",
    "store_cohorts",
    "store_offers",
    "sync_catalogue",
    "unmapped_skus",
]
