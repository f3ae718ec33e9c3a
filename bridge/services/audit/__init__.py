"""The audit trail: every operator action as a row with who, when, through what, on what, why.

Owns the ``audit_event`` table's rows. ``record_action`` adds one inside the caller's unit of
work (so the row commits or rolls back with the action it describes, and a ``--dry-run``
leaves none); ``record_action_after`` adds one in a unit of work of its own, once a service
committed the action; ``operator_of`` says who runs a CLI command (``--by``, else
``BRIDGE_OPERATOR``, else the OS user); ``list_events`` and ``event_data`` read the trail for
the console's audit page and ``bridge audit``. Subjects and details hold references
(``learner:12``, ids, amounts), never a learner's personal data.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.audit.trail import (
    AuditFilter,
    Via,
    event_data,
    known_actions,
    list_events,
    operator_of,
    record_action,
    record_action_after,
)

__all__ = [
    "AuditFilter",
    "Via",
    "event_data",
    "known_actions",
    "list_events",
    "operator_of",
    "record_action",
    "record_action_after",
]
