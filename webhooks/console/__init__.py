"""/console for operators: sessions, CSRF and the console's error pages (``auth``), home,
login, learners and cohorts (``views``), inbox, outbox, catalogue and report (``ops``),
bookings and booking links (``bookings``), the audit trail and alerts (``business``), learners'
personal page links (``learner_pages``), steering a cohort (``cohorts``), a learner's export and
erasure (``privacy``), apps connected through the Open Badges API (``wallets``). Its
templates are under ``templates/console/``.
"""

from webhooks.console.auth import console_error_page, init_sessions
from webhooks.console.bookings import console_bookings
from webhooks.console.business import console_business
from webhooks.console.cohorts import console_cohorts
from webhooks.console.learner_pages import console_learner_pages
from webhooks.console.ops import console_ops
from webhooks.console.privacy import console_privacy
from webhooks.console.views import console
from webhooks.console.wallets import console_wallets

__all__ = [
    "console",
    "console_bookings",
    "console_business",
    "console_cohorts",
    "console_error_page",
    "console_learner_pages",
    "console_ops",
    "console_privacy",
    "console_wallets",
    "init_sessions",
]
