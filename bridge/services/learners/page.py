"""Everything the console shows of one learner, from the learner view and its neighbours."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from bridge.rules.bookings.links import BookingLinkSecretMissing
from bridge.services.bookings import booking_link
from bridge.services.learners.view import describe_learner
from bridge.services.subscriptions import learner_subscriptions
from bridge.store.models import Learner, PersonalCoupon


def learner_coupons(session: Session, learner_id: int) -> list[dict[str, Any]]:
    """Personal coupons offered to the learner, oldest first."""
    rows = session.exec(
        select(PersonalCoupon)
        .where(PersonalCoupon.learner_id == learner_id)
        .order_by(col(PersonalCoupon.id))
    ).all()
    return [
        {
            "code": c.code,
            "rule": c.rule,
            "discount_type": c.discount_type,
            "amount": c.amount,
            "offer_skus": list(c.offer_skus or []),
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
            "created_at": c.created_at.isoformat(),
            "in_shop": c.woo_id is not None,
        }
        for c in rows
    ]


def learner_booking_link(session: Session, learner: Learner, secret: str | None) -> dict[str, Any]:
    """The learner's booking link for the console: ``link`` None when there is none yet,
    ``error`` when it cannot be shown (no BRIDGE_CLAIM_SECRET)."""
    try:
        link = booking_link(session, learner, secret)
    except BookingLinkSecretMissing as exc:
        return {"link": None, "error": str(exc)}
    return {"link": link.as_dict() if link else None, "error": None}


def learner_page(
    session: Session,
    learner_id: int,
    *,
    paid_statuses: Iterable[str],
    history: int = 200,
    link_secret: str | None = None,
) -> dict[str, Any] | None:
    """The learner view plus name, subscriptions, coupons and booking link; None for an
    unknown learner."""
    learner = session.get(Learner, learner_id)
    if learner is None:
        return None
    data = describe_learner(session, learner, recent=history)
    data["learner"].setdefault("name", learner.name)
    data["subscriptions"] = learner_subscriptions(session, learner_id, paid_statuses=paid_statuses)
    data.setdefault("coupons", learner_coupons(session, learner_id))
    data["booking_link"] = learner_booking_link(session, learner, link_secret)
    return data
