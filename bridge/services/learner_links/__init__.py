"""Learners' personal page links (``/me/<token>``): the token each learner's page is opened
with, made, shown, rotated and revoked (``links``); whom a token names; when it was last
opened; whether a customer note has carried it yet.

Only the token's SHA-256 and its nonce are stored; the token is derived from
BRIDGE_CLAIM_SECRET (bridge.rules.learner_page). The page itself, its calendar feed and the
console's "re-send" are bridge.services.learner_page; this package is below write-back, which
puts the link into the first customer note it writes for a learner.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.learner_links.links import (
    PageLink,
    learner_for_page_token,
    learners_sent_a_link,
    link_for_first_note,
    mark_link_sent,
    mark_page_opened,
    page_link,
    revoke_page_link,
    rotate_page_link,
)

__all__ = [
    "PageLink",
    "learner_for_page_token",
    "learners_sent_a_link",
    "link_for_first_note",
    "mark_link_sent",
    "mark_page_opened",
    "page_link",
    "revoke_page_link",
    "rotate_page_link",
]
