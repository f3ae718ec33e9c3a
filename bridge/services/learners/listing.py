"""Learners as a list that scales: filtered (text, cohort, offer, a balance above zero, on a
waitlist), sorted, a page at a time, with the total; the console's list and `bridge learners`
(``--csv`` too) read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bridge.rules.cohorts import SeatStatus
from bridge.services.ledger import SEAT_HELD
from bridge.store.ids import MAX_ROW_ID
from bridge.store.models import Access, Learner, LearnerEmail, LedgerEntry, Seat

MAX_QUERY = 200


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, lower-cased, its wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


# How a list may be sorted: name -> what it means.
SORTS = {
    "newest": "newest first",
    "oldest": "oldest first",
    "email": "by e-mail",
    "name": "by name",
    "balance": "largest balance first (all credit types)",
}
COLUMNS = ["id", "email", "name", "customer_id", "seats", "waitlisted", "balances", "created_at"]


@dataclass(frozen=True)
class LearnerQuery:
    """What the list is narrowed to and how it is sorted (each filter optional)."""

    text: str = ""  # part of an e-mail (former ones too) or name, or a customer id
    cohort: str = ""  # holds or waits for a seat in this cohort
    offer: str = ""  # bought this micro-SKU (a ledger row, seat or access window from it)
    balance: bool = False  # some credit type's balance is above zero
    waitlisted: bool = False  # waits for a seat somewhere
    sort: str = "newest"


def _where(statement: Any, query: LearnerQuery) -> Any:
    statement = statement.where(col(Learner.erased_at).is_(None))
    text = query.text.strip()[:MAX_QUERY]
    if text.isascii() and text.isdigit() and len(text) < 19:
        number = int(text)
        matches = col(Learner.woo_customer_id) == number
        statement = statement.where(
            or_(matches, col(Learner.id) == number) if number <= MAX_ROW_ID else matches
        )
    elif text:
        pattern = like_pattern(text)
        former = select(LearnerEmail.learner_id).where(
            func.lower(LearnerEmail.email).like(pattern, escape="\\")
        )
        statement = statement.where(
            or_(
                func.lower(Learner.email).like(pattern, escape="\\"),
                func.lower(Learner.name).like(pattern, escape="\\"),
                col(Learner.id).in_(former),
            )
        )
    if query.cohort:
        statement = statement.where(
            col(Learner.id).in_(
                select(Seat.learner_id).where(
                    Seat.cohort_code == query.cohort,
                    col(Seat.status).in_([*SEAT_HELD, SeatStatus.WAITLISTED]),
                )
            )
        )
    if query.offer:
        statement = statement.where(
            or_(
                col(Learner.id).in_(
                    select(LedgerEntry.learner_id).where(LedgerEntry.offer_sku == query.offer)
                ),
                col(Learner.id).in_(select(Seat.learner_id).where(Seat.offer_sku == query.offer)),
                col(Learner.id).in_(
                    select(Access.learner_id).where(Access.offer_sku == query.offer)
                ),
            )
        )
    if query.balance:
        positive = (
            select(LedgerEntry.learner_id)
            .group_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
            .having(func.sum(LedgerEntry.amount) > 0)
        )
        statement = statement.where(col(Learner.id).in_(positive))
    if query.waitlisted:
        statement = statement.where(
            col(Learner.id).in_(select(Seat.learner_id).where(Seat.status == SeatStatus.WAITLISTED))
        )
    return statement


def _ordered(statement: Any, sort: str) -> Any:
    if sort == "oldest":
        return statement.order_by(col(Learner.id))
    if sort == "email":
        return statement.order_by(col(Learner.email), col(Learner.id))
    if sort == "name":
        return statement.order_by(func.lower(Learner.name), col(Learner.id))
    if sort == "balance":
        total = (
            select(LedgerEntry.learner_id, func.sum(LedgerEntry.amount).label("total"))
            .group_by(col(LedgerEntry.learner_id))
            .subquery()
        )
        return statement.outerjoin(total, total.c.learner_id == Learner.id).order_by(
            func.coalesce(total.c.total, 0).desc(), col(Learner.id).desc()
        )
    return statement.order_by(col(Learner.id).desc())


def list_learners(
    session: Session, query: LearnerQuery, *, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """One page of the learners that match, in the query's order; and how many match."""
    if query.sort not in SORTS:
        raise ValueError(f"sort is one of {', '.join(SORTS)}")
    total = session.exec(_where(select(func.count()).select_from(Learner), query)).one()
    rows = session.exec(
        _ordered(_where(select(Learner), query), query.sort).offset(offset).limit(limit)
    ).all()
    ids = [row.id for row in rows]
    balances: dict[int, dict[str, int]] = {}
    for learner_id, credit_type, amount in session.exec(
        select(LedgerEntry.learner_id, LedgerEntry.credit_type, func.sum(LedgerEntry.amount))
        .where(col(LedgerEntry.learner_id).in_(ids))
        .group_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
    ).all():
        balances.setdefault(learner_id, {})[credit_type] = int(amount)
    seats: dict[tuple[int, str], int] = {}
    for learner_id, status, count in session.exec(
        select(Seat.learner_id, Seat.status, func.count())
        .where(col(Seat.learner_id).in_(ids))
        .group_by(col(Seat.learner_id), col(Seat.status))
    ).all():
        seats[learner_id, status] = int(count)
    return [
        {
            "id": row.id,
            "email": row.email,
            "name": row.name,
            "customer_id": row.woo_customer_id,
            "seats": sum(seats.get((row.id or 0, status), 0) for status in SEAT_HELD),
            "waitlisted": seats.get((row.id or 0, SeatStatus.WAITLISTED), 0),
            "balances": balances.get(row.id or 0, {}),
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ], int(total)


LEDGER_SORTS = {"newest": "newest first", "oldest": "oldest first", "amount": "largest first"}
LEDGER_COLUMNS = [
    "id",
    "created_at",
    "learner_id",
    "email",
    "credit_type",
    "amount",
    "reason",
    "order_id",
    "offer_sku",
    "note",
    "actor",
]


@dataclass(frozen=True)
class LedgerQuery:
    """What the ledger list is narrowed to (each optional) and its order."""

    credit_type: str = ""
    reason: str = ""  # grant, reversal, manual, redemption, expiry, ...
    actor: str = ""  # who made a manual row (console:EMAIL, or the CLI's operator)
    learner_id: int | None = None
    sort: str = "newest"


def list_ledger(
    session: Session, query: LedgerQuery, *, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """One page of ledger rows (every learner's), and how many match."""
    if query.sort not in LEDGER_SORTS:
        raise ValueError(f"sort is one of {', '.join(LEDGER_SORTS)}")

    def narrowed(statement: Any) -> Any:
        if query.credit_type:
            statement = statement.where(LedgerEntry.credit_type == query.credit_type)
        if query.reason:
            statement = statement.where(LedgerEntry.reason == query.reason)
        if query.actor:
            statement = statement.where(LedgerEntry.actor == query.actor)
        if query.learner_id is not None:
            statement = statement.where(LedgerEntry.learner_id == query.learner_id)
        return statement

    total = session.exec(narrowed(select(func.count()).select_from(LedgerEntry))).one()
    order = {
        "newest": (col(LedgerEntry.id).desc(),),
        "oldest": (col(LedgerEntry.id),),
        "amount": (col(LedgerEntry.amount).desc(), col(LedgerEntry.id).desc()),
    }[query.sort]
    rows = session.exec(
        narrowed(select(LedgerEntry, Learner.email).join(Learner))
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        {
            "id": entry.id,
            "created_at": entry.created_at.isoformat(),
            "learner_id": entry.learner_id,
            "email": email,
            "credit_type": entry.credit_type,
            "amount": entry.amount,
            "reason": entry.reason,
            "order_id": entry.order_id,
            "offer_sku": entry.offer_sku,
            "note": entry.note,
            "actor": entry.actor,
        }
        for entry, email in rows
    ], int(total)
