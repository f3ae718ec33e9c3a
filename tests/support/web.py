"""The web app in tests: a Flask test client that closes its responses as a server does."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


class ClosingClient(FlaskClient):
    """Buffers and closes each response, as a WSGI server does, so call_on_close work runs."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)
