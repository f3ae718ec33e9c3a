"""What changed for learners between two moments: for narrating the demo and for tools.

A snapshot is a few high-water marks and the seat and subscription states; the changes since
one are plain dicts (learner e-mail, kind and the figures), worded by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bridge.store.db import unit_of_work
from bridge.store.models import (
    Access,
    Learner,
    LedgerEntry,
    Offer,
    OutboxItem,
    PersonalCoupon,
    Seat,
    Subscription,
)


@dataclass(frozen=True)
class Snapshot:
    """High-water marks of the append-only tables and the states of the mutable rows."""

    ledger_id: int = 0
    access_id: int = 0
    coupon_id: int = 0
    seats: dict[int, str] = field(default_factory=dict)
    subscriptions: dict[int, str] = field(default_factory=dict)


def _top(session: Session, column: Any) -> int:
    return int(session.exec(select(func.coalesce(func.max(column), 0))).one())


def take_snapshot(engine: Engine) -> Snapshot:
    """The state to compare a later moment with."""
    with unit_of_work(engine) as session:
        return Snapshot(
            ledger_id=_top(session, LedgerEntry.id),
            access_id=_top(session, Access.id),
            coupon_id=_top(session, PersonalCoupon.id),
            seats={s.id: s.status for s in session.exec(select(Seat)).all() if s.id is not None},
            subscriptions={s.id: s.status for s in session.exec(select(Subscription)).all()},
        )


def _email(session: Session, learner_id: int | None, cache: dict[int, str]) -> str:
    if learner_id is None:
        return ""
    if learner_id not in cache:
        row = session.get(Learner, learner_id)
        cache[learner_id] = row.email if row is not None else f"learner {learner_id}"
    return cache[learner_id]


def _title(session: Session, sku: str | None) -> str:
    if not sku:
        return ""
    row = session.get(Offer, sku)
    return (row.title or sku) if row is not None else sku


def changes_since(engine: Engine, before: Snapshot) -> list[dict[str, Any]]:
    """Credits, seats, access, coupons and subscriptions that changed after ``before``.

    Each change is ``{"learner": email, "kind": ..., ...}``: kind ``credit`` (credit_type,
    amount, reason, offer), ``seat`` (cohort, status, was, order_id), ``access`` (access,
    offer_sku, ends_at), ``coupon`` (code, discount_type, amount, offers, expires_at) or
    ``subscription`` (id, status, was, perks).
    """
    emails: dict[int, str] = {}
    out: list[dict[str, Any]] = []
    with unit_of_work(engine) as session:
        for row in session.exec(
            select(LedgerEntry)
            .where(col(LedgerEntry.id) > before.ledger_id)
            .order_by(col(LedgerEntry.id))
        ).all():
            out.append(
                {
                    "learner": _email(session, row.learner_id, emails),
                    "kind": "credit",
                    "credit_type": row.credit_type,
                    "amount": row.amount,
                    "reason": row.reason,
                    "offer": _title(session, row.offer_sku),
                    "order_id": row.order_id,
                }
            )
        for seat in session.exec(select(Seat).order_by(col(Seat.id))).all():
            was = before.seats.get(seat.id or 0)
            if was == seat.status:
                continue
            out.append(
                {
                    "learner": _email(session, seat.learner_id, emails),
                    "kind": "seat",
                    "cohort": seat.cohort_code,
                    "status": seat.status,
                    "was": was,
                    "order_id": seat.order_id,
                }
            )
        for window in session.exec(
            select(Access).where(col(Access.id) > before.access_id).order_by(col(Access.id))
        ).all():
            out.append(
                {
                    "learner": _email(session, window.learner_id, emails),
                    "kind": "access",
                    "access": window.kind,
                    "offer_sku": window.offer_sku,
                    "ends_at": window.ends_at.isoformat() if window.ends_at else None,
                }
            )
        for coupon in session.exec(
            select(PersonalCoupon)
            .where(col(PersonalCoupon.id) > before.coupon_id)
            .order_by(col(PersonalCoupon.id))
        ).all():
            out.append(
                {
                    "learner": _email(session, coupon.learner_id, emails),
                    "kind": "coupon",
                    "code": coupon.code,
                    "rule": coupon.rule,
                    "discount_type": coupon.discount_type,
                    "amount": coupon.amount,
                    "offers": list(coupon.offer_skus or []),
                    "expires_at": coupon.expires_at.isoformat() if coupon.expires_at else None,
                }
            )
        for sub in session.exec(select(Subscription).order_by(col(Subscription.id))).all():
            was = before.subscriptions.get(sub.id)
            if was == sub.status:
                continue
            out.append(
                {
                    "learner": _email(session, sub.learner_id, emails),
                    "kind": "subscription",
                    "id": sub.id,
                    "status": sub.status,
                    "was": was,
                    "perks": [str(p) for p in sub.perks or []],
                }
            )
    return out


def learner_coupons(session: Session, learner_id: int) -> list[dict[str, Any]]:
    """The personal coupons offered to a learner, oldest first."""
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
            "offers": list(c.offer_skus or []),
            "order_id": c.order_id,
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
            "in_shop": c.woo_id is not None,
        }
        for c in rows
    ]


def learner_record(
    session: Session,
    learner: Learner,
    *,
    recent: int = 20,
    paid_statuses: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Everything `bridge learner` shows: holdings, subscriptions with periods, coupons."""
    from bridge.services.learners.view import describe_learner
    from bridge.services.subscriptions import learner_subscriptions

    data = describe_learner(session, learner, recent=recent)
    assert learner.id is not None
    data["subscriptions"] = (
        learner_subscriptions(session, learner.id)
        if paid_statuses is None
        else learner_subscriptions(session, learner.id, paid_statuses=tuple(paid_statuses))
    )
    data["coupons"] = learner_coupons(session, learner.id)
    return data


def queued_writebacks(engine: Engine) -> list[dict[str, Any]]:
    """Every outbox row, oldest first, with its payload."""
    with unit_of_work(engine) as session:
        return [
            {
                "resource": item.resource,
                "operation": item.operation,
                "target_id": item.target_id,
                "status": item.status,
                "payload": item.payload,
            }
            for item in session.exec(select(OutboxItem).order_by(col(OutboxItem.id)))
        ]


def learners_overview(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every learner's record by e-mail, oldest learner first."""
    with unit_of_work(engine) as session:
        return {
            row.email: learner_record(session, row)
            for row in session.exec(select(Learner).order_by(col(Learner.id))).all()
        }
