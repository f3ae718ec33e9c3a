"""Everything the bridge holds about one learner, as plain data (the right of access).

Each section is a list of rows, each row the stored columns of one record with its id, so a
learner (or their creator) can see exactly what is kept. Secrets that only prove things (token
hashes, nonces, claim-code hashes) are left out; raw webhook bodies are listed, not copied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, SQLModel, col, select

from bridge.services.wallets import wallet_export
from bridge.store.ids import id_of
from bridge.store.models import (
    Access,
    Booking,
    BookingToken,
    ClaimPlace,
    Credential,
    InboxDelivery,
    Learner,
    LearnerEmail,
    LearnerPageLink,
    LedgerEntry,
    OrderState,
    OutboxItem,
    OutcomeEvent,
    PersonalCoupon,
    Redemption,
    Seat,
    Subscription,
    utcnow,
)

FORMAT = "creator-bridge learner export"
RECORD = "record"  # Credential.kind of a pathway record (CLR); badges are "achievement"
VERSION = 1
# Columns that prove something (a token's or claim code's hash, a derivation nonce, a salt):
# no personal data, and no use to the learner; left out of every section.
HIDDEN = frozenset({"token_hash", "nonce", "code_hash", "salt"})
# Section name -> (label, description), in the order they are exported (WordPress groups).
SECTIONS: dict[str, tuple[str, str]] = {
    "identity": ("Identity", "The learner as the bridge knows them."),
    "emails": ("E-mail addresses", "Every address the learner has been known by."),
    "orders": ("Orders", "WooCommerce orders as last applied."),
    "ledger": ("Credit ledger", "Every credit movement, signed, with its order."),
    "seats": ("Cohort seats", "Seats and waitlist places."),
    "access": ("Access", "Windows of access to projects, assessments and previews."),
    "subscriptions": ("Subscriptions", "WooCommerce Subscriptions as last seen."),
    "bookings": ("Bookings", "Mentor bookings from Cal.com or Calendly."),
    "redemptions": ("Redemptions", "Credits spent on bookings."),
    "booking_links": ("Booking links", "The learner's booking links (their tokens are not kept)."),
    "claims": ("Team-pack places", "Places of team packs the learner claimed."),
    "events": ("Outcome events", "Projects, assessments, interviews and placements recorded."),
    "credentials": ("Credentials", "Open Badges credentials issued to the learner."),
    "records": ("Records", "Pathway records (CLR) issued to the learner."),
    "notes": ("Customer notes", "Order notes the bridge wrote to the shop for the learner."),
    "coupons": ("Coupons", "Personal coupons offered to the learner."),
    "page_links": ("Page links", "The learner's page links and when they were last opened."),
    "deliveries": ("Webhook deliveries", "Deliveries from the shop about the learner."),
    "wallet_apps": (
        "Connected apps",
        "Wallets and other apps the learner let read their credentials (Open Badges API).",
    ),
    "wallet_credentials": (
        "Stored credentials",
        "Credentials from elsewhere that connected apps stored for the learner.",
    ),
}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"({len(value)} bytes)"
    return value


def row_data(row: SQLModel, hidden: Iterable[str] = ()) -> dict[str, Any]:
    """A stored row's columns as JSON-safe values, without the proving secrets."""
    skip = HIDDEN | set(hidden)
    return {
        attr.key: _value(getattr(row, attr.key))
        for attr in sa_inspect(type(row)).column_attrs
        if attr.key not in skip
    }


def _rows(session: Session, model: type[SQLModel], *where: Any) -> Sequence[Any]:
    key = next(iter(sa_inspect(model).primary_key))
    return session.exec(select(model).where(*where).order_by(key)).all()


def learner_order_ids(session: Session, learner_id: int) -> list[int]:
    """Every order that names the learner (its state, or a row it granted)."""
    ids: set[int] = set()
    for column, owner in (
        (OrderState.order_id, OrderState.learner_id),
        (LedgerEntry.order_id, LedgerEntry.learner_id),
        (Seat.order_id, Seat.learner_id),
        (Access.order_id, Access.learner_id),
    ):
        found = session.exec(select(column).where(col(owner) == learner_id)).all()
        ids.update(int(order_id) for order_id in found if order_id is not None)
    return sorted(ids)


