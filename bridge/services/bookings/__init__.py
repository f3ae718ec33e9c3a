"""Bookings and spending credits.

Cal.com and Calendly bookings debited on booking, moved on reschedule, returned on cancel
(``bookings``); learners' booking links (``links``); credits redeemed and refunded through the
API and the CLI (``redemptions``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.bookings.bookings import (
    LISTED_STATUSES,
    NEEDS_ATTENTION,
    BookingNotFound,
    BookingPolicy,
    ReviewRefused,
    booking_counts,
    list_bookings,
    process_booking_delivery,
    review_booking,
)
from bridge.services.bookings.links import (
    ACTIONS,
    BookingLink,
    LearnerNotFound,
    booking_link,
    booking_links,
    change_booking_link,
    link_made_at,
    revoke_booking_link,
    rotate_booking_link,
)
from bridge.services.bookings.redemptions import (
    IDEMPOTENCY_KEY,
    MAX_CUSTOMER_ID,
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidRequest,
    RedemptionNotFound,
    learner_ref,
    redeem_in_transaction,
    redemption_view,
    refund_in_transaction,
    sent_key,
    token_key,
)

__all__ = [
    "ACTIONS",
    "BookingLink",
    "BookingNotFound",
    "BookingPolicy",
    "IDEMPOTENCY_KEY",
    "IdempotencyKeyReused",
    "InsufficientCredits",
    "InvalidRequest",
    "LISTED_STATUSES",
    "LearnerNotFound",
    "MAX_CUSTOMER_ID",
    "NEEDS_ATTENTION",
    "RedemptionNotFound",
    "ReviewRefused",
    "booking_counts",
    "booking_link",
    "booking_links",
    "change_booking_link",
    "learner_ref",
    "link_made_at",
    "list_bookings",
    "process_booking_delivery",
    "redeem_in_transaction",
    "redemption_view",
    "refund_in_transaction",
    "review_booking",
    "revoke_booking_link",
    "rotate_booking_link",
    "sent_key",
    "token_key",
]
