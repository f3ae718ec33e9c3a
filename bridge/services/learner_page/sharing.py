"""Handing a learner their page link: as the CLI and console show it, rotated, and sent again
as a customer note on their latest order (through the outbox, once per request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.services.learner_links import PageLink, page_link
from bridge.services.ledger import simulated_orders
from bridge.services.writeback import enqueue_page_link_note
from bridge.settings import Settings
from bridge.store.models import OrderState


class LinkNotSent(PermanentError):
    """The link cannot be sent: the learner has no real order to put a note on."""


@dataclass(frozen=True)
class LinkSent:
    order_id: int
    outbox_key: str | None  # None: the same request was already queued


def latest_order(session: Session, learner_id: int) -> int | None:
    """The learner's most recent order the shop has (not one `bridge simulate` made up)."""
    orders = session.exec(
        select(OrderState.order_id)
        .where(OrderState.learner_id == learner_id)
        .order_by(col(OrderState.order_id).desc())
        .limit(50)
    ).all()
    made_up = simulated_orders(session, list(orders))
    return next((order for order in orders if order not in made_up), None)


def resend_page_link(
    session: Session, learner_id: int, settings: Settings, *, requested_at: datetime, by: str = ""
) -> LinkSent:
    """Queue a customer note with the learner's page link on their latest order.

    One request is one note: requests in the same minute are the same note.
    """
    order_id = latest_order(session, learner_id)
    if order_id is None:
        raise LinkNotSent("this learner has no order in the shop to add a note to")
    link = page_link(
        session, learner_id, settings.claims.secret, settings.web.public_url, create=True, by=by
    )
    if link is None or link.url is None or link.token is None:
        raise LinkNotSent("the link cannot be shown (BRIDGE_CLAIM_SECRET changed): make a new one")
    if not settings.web.public_url:
        raise LinkNotSent("BRIDGE_PUBLIC_URL is not set: the note would hold no usable address")
    fact = f"page-link:{link.token[-8:]}:{requested_at:%Y-%m-%dT%H:%M}"
    key = enqueue_page_link_note(session, order_id, learner_id, link.url, fact, settings)
    return LinkSent(order_id, key)


def link_status(session: Session, learner_id: int, settings: Settings) -> PageLink | None:
    """The learner's active link as the console shows it (None: they have none yet)."""
    return page_link(session, learner_id, settings.claims.secret, settings.web.public_url)
