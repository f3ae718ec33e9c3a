"""Pages anyone may open, no operator login: public outcomes (``outcomes``), credentials and
the issuer (``credentials``), team-pack claim pages (``claims``) and the outcome report opened
with a read token (``report``). Its templates are under ``templates/``.
"""

from webhooks.public.claims import claims_page, init_claims
from webhooks.public.credentials import credential_pages
from webhooks.public.outcomes import outcomes
from webhooks.public.report import report_page

__all__ = ["claims_page", "credential_pages", "init_claims", "outcomes", "report_page"]
