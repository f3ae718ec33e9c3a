"""/api/v1 for scripts and other services: bearer tokens with scopes, credits redeemed and
refunded, learners looked up (``credits``), outcome events (``events``), the OpenAPI contract
(``openapi``) and its Swagger UI reference (``docs``). Answers are JSON, errors included.
"""

from webhooks.api.credits import api
from webhooks.api.docs import api_docs
from webhooks.api.events import events_api

__all__ = ["api", "api_docs", "events_api"]
