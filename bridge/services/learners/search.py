"""Finding learners: by e-mail (current or former), name or WooCommerce customer id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bridge.rules.words import closest, suggestion
from bridge.services.ledger import SEAT_HELD, UnknownLearner, find_learner
from bridge.store.ids import MAX_ROW_ID
from bridge.store.models import Learner, LearnerEmail, LedgerEntry, Seat

LIMIT = 50
MAX_QUERY = 200


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def search_learners(
    session: Session, query: str = "", *, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Learners matching the text, newest first; an empty text lists the newest learners.

    Digits match a customer id exactly (or a learner id); other text matches any part of an
    e-mail address (former ones too) or of the billing name, ignoring case. Erased learners
    never match.
    """
    text = query.strip()[:MAX_QUERY]
    # An erased learner is no one to find (bridge.services.privacy): only the ledger remembers.
    statement = select(Learner).where(col(Learner.erased_at).is_(None))
    # isascii: '¹'.isdigit() is true and int('¹') fails. Customer ids are BIGINT (19 digits
    # always fit); learner ids INTEGER, which PostgreSQL will not compare with a larger number.
    if text.isascii() and text.isdigit() and len(text) < 19:
        number = int(text)
        matches = col(Learner.woo_customer_id) == number
        statement = statement.where(
            or_(matches, col(Learner.id) == number) if number <= MAX_ROW_ID else matches
        )
    elif text:
        pattern = _like(text)
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
    rows = session.exec(statement.order_by(col(Learner.id).desc()).limit(limit)).all()
    ids = [row.id for row in rows]
    totals: dict[int, dict[str, int]] = {}
    for learner_id, credit_type, amount in session.exec(
        select(LedgerEntry.learner_id, LedgerEntry.credit_type, func.sum(LedgerEntry.amount))
        .where(col(LedgerEntry.learner_id).in_(ids))
        .group_by(col(LedgerEntry.learner_id), col(LedgerEntry.credit_type))
    ).all():
        totals.setdefault(learner_id, {})[credit_type] = int(amount)
    seats: dict[int, int] = {}
    for learner_id, count in session.exec(
        select(Seat.learner_id, func.count())
        .where(col(Seat.learner_id).in_(ids), col(Seat.status).in_(SEAT_HELD))
        .group_by(col(Seat.learner_id))
    ).all():
        seats[learner_id] = int(count)
    return [
        {
            "id": row.id,
            "email": row.email,
            "name": row.name,
            "customer_id": row.woo_customer_id,
            "balances": totals.get(row.id or 0, {}),
            "seats": seats.get(row.id or 0, 0),
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]


# How many known e-mails a typo is compared with (the likely ones are found in SQL first).
CANDIDATES = 5000


def near_email(session: Session, ref: str) -> str | None:
    """The known e-mail (current or former) ``ref`` is a typo of, or None.

    Compared part by part: among e-mails of the same name the nearest domain
    (bo@exmaple.com -> bo@example.com), among those of the same domain the nearest name
    (bo.lindqvst@ -> bo.lindqvist@), so that every address of a domain is not "near" and a
    shop of many learners is not read whole.
    """
    text = str(ref).strip().lower()[:MAX_QUERY]
    name, at, domain = text.rpartition("@")
    if not at or not name or not domain or "\x00" in text or not _encodable(text):
        return None  # no column holds a NUL or a lone surrogate: nobody has that e-mail
    names: set[str] = set()
    domains: set[str] = set()
    for column in (Learner.email, LearnerEmail.email):
        email = func.lower(column)
        for known in session.exec(
            select(column)
            .where(
                or_(
                    email.like(_like(name)[1:-1] + "@%", escape="\\"),
                    email.like("%@" + _like(domain)[1:-1], escape="\\"),
                )
            )
            .limit(CANDIDATES)
        ).all():
            known_name, _, known_domain = known.lower().rpartition("@")
            if known_name == name:
                domains.add(known_domain)
            if known_domain == domain:
                names.add(known_name)
    near_domain = closest(domain, domains - {domain})
    if near_domain:
        return f"{name}@{near_domain}"
    near_name = closest(name, names - {name})
    return f"{near_name}@{domain}" if near_name else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unknown_learner(session: Session, ref: str | int, *, also: str = "") -> UnknownLearner:
    """The one line for a learner nobody is known as, naming the known e-mail it is a typo of."""
    text = str(ref).strip()
    hint = suggestion(near_email(session, text), text)
    return UnknownLearner(
        f"no learner {text!r} (by e-mail or customer id)"
        + (f"; {hint}" if hint else "")
        + (f" ({also})" if also else "")
    )


def require_learner(session: Session, ref: str) -> Learner:
    """The learner by e-mail (current or former) or customer id, or UnknownLearner naming the
    nearest known e-mail."""
    learner = find_learner(session, ref)
    if learner is None:
        raise unknown_learner(session, ref)
    return learner
