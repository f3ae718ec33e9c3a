"""GET /api/v1/docs/: the API's reference for people, Swagger UI over /api/v1/openapi.json.

Swagger UI's files come from the flask-swagger-ui package (installed from PyPI with the
bridge), so the page loads nothing from another host; the validator badge, which would call
one, is off.
"""

from __future__ import annotations

from flask import Blueprint, Response
from flask_swagger_ui import get_swaggerui_blueprint

DOCS_URL = "/api/v1/docs"
SPEC_URL = "/api/v1/openapi.json"
# Swagger UI needs its own inline start-up script and inline styles; everything else is ours.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def api_docs() -> Blueprint:
    """The docs blueprint, mounted at /api/v1/docs/."""
    blueprint: Blueprint = get_swaggerui_blueprint(
        DOCS_URL,
        SPEC_URL,
        config={"app_name": "creator-bridge API", "validatorUrl": None, "deepLinking": True},
        blueprint_name="api_docs",
    )

    @blueprint.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return blueprint