def learner_deliveries(
    session: Session, learner: Learner, order_ids: Sequence[int], subscription_ids: Sequence[int]
) -> Sequence[InboxDelivery]:
    """Webhook deliveries about the learner: their orders, subscriptions and customer account."""
    conditions = []
    if order_ids:
        conditions.append(
            and_(
                col(InboxDelivery.resource) == "order",
                col(InboxDelivery.resource_id).in_(order_ids),
            )
        )
    if subscription_ids:
        conditions.append(
            and_(
                col(InboxDelivery.resource) == "subscription",
                col(InboxDelivery.resource_id).in_(subscription_ids),
            )
        )
    if learner.woo_customer_id:
        conditions.append(
            and_(
                col(InboxDelivery.resource) == "customer",
                col(InboxDelivery.resource_id) == learner.woo_customer_id,
            )
        )
    if not conditions:
        return []
    return session.exec(
        select(InboxDelivery).where(or_(*conditions)).order_by(col(InboxDelivery.id))
    ).all()


def export_learner(
    session: Session, learner: Learner, *, now: datetime | None = None
) -> dict[str, Any]:
    """Everything held about the learner: ``{"format", "version", "exported_at", "learner",
    "sections": {name: [row, ...]}}``, every row with its id."""
    learner_id = id_of(learner)
    order_ids = learner_order_ids(session, learner_id)
    subscriptions = _rows(session, Subscription, Subscription.learner_id == learner_id)
    credentials = _rows(session, Credential, Credential.learner_id == learner_id)
    wallet = wallet_export(session, learner_id)
    sections: dict[str, list[dict[str, Any]]] = {
        "identity": [row_data(learner)],
        "emails": [
            row_data(r) for r in _rows(session, LearnerEmail, LearnerEmail.learner_id == learner_id)
        ],
        "orders": [
            row_data(r) for r in _rows(session, OrderState, col(OrderState.order_id).in_(order_ids))
        ],
        "ledger": [
            row_data(r) for r in _rows(session, LedgerEntry, LedgerEntry.learner_id == learner_id)
        ],
        "seats": [row_data(r) for r in _rows(session, Seat, Seat.learner_id == learner_id)],
        "access": [row_data(r) for r in _rows(session, Access, Access.learner_id == learner_id)],
        "subscriptions": [row_data(r) for r in subscriptions],
        "bookings": [
            row_data(r) for r in _rows(session, Booking, Booking.learner_id == learner_id)
        ],
        "redemptions": [
            row_data(r) for r in _rows(session, Redemption, Redemption.learner_id == learner_id)
        ],
        "booking_links": [
            row_data(r) for r in _rows(session, BookingToken, BookingToken.learner_id == learner_id)
        ],
        "claims": [
            row_data(r) for r in _rows(session, ClaimPlace, ClaimPlace.learner_id == learner_id)
        ],
        "events": [
            row_data(r) for r in _rows(session, OutcomeEvent, OutcomeEvent.learner_id == learner_id)
        ],
        "credentials": [row_data(r) for r in credentials if r.kind != RECORD],
        "records": [row_data(r) for r in credentials if r.kind == RECORD],
        "notes": [
            row_data(r)
            for r in _rows(
                session,
                OutboxItem,
                OutboxItem.resource == "order_note",
                col(OutboxItem.target_id).in_(order_ids),
            )
        ],
        "coupons": [
            row_data(r)
            for r in _rows(session, PersonalCoupon, PersonalCoupon.learner_id == learner_id)
        ],
        "page_links": [
            row_data(r)
            for r in _rows(session, LearnerPageLink, LearnerPageLink.learner_id == learner_id)
        ],
        "deliveries": [
            row_data(r, hidden=("headers",))
            for r in learner_deliveries(
                session, learner, order_ids, [int(s.id) for s in subscriptions]
            )
        ],
        "wallet_apps": wallet["apps"],
        "wallet_credentials": wallet["credentials"],
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": (now or utcnow()).isoformat(),
        "learner": {"id": learner_id, "email": learner.email, "name": learner.name},
        "sections": sections,
    }


def wordpress_pages(export: dict[str, Any]) -> list[dict[str, Any]]:
    """The export as a WordPress personal-data exporter answers it: one ``{data, done}`` page per
    section, each row an item ``{group_id, group_label, group_description, item_id, data:
    [{name, value}]}``; the last page says ``done``."""
    pages: list[dict[str, Any]] = []
    names = list(SECTIONS)
    for number, name in enumerate(names):
        label, description = SECTIONS[name]
        items = []
        for index, row in enumerate(export["sections"].get(name, [])):
            ident = row.get("id", row.get("order_id", row.get("uuid", row.get("email", index))))
            items.append(
                {
                    "group_id": f"creator-bridge-{name.replace('_', '-')}",
                    "group_label": label,
                    "group_description": description,
                    "item_id": f"creator-bridge-{name.replace('_', '-')}-{ident}",
                    "data": [
                        {"name": field, "value": _text(value)} for field, value in row.items()
                    ],
                }
            )
        pages.append({"data": items, "done": number == len(names) - 1})
    return pages


def _text(value: Any) -> str:
    """A value as WordPress shows it (text): JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
