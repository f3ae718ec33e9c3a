"""Learners as people look them up, and what is done to them by hand.

Found by e-mail, name or customer id (``search``); listed with filters, sorting and pages,
and every learner's ledger rows likewise (``listing``); what one holds as plain data
(``view``) and on the console (``page``); credits granted or revoked by hand, by the CLI and
the console alike with one set of guard rails, audited (``manual_credits``); what changed for
learners between two moments (``changes``).

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.learners.changes import (
    changes_since,
    learner_record,
    learners_overview,
    queued_writebacks,
    take_snapshot,
)
from bridge.services.learners.listing import COLUMNS as LEARNER_COLUMNS
from bridge.services.learners.listing import (
    LEDGER_COLUMNS,
    LEDGER_SORTS,
    LearnerQuery,
    LedgerQuery,
    list_learners,
    list_ledger,
)
from bridge.services.learners.listing import SORTS as LEARNER_SORTS
from bridge.services.learners.manual_credits import (
    FORCE,
    NEW_LEARNER,
    NEW_TYPE,
    Adjustment,
    AdjustmentRefused,
    apply_adjustment,
    check_adjustment,
    conferred_credit_types,
    preview,
)
from bridge.services.learners.page import learner_page
from bridge.services.learners.search import (
    LIMIT,
    MAX_QUERY,
    near_email,
    require_learner,
    search_learners,
    unknown_learner,
)
from bridge.services.learners.view import describe_learner

__all__ = [
    "FORCE",
    "LEARNER_COLUMNS",
    "LEARNER_SORTS",
    "LEDGER_COLUMNS",
    "LEDGER_SORTS",
    "LIMIT",
    "MAX_QUERY",
    "NEW_LEARNER",
    "NEW_TYPE",
    "Adjustment",
    "AdjustmentRefused",
    "LearnerQuery",
    "LedgerQuery",
    "apply_adjustment",
    "changes_since",
    "check_adjustment",
    "conferred_credit_types",
    "describe_learner",
    "learner_page",
    "learner_record",
    "learners_overview",
    "list_learners",
    "list_ledger",
    "near_email",
    "preview",
    "queued_writebacks",
    "require_learner",
    "search_learners",
    "take_snapshot",
    "unknown_learner",
]
