"""Team packs: a paid order's places, claimed with codes and reconciled with the order.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.team_packs.claims import (
    ClaimRefused,
    claim_place,
    has_claimable_offers,
    list_claims,
    reconcile_claims,
    view_place,
)

__all__ = [
    "ClaimRefused",
    "claim_place",
    "has_claimable_offers",
    "list_claims",
    "reconcile_claims",
    "view_place",
]
