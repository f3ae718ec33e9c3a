"""Pages never starve the webhook receivers: a time budget per query, a cap on pages at once.

A page request is a GET or HEAD that is not a webhook receiver, a health check or a static
file: the console, the report, the public pages, the API's reads. Each of its database queries
may run BRIDGE_PAGE_QUERY_TIMEOUT_SECONDS (PostgreSQL ``statement_timeout``, an SQLite progress
handler: bridge.store.db.query_budget); one that runs longer is stopped and the page answers 503
with Retry-After. At most BRIDGE_PAGE_CONCURRENCY pages are prepared at once in a process; one
more answers 503 with Retry-After at once instead of taking another request thread, so signed
deliveries always find a free one. Receivers, POSTs and the inbox processing are not limited
here: the receivers have their own limits (body size, signature first), the processing its own
thread.
"""

from __future__ import annotations

import logging
import math
import threading

from flask import Flask, Response, g, jsonify, request

from bridge.settings import Settings
from bridge.store.db import QueryTimeout, set_query_budget

log = logging.getLogger(__name__)

# Blueprints whose requests are webhook deliveries (webhooks.receivers).
RECEIVERS = frozenset({"receiver", "booking_receivers"})
UNLIMITED_ENDPOINTS = frozenset({"healthz", "readyz"})
PAGE_METHODS = frozenset({"GET", "HEAD"})


class PagesBusy(RuntimeError):
    """Every page slot of this process is taken; the client should try again shortly."""

    def __init__(self, slots: int, retry_after: int) -> None:
        self.slots, self.retry_after = slots, retry_after
        super().__init__(
            f"{slots} page{'s are' if slots != 1 else ' is'} being prepared "
            f"already; try again in {retry_after} s"
        )


def retry_after(settings: Settings) -> int:
    """Seconds a client waits before asking again: one query budget."""
    return max(1, math.ceil(settings.web.page_query_timeout_seconds))


def is_page_request() -> bool:
    endpoint = request.endpoint
    if request.method not in PAGE_METHODS or endpoint is None:
        return False
    if request.blueprint in RECEIVERS or endpoint in UNLIMITED_ENDPOINTS:
        return False
    return endpoint != "static" and not endpoint.endswith(".static")


def query_timeout_message(exc: QueryTimeout) -> str:
    return (
        f"the page's database query took longer than {exc.seconds:g} s and was stopped "
        "(BRIDGE_PAGE_QUERY_TIMEOUT_SECONDS); try again later, or ask for less"
    )


class PageLimits:
    """The page slots of one process and the hooks that take and give them back."""

    def __init__(self, settings: Settings) -> None:
        self.slots = settings.web.page_concurrency
        self.budget = settings.web.page_query_timeout_seconds
        self.retry_after = retry_after(settings)
        self._free = threading.BoundedSemaphore(self.slots)

    def before(self) -> None:
        if not is_page_request():
            return
        if not self._free.acquire(blocking=False):
            raise PagesBusy(self.slots, self.retry_after)
        g.bridge_page_slot = True
        set_query_budget(self.budget)

    def teardown(self, _error: BaseException | None) -> None:
        if g.pop("bridge_page_slot", False):
            set_query_budget(None)
            self._free.release()


def init_page_limits(app: Flask, settings: Settings) -> None:
    """Register the hooks and the 503 answers (JSON; the console answers its own pages with
    ``unavailable``)."""
    limits = PageLimits(settings)
    app.before_request(limits.before)
    app.teardown_request(limits.teardown)
    app.register_error_handler(PagesBusy, _json_unavailable)
    app.register_error_handler(QueryTimeout, _json_unavailable)


def unavailable(exc: PagesBusy | QueryTimeout) -> tuple[str, str, int]:
    """Log a page refused or stopped; (message, code, seconds until a retry) to answer with."""
    # The endpoint, not the path: a path may carry a claim code or a credential id.
    if isinstance(exc, PagesBusy):
        log.info("page refused, %d pages in progress: %s", exc.slots, request.endpoint)
        return str(exc), "pages_busy", exc.retry_after
    log.warning("page query stopped after %g s: %s", exc.seconds, request.endpoint)
    return query_timeout_message(exc), "query_timeout", max(1, math.ceil(exc.seconds))


def _json_unavailable(exc: PagesBusy | QueryTimeout) -> Response:
    message, code, seconds = unavailable(exc)
    response = jsonify({"error": message, "code": code})
    response.status_code = 503
    response.headers["Retry-After"] = str(seconds)
    return response
