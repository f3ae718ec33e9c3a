"""/api/v1 for scripts and other services: bearer tokens with scopes, credits redeemed and
refunded, learners looked up (``credits``), outcome events (``events``), learners exported and
erased (``privacy``, its contract in ``privacy_contract``), the OpenAPI contract
(``openapi``) and its Swagger UI reference (``docs``). Answers are JSON, errors included.
"""

from webhooks.api.credits import api
from webhooks.api.docs import api_docs
from webhooks.api.events import events_api
from webhooks.api.privacy import privacy_api

__all__ = ["api", "api_docs", "events_api", "privacy_api"]
