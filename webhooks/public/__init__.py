"""Pages anyone may open, no operator login: public outcomes (``outcomes``), credentials and
the issuer (``credentials``), team-pack claim pages (``claims``), the outcome report opened
with a read token (``report``) and each learner's own page and calendar feed (``learner``). Its
templates are under ``templates/``.
"""

from webhooks.public.claims import claims_page, init_claims
from webhooks.public.credentials import credential_pages
from webhooks.public.learner import init_learner_pages, learner_pages
from webhooks.public.outcomes import outcomes
from webhooks.public.report import report_page

__all__ = [
    "claims_page",
    "credential_pages",
    "init_claims",
    "init_learner_pages",
    "learner_pages",
    "outcomes",
    "report_page",
]
