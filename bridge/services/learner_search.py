"""Finding learners: by e-mail (current or former), name or WooCommerce customer id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bridge.store.models import Learner, LearnerEmail, LedgerEntry, Seat

LIMIT = 50
MAX_QUERY = 200


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def search_learners(session: Session, query: str = "", *,
                    limit: int = LIMIT) -> list[dict[str, Any]]:
    """Learners matching the text, newest first; an empty text lists the newest learners.

    Digits match a customer id exactly (or a learner id); other text matches any part of an
    e-mail address (former ones too) or of the billing name, ignoring case.
    """
    text = query.strip()[:MAX_QUERY]
    statement = select(Learner)
    if text.isdigit() and len(text) < 19:
        number = int(text)
        statement = statement.where(or_(col(Learner.woo_customer_id) == number,
                                        col(Learner.id) == number))
    elif text:
        pattern = _like(text)
        former = select(LearnerEmail.learner_id).where(
            func.lower(LearnerEmail.email).like(pattern, escape="\\"))
        statement = statement.where(or_(
            func.lower(Learner.email).like(pattern, escape="\\"),
            func.lower(Learner.name).like(pattern, escape="\\"),
            col(Learner.id).in_(former),
        ))
    rows = session.exec(statement.order_by(col(Learner.id).desc()).limit(limit)).all()
    ids = [row.id for row in rows]
    totals: dict[int, dict[str, int]] = {}
    for learner_id, credit_type, amount in session.exec(
        select(LedgerEntry.learner_id, LedgerEntry.credit_type, func.sum(LedgerEntry.amount))
        .where(col(LedgerEntry.learner_id).in_(ids))
        .group_by(LedgerEntry.learner_id, LedgerEntry.credit_type)
    ).all():
        totals.setdefault(learner_id, {})[credit_type] = int(amount)
    seats: dict[int, int] = {}
    for learner_id, count in session.exec(
        select(Seat.learner_id, func.count()).where(col(Seat.learner_id).in_(ids),
                                                    col(Seat.status).in_(["active", "waitlisted"]))
        .group_by(Seat.learner_id)
    ).all():
        seats[learner_id] = int(count)
    return [{"id": row.id, "email": row.email, "name": row.name,
             "customer_id": row.woo_customer_id, "balances": totals.get(row.id or 0, {}),
             "seats": seats.get(row.id or 0, 0), "created_at": row.created_at.isoformat()}
            for row in rows]
