"""GET /me/<token> and /me/<token>/calendar.ics: a learner's own page and calendar feed.

No login: the token in the link is the credential (128 bits; only its hash is stored). A
wrong, revoked or malformed token gets the same plain 404 page, so nothing tells whether it
ever existed. Requests are limited per client address (in memory, per process). Every answer
keeps itself out of caches, referrers and search engines.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, render_template

from bridge.rules.learner_page import is_token
from bridge.services.learner_links import learner_for_page_token, mark_page_opened
from bridge.services.learner_page import learner_calendar, page_view
from bridge.store.db import unit_of_work
from webhooks.public.claims import AddressLimiter
from webhooks.runtime import client_address, runtime

log = logging.getLogger(__name__)
learner_pages = Blueprint("learner_pages", __name__, template_folder="templates")

HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}
LIMITER = "learner_page_limiter"


def init_learner_pages(app: Flask, requests_per_minute: int) -> None:
    """Register the pages and their per-address limiter on the app."""
    app.extensions[LIMITER] = AddressLimiter(requests_per_minute)
    app.register_blueprint(learner_pages)


def _answer(body: str | bytes, status: int = 200, mimetype: str = "text/html") -> Response:
    response = Response(body, status=status, mimetype=mimetype)
    response.headers.update(HEADERS)
    return response


def _not_found() -> Response:
    return _answer(render_template("learner/missing.html"), 404)


def _limited() -> Response | None:
    limiter: AddressLimiter = current_app.extensions[LIMITER]
    if limiter.allow(client_address(runtime().settings.web.proxy_hops)):
        return None
    response = _answer(render_template("learner/limited.html"), 429)
    response.headers["Retry-After"] = "60"
    return response


def _learner_id(token: str, *, opened: bool) -> int | None:
    """The learner the token names (an opening of the page remembered), or None."""
    if not is_token(token):
        return None
    with unit_of_work(runtime().engine) as session:
        learner = learner_for_page_token(session, token)
        if learner is None or learner.id is None:
            return None
        if opened:
            mark_page_opened(session, token, runtime().clock())
            session.commit()
        return learner.id


@learner_pages.get("/me/<token>")
def page(token: str) -> Response:
    """The learner's page: what they hold, where they stand, when they meet."""
    limited = _limited()
    if limited is not None:
        return limited
    learner_id = _learner_id(token, opened=True)
    if learner_id is None:
        return _not_found()
    rt = runtime()
    catalogue = rt.catalogue() if rt.catalogue else None
    if catalogue is None:
        log.error("learner page without a catalogue loader")
        return _not_found()
    data = page_view(rt.engine, learner_id, rt.settings, catalogue, now=rt.clock())
    if data is None:
        return _not_found()
    return _answer(
        render_template(
            "learner/page.html",
            page=data,
            calendar_path=f"/me/{token}/calendar.ics",
            public_url=rt.settings.web.public_url or "",
            token=token,
        )
    )


@learner_pages.get("/me/<token>/calendar.ics")
def calendar(token: str) -> Response:
    """The learner's calendar feed (iCalendar), to subscribe to."""
    limited = _limited()
    if limited is not None:
        return limited
    learner_id = _learner_id(token, opened=False)
    rt = runtime()
    if learner_id is None or rt.catalogue is None:
        return _not_found()
    catalogue = rt.catalogue()
    with unit_of_work(rt.engine) as session:
        body = learner_calendar(
            session,
            learner_id,
            catalogue,
            shop_timezone=rt.settings.shop.timezone,
            public_url=rt.settings.web.public_url,
            name=f"{catalogue.title or 'My'} sessions".strip(),
            now=rt.clock(),
        )
        session.commit()
    response = _answer(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="sessions.ics"'
    return response
