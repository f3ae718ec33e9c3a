"""Open Badges 3.0 credentials and the outcome events that earn them.

Credentials issued, revoked, listed and shown on the public pages (``credentials``); the signing
key (``keys``); outcome events from outside the shop, imported or posted (``outcome_events``);
pathways, their progress and their CLR 2.0 records (``records``), with the eddsa-rdfc-2022
embedded proofs those carry (``data_integrity``).

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
from bridge.services.credentials.data_integrity import DataIntegrityError, ed25519_key_path
from bridge.services.credentials.keys import SigningKeyError, create_key_file
from bridge.services.credentials.outcome_events import (
    CSV_COLUMNS,
    EVENT_KINDS,
    EVIDENCE,
    credential_summary,
    import_csv,
    record_in_transaction,
)
from bridge.services.credentials.records import (
    complete_pathways,
    issue_record,
    issuer_controller,
    learner_progress,
    pathway_document,
    pathway_links,
    pathway_overview,
    record_view,
    revoke_with_records,
)

__all__ = [
    "CSV_COLUMNS",
    "CredentialNotFound",
    "CredentialRefused",
    "CredentialSchemaError",
    "CredentialsNotConfigured",
    "DataIntegrityError",
    "EVENT_KINDS",
    "EVIDENCE",
    "Signer",
    "SigningKeyError",
    "achievement_document",
    "achievement_links",
    "complete_pathways",
    "create_key_file",
    "credential_summary",
    "ed25519_key_path",
    "find_credential",
    "import_csv",
    "issue_credential",
    "issue_record",
    "issuer_controller",
    "issuer_for",
    "issuing_factory",
    "jwks",
    "learner_progress",
    "list_credentials",
    "manual_source_key",
    "pathway_document",
    "pathway_links",
    "pathway_overview",
    "public_key",
    "record_in_transaction",
    "record_view",
    "require_public_url",
    "revoke_credential",
    "revoke_with_records",
    "rotate_key",
    "signing_key",
    "status_list",
    "verify_token",
]
