"""A learner's personal data: exported whole (right of access) and erased (right to erasure).

Everything held about one learner as plain data, and as a WordPress exporter's pages
(``export``); erasure in place by a stable pseudonym, the financial record kept, credentials
revoked, links ended, every copy of the e-mails and name found and replaced (``erasure``, with
the table-wide pass in ``sweep``). The tombstones the order pipeline consults are
bridge.services.ledger's (``erased_learners``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.privacy.erasure import (
    ErasureRefused,
    ErasureReport,
    credential_signer,
    erase_in_transaction,
    erase_learner,
    find_for_privacy,
    pseudonym_email,
    pseudonym_of,
    settle_file,
)
from bridge.services.privacy.export import SECTIONS, export_learner, wordpress_pages

__all__ = [
    "SECTIONS",
    "ErasureRefused",
    "ErasureReport",
    "credential_signer",
    "erase_in_transaction",
    "erase_learner",
    "export_learner",
    "find_for_privacy",
    "pseudonym_email",
    "pseudonym_of",
    "settle_file",
    "wordpress_pages",
]
