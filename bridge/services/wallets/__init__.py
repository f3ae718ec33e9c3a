"""Wallets and other apps connected through the Open Badges 3.0 API: clients registered by
RFC 7591, authorization codes learners grant on the consent page, access and refresh tokens
(all stored as SHA-256 hashes), the apps a learner has connected and disconnects, clients an
operator blocks, and what the API serves: a learner's credentials as compact JWS and their
profile, credentials apps stored for the learner by upsertCredential, the learner's wallet data
for export and erasure (``grants``, ``stored``); what a registering app must send
(``registration``). The OAuth 2.0
protocol itself is Authlib's, wired in webhooks/public.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.wallets.grants import (
    ACCESS_LIFETIME,
    CODE_LIFETIME,
    REFRESH_LIFETIME,
    ConnectedApp,
    block_client,
    claim_code,
    connected_apps,
    disconnect,
    find_client,
    find_token,
    learner_profile,
    list_clients,
    register_client,
    revoke_tokens,
    save_code,
    save_token,
    secret_hash,
    token_is_live,
    touch,
)
from bridge.services.wallets.registration import registration_problems
from bridge.services.wallets.stored import (
    CREATED,
    REFUSED,
    REPLACED,
    CredentialPage,
    erase_wallet,
    learner_credentials,
    upsert_credential,
    wallet_export,
)

__all__ = [
    "ACCESS_LIFETIME",
    "CODE_LIFETIME",
    "CREATED",
    "REFRESH_LIFETIME",
    "REFUSED",
    "REPLACED",
    "ConnectedApp",
    "CredentialPage",
    "block_client",
    "claim_code",
    "connected_apps",
    "disconnect",
    "erase_wallet",
    "find_client",
    "find_token",
    "learner_credentials",
    "learner_profile",
    "list_clients",
    "register_client",
    "registration_problems",
    "revoke_tokens",
    "save_code",
    "save_token",
    "secret_hash",
    "token_is_live",
    "touch",
    "upsert_credential",
    "wallet_export",
]
