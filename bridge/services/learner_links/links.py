"""Learners' personal page links: make, show, rotate and revoke them; find whom a link names.

The token is derived (bridge.rules.learner_page) from BRIDGE_CLAIM_SECRET and a random nonce;
the row keeps the nonce and the token's SHA-256 only. Work on one learner's link is serialised
by locking the learner row, so two clicks on "new link" leave one active link.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bridge.rules.bookings.links import require_secret
from bridge.rules.learner_page import derive_token, is_token, page_url, token_hash
from bridge.services.ledger import lock_learner
from bridge.store.models import Learner, LearnerPageLink, utcnow


@dataclass(frozen=True)
class PageLink:
    """A learner's active page link, as the console and the CLI show it.

    ``token`` (and ``url``) is None when it cannot be shown: BRIDGE_CLAIM_SECRET changed since
    it was made (the link still works; a new one can be made).
    """

    learner_id: int
    token: str | None
    url: str | None
    created_at: datetime
    created_by: str
    opened_at: datetime | None
    sent_in_note: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "learner_id": self.learner_id,
            "page_url": self.url,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "last_opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "sent_in_note": self.sent_in_note,
        }


def _active(session: Session, learner_id: int) -> LearnerPageLink | None:
    return session.exec(
        select(LearnerPageLink)
        .where(LearnerPageLink.learner_id == learner_id, col(LearnerPageLink.revoked_at).is_(None))
        .order_by(col(LearnerPageLink.id).desc())
    ).first()


def _shown(row: LearnerPageLink, secret: str, public_url: str | None) -> PageLink:
    token = derive_token(secret, row.learner_id, row.nonce)
    shown = token if token_hash(token) == row.token_hash else None
    return PageLink(
        row.learner_id,
        shown,
        page_url(public_url, shown) if shown else None,
        row.created_at,
        row.created_by,
        row.opened_at,
        row.note_key is not None,
    )


def _make(session: Session, learner_id: int, secret: str, by: str) -> LearnerPageLink:
    nonce = secrets.token_hex(16)
    row = LearnerPageLink(
        learner_id=learner_id,
        nonce=nonce,
        created_by=by[:254],
        token_hash=token_hash(derive_token(secret, learner_id, nonce)),
    )
    session.add(row)
    session.flush()
    return row


def page_link(
    session: Session,
    learner_id: int,
    secret: str | None,
    public_url: str | None,
    *,
    create: bool = False,
    by: str = "",
) -> PageLink | None:
    """The learner's page link; made first when ``create`` and there is none, else None.

    Raises BookingLinkSecretMissing when BRIDGE_CLAIM_SECRET is not set.
    """
    secret = require_secret(secret)
    row = _active(session, learner_id)
    if row is None and create:
        lock_learner(session, learner_id)
        row = _active(session, learner_id) or _make(session, learner_id, secret, by)
    return _shown(row, secret, public_url) if row is not None else None


def rotate_page_link(
    session: Session, learner_id: int, secret: str | None, public_url: str | None, by: str = ""
) -> PageLink:
    """A new link for the learner; the old one shows nothing from now on."""
    secret = require_secret(secret)
    revoke_page_link(session, learner_id)
    return _shown(_make(session, learner_id, secret, by), secret, public_url)


def revoke_page_link(session: Session, learner_id: int) -> bool:
    """End the learner's link (no new one); True when there was one."""
    lock_learner(session, learner_id)
    rows = session.exec(
        select(LearnerPageLink).where(
            LearnerPageLink.learner_id == learner_id, col(LearnerPageLink.revoked_at).is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
        session.add(row)
    session.flush()
    return bool(rows)


def learner_for_page_token(session: Session, presented: str) -> Learner | None:
    """The learner whose active page link this token is; None for anything else (revoked,
    unknown, not a token's shape)."""
    if not is_token(presented):
        return None
    row = session.exec(
        select(LearnerPageLink).where(
            LearnerPageLink.token_hash == token_hash(presented),
            col(LearnerPageLink.revoked_at).is_(None),
        )
    ).first()
    return session.get(Learner, row.learner_id) if row is not None else None


def mark_page_opened(session: Session, presented: str, when: datetime | None = None) -> None:
    """Remember when the link was last opened (the console shows it)."""
    row = session.exec(
        select(LearnerPageLink).where(LearnerPageLink.token_hash == token_hash(presented))
    ).first()
    if row is not None:
        row.opened_at = when or utcnow()
        session.add(row)
        session.flush()


def link_for_first_note(
    session: Session, learner_id: int, secret: str | None, public_url: str | None
) -> str | None:
    """The page's address when no customer note has carried a link to the learner yet (made
    now if they have none); None once one has, or without BRIDGE_CLAIM_SECRET."""
    if not secret:
        return None
    sent = session.exec(
        select(LearnerPageLink.id).where(
            LearnerPageLink.learner_id == learner_id, col(LearnerPageLink.note_key).is_not(None)
        )
    ).first()
    if sent is not None:
        return None
    link = page_link(session, learner_id, secret, public_url, create=True, by="first note")
    return link.url if link is not None else None


def learners_sent_a_link(session: Session, learner_ids: Iterable[int]) -> set[int]:
    """Which of these learners a customer note has carried a page link to (one query)."""
    wanted = sorted(set(learner_ids))
    if not wanted:
        return set()
    return set(
        session.exec(
            select(LearnerPageLink.learner_id).where(
                col(LearnerPageLink.learner_id).in_(wanted),
                col(LearnerPageLink.note_key).is_not(None),
            )
        ).all()
    )


def mark_link_sent(session: Session, learner_id: int, note_key: str) -> None:
    """Record that the customer note ``note_key`` carried the learner's active link."""
    row = _active(session, learner_id)
    if row is not None and row.note_key is None:
        row.note_key = note_key[:300]
        session.add(row)
        session.flush()
