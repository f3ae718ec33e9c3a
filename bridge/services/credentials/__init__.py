"""Open Badges 3.0 credentials and the outcome events that earn them.

Credentials issued, revoked, listed and shown on the public pages (``credentials``); the signing
key (``keys``); outcome events from outside the shop, imported or posted (``outcome_events``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.credentials.credentials import (
    CredentialNotFound,
    CredentialRefused,
    CredentialSchemaError,
    CredentialsNotConfigured,
    Signer,
    achievement_document,
    achievement_links,
    find_credential,
    issue_credential,
    issuer_for,
    issuing_factory,
    jwks,
    list_credentials,
    manual_source_key,
    public_key,
    require_public_url,
    revoke_credential,
    rotate_key,
    signing_key,
    status_list,
    verify_token,
)
from bridge.services.credentials.keys import SigningKeyError, create_key_file
from bridge.services.credentials.outcome_events import (
    CSV_COLUMNS,
    EVENT_KINDS,
    EVIDENCE,
    credential_summary,
    import_csv,
    record_in_transaction,
)

__all__ = [
    "CSV_COLUMNS",
    "CredentialNotFound",
    "CredentialRefused",
    "CredentialSchemaError",
    "CredentialsNotConfigured",
    "EVENT_KINDS",
    "EVIDENCE",
    "Signer",
    "SigningKeyError",
    "achievement_document",
    "achievement_links",
    "create_key_file",
    "credential_summary",
    "find_credential",
    "import_csv",
    "issue_credential",
    "issuer_for",
    "issuing_factory",
    "jwks",
    "list_credentials",
    "manual_source_key",
    "public_key",
    "record_in_transaction",
    "require_public_url",
    "revoke_credential",
    "rotate_key",
    "signing_key",
    "status_list",
    "verify_token",
]
