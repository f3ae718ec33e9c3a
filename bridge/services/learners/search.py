"""Finding learners: by e-mail (current or former), name or WooCommerce customer id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from bridge.rules.words import closest, suggestion
from bridge.services.learners.listing import MAX_QUERY, LearnerQuery, like_pattern, list_learners
from bridge.services.ledger import UnknownLearner, find_learner
from bridge.store.models import Learner, LearnerEmail

LIMIT = 50


def search_learners(
    session: Session, query: str = "", *, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Learners matching the text, newest first; an empty text lists the newest learners.

    Digits match a customer id exactly (or a learner id); other text matches any part of an
    e-mail address (former ones too) or of the billing name, ignoring case. Erased learners
    never match. The list with filters, sorting and pages is ``listing.list_learners``.
    """
    rows, _ = list_learners(session, LearnerQuery(text=query), limit=limit)
    return rows


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
                    email.like(like_pattern(name)[1:-1] + "@%", escape="\\"),
                    email.like("%@" + like_pattern(domain)[1:-1], escape="\\"),
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
