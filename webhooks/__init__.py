"""The web app, by audience: webhook receivers (``receivers``), the token API (``api``), the
operator console (``console``) and the public pages (``public``), each a package of blueprints.

Beside them, what they share: the app factory (``app``), the runtime kept on the app
(``runtime``), the inbox processing after the answer (``processing``), gunicorn
(``server``), request bodies and input guards (``limits``, ``input_guard``), the page limits
(``page_limits``), the stylesheet (``assets``) and the outcome report's body (``report_view``).
"""

from webhooks.app import create_app

__all__ = ["create_app"]
