"""Pages anyone may open, no operator login: public outcomes (``outcomes``), credentials and
the issuer (``credentials``), team-pack claim pages (``claims``), the outcome report opened
with a read token (``report``) and each learner's own page and calendar feed (``learner``), and the
Open Badges 3.0 API for wallets with its OAuth 2.0 and the learner's connected apps
(``ob_api``, ``ob_oauth``). Its templates are under ``templates/``.
"""

from webhooks.public.claims import claims_page, init_claims
from webhooks.public.credentials import credential_pages
from webhooks.public.learner import init_learner_pages, learner_pages
from webhooks.public.ob_api import init_ob_api, ob_api
from webhooks.public.outcomes import outcomes
from webhooks.public.report import report_page

__all__ = [
    "claims_page",
    "credential_pages",
    "init_claims",
    "init_learner_pages",
    "init_ob_api",
    "learner_pages",
    "ob_api",
    "outcomes",
    "report_page",
]
