"""Running the bridge.

``bridge doctor``'s checks (``doctor``); console operators (``operators``), their sessions
(``console_sessions``) and login throttle (``login_throttle``); API tokens (``api_tokens``); the
sync jobs' runs and workers' heartbeats (``job_runs``); signed test deliveries and the sample
shop (``simulation``); settings changed since the start, waiting for a restart
(``restart``); the files that hold secrets or personal data, kept private and out of
git (``files``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.operations.api_tokens import (
    SCOPES,
    TokenError,
    TokenIdentity,
    authenticate,
    create_token,
    list_tokens,
    parse_scopes,
    revoke_token,
    scope_names,
    touch,
)
from bridge.services.operations.console_sessions import (
    SessionPolicy,
    end_session,
    session_operator,
    start_session,
)
from bridge.services.operations.doctor import run_checks
from bridge.services.operations.files import create_private, file_checks, protect
from bridge.services.operations.job_runs import (
    beat_worker,
    end_worker,
    forget_dead_workers,
    last_job_runs,
    manual_run,
    record_job_run,
    worker_health,
    worker_name,
)
from bridge.services.operations.login_throttle import ADDRESS, Count, check_login
from bridge.services.operations.operators import (
    ROLES,
    OperatorError,
    OperatorView,
    add_operator,
    dummy_hash,
    list_operators,
    remove_operator,
)
from bridge.services.operations.restart import PendingSettings, pending_settings
from bridge.services.operations.simulation import (
    Line,
    SampleShop,
    example_catalogue_path,
    example_catalogue_text,
    order_payload,
    signed_delivery,
    subscription_payload,
)

__all__ = [
    "PendingSettings",
    "ADDRESS",
    "Count",
    "Line",
    "OperatorError",
    "OperatorView",
    "ROLES",
    "SCOPES",
    "SampleShop",
    "SessionPolicy",
    "TokenError",
    "TokenIdentity",
    "add_operator",
    "authenticate",
    "beat_worker",
    "check_login",
    "create_private",
    "create_token",
    "dummy_hash",
    "end_session",
    "end_worker",
    "example_catalogue_path",
    "example_catalogue_text",
    "file_checks",
    "forget_dead_workers",
    "last_job_runs",
    "list_operators",
    "list_tokens",
    "manual_run",
    "pending_settings",
    "order_payload",
    "parse_scopes",
    "protect",
    "record_job_run",
    "remove_operator",
    "revoke_token",
    "run_checks",
    "scope_names",
    "session_operator",
    "signed_delivery",
    "start_session",
    "subscription_payload",
    "touch",
    "worker_health",
    "worker_name",
]
