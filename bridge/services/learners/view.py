"""What a learner holds, as plain JSON-ready data: balances, seats, access, perks, history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bridge.rules.perks import PERK_STATUSES
from bridge.services.bookings import list_bookings, redemption_view
from bridge.services.ledger import balances, waitlist_position
from bridge.store.ids import id_of
from bridge.store.models import (
    Access,
    Cohort,
    Learner,
    LearnerEmail,
    LedgerEntry,
    Offer,
    Redemption,
    Seat,
    Subscription,
    utcnow,
)

RECENT = 20


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _perks(session: Session, skus: list[str]) -> list[str]:
    perks: list[str] = []
    for sku in skus:
        offer = session.get(Offer, sku)
        definition = offer.definition if offer is not None else None
        for perk in (definition or {}).get("perks") or []:
            if isinstance(perk, str) and perk not in perks:
                perks.append(perk)
    return perks


def describe_learner(
    session: Session, learner: Learner, *, recent: int = RECENT, now: datetime | None = None
) -> dict[str, Any]:
    """Balances by type, seats with waitlist positions, access windows, subscriptions with
    their perks, and the most recent ledger rows and redemptions (newest first)."""
    now = now or utcnow()
    learner_id = id_of(learner)
    former = session.exec(
        select(LearnerEmail.email)
        .where(LearnerEmail.learner_id == learner_id, LearnerEmail.email != learner.email)
        .order_by(LearnerEmail.email)
    ).all()
    seats = []
    for seat in session.exec(
        select(Seat).where(Seat.learner_id == learner_id).order_by(col(Seat.id))
    ).all():
        cohort = session.get(Cohort, seat.cohort_code)
        seats.append(
            {
                "id": seat.id,
                "cohort": seat.cohort_code,
                "cohort_title": cohort.title if cohort else "",
                "starts_at": _iso(cohort.starts_at if cohort else None),
                "status": seat.status,
                "position": waitlist_position(session, seat),
                "order_id": seat.order_id,
                "offer_sku": seat.offer_sku,
            }
        )
    access = []
    for window in session.exec(
        select(Access).where(Access.learner_id == learner_id).order_by(col(Access.id))
    ).all():
        current = (
            window.revoked_at is None
            and (window.starts_at is None or window.starts_at <= now)
            and (window.ends_at is None or now < window.ends_at)
        )
        access.append(
            {
                "kind": window.kind,
                "offer_sku": window.offer_sku,
                "starts_at": _iso(window.starts_at),
                "ends_at": _iso(window.ends_at),
                "revoked_at": _iso(window.revoked_at),
                "current": current,
            }
        )
    subscriptions = []
    for sub in session.exec(
        select(Subscription)
        .where(Subscription.learner_id == learner_id)
        .order_by(col(Subscription.id))
    ).all():
        skus = [str(sku) for sku in sub.offer_skus or []]
        # The perks stored when the subscription was last applied win; offers are the fallback.
        perks = (
            [str(perk) for perk in sub.perks] if sub.perks is not None else _perks(session, skus)
        )
        subscriptions.append(
            {
                "id": sub.id,
                "status": sub.status,
                "offer_skus": skus,
                "perks": perks if sub.status in PERK_STATUSES else [],
                "next_payment_at": _iso(sub.next_payment_gmt),
                "ends_at": _iso(sub.end_gmt),
            }
        )
    ledger = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.learner_id == learner_id)
        .order_by(col(LedgerEntry.id).desc())
        .limit(recent)
    ).all()
    redemptions = session.exec(
        select(Redemption)
        .where(Redemption.learner_id == learner_id)
        .order_by(col(Redemption.id).desc())
        .limit(recent)
    ).all()
    return {
        "learner": {
            "id": learner_id,
            "email": learner.email,
            "customer_id": learner.woo_customer_id,
            "former_emails": list(former),
        },
        "balances": balances(session, learner_id),
        "seats": seats,
        "access": access,
        "subscriptions": subscriptions,
        "recent_ledger": [
            {
                "id": row.id,
                "credit_type": row.credit_type,
                "amount": row.amount,
                "reason": row.reason,
                "order_id": row.order_id,
                "offer_sku": row.offer_sku,
                "reverses_id": row.reverses_id,
                "note": row.note,
                "actor": row.actor,
                "created_at": row.created_at.isoformat(),
            }
            for row in ledger
        ],
        "recent_redemptions": [redemption_view(row, learner) for row in redemptions],
        "bookings": [
            {key: value for key, value in booking.items() if key != "learner"}
            for booking in list_bookings(session, learner_id=learner_id, limit=recent)
        ],
    }
