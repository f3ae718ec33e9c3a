"""Learners' booking links: make, show, rotate and revoke their tokens; find whom a token names.

The token is derived (bridge.rules.bookings.links) from BRIDGE_CLAIM_SECRET and a random nonce;
the row keeps the nonce and the token's SHA-256 only. Work on one learner's token is serialised
by locking the learner row, so two clicks on "new link" leave one active token.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.rules.bookings.links import (
    derive_token,
    is_token,
    link_parameters,
    require_secret,
    token_hash,
)
from bridge.services.ledger import lock_learner
from bridge.store.ids import MAX_ROW_ID
from bridge.store.models import BookingToken, Learner, utcnow

ACTIONS = ("create", "rotate", "revoke")


class LearnerNotFound(PermanentError):
    """No learner has the id an operator named."""


@dataclass(frozen=True)
class BookingLink:
    """A learner's active booking token, as the console and the CLI show it.

    ``token`` is None when it cannot be shown: BRIDGE_CLAIM_SECRET changed since it was made
    (the link still works; a new one can be shown).
    """

    learner_id: int
    email: str
    token: str | None
    created_at: datetime
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "learner_id": self.learner_id,
            "email": self.email,
            "token": self.token,
            "parameters": link_parameters(self.token) if self.token else None,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def _active(session: Session, learner_id: int) -> BookingToken | None:
    return session.exec(
        select(BookingToken)
        .where(BookingToken.learner_id == learner_id, col(BookingToken.revoked_at).is_(None))
        .order_by(col(BookingToken.id).desc())
    ).first()


def link_made_at(session: Session, learner_id: int) -> datetime | None:
    """When the learner's active booking link was made; None when they have none."""
    row = _active(session, learner_id)
    return row.created_at if row is not None else None


def _shown(row: BookingToken, learner: Learner, secret: str) -> BookingLink:
    token = derive_token(secret, row.learner_id, row.nonce)
    return BookingLink(
        row.learner_id,
        learner.email,
        token if token_hash(token) == row.token_hash else None,
        row.created_at,
        row.created_by,
    )


def _make(session: Session, learner: Learner, secret: str, by: str) -> BookingToken:
    assert learner.id is not None
    nonce = secrets.token_hex(16)
    row = BookingToken(
        learner_id=learner.id,
        nonce=nonce,
        created_by=by[:254],
        token_hash=token_hash(derive_token(secret, learner.id, nonce)),
    )
    session.add(row)
    session.flush()
    return row


def booking_link(
    session: Session, learner: Learner, secret: str | None, *, create: bool = False, by: str = ""
) -> BookingLink | None:
    """The learner's booking link; made first when ``create`` and there is none, else None.

    Raises BookingLinkSecretMissing when BRIDGE_CLAIM_SECRET is not set.
    """
    assert learner.id is not None
    secret = require_secret(secret)
    row = _active(session, learner.id)
    if row is None and create:
        lock_learner(session, learner.id)
        row = _active(session, learner.id) or _make(session, learner, secret, by)
    return _shown(row, learner, secret) if row is not None else None


def rotate_booking_link(
    session: Session, learner: Learner, secret: str | None, by: str = ""
) -> BookingLink:
    """A new token for the learner; the old link stops proving anything at once."""
    assert learner.id is not None
    secret = require_secret(secret)
    lock_learner(session, learner.id)
    revoke_booking_link(session, learner)
    return _shown(_make(session, learner, secret, by), learner, secret)


def revoke_booking_link(session: Session, learner: Learner) -> bool:
    """End the learner's token (no new one); True when there was one."""
    assert learner.id is not None
    lock_learner(session, learner.id)
    rows = session.exec(
        select(BookingToken).where(
            BookingToken.learner_id == learner.id, col(BookingToken.revoked_at).is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
        session.add(row)
    session.flush()
    return bool(rows)


def booking_links(
    session: Session,
    secret: str | None,
    *,
    create_missing: bool = False,
    by: str = "",
    learner_ids: Sequence[int] | None = None,
) -> list[BookingLink]:
    """Every learner's link (or those of ``learner_ids``), oldest learner first; learners
    without one are left out unless ``create_missing``."""
    secret = require_secret(secret)
    statement = select(Learner).order_by(col(Learner.id))
    if learner_ids is not None:
        statement = statement.where(col(Learner.id).in_(list(learner_ids)))
    found = []
    for learner in session.exec(statement).all():
        link = booking_link(session, learner, secret, create=create_missing, by=by)
        if link is not None:
            found.append(link)
    return found


def learner_by_token(session: Session, presented: str) -> Learner | None:
    """The learner whose active token this is; None for anything else (revoked, unknown,
    not a token's shape)."""
    if not is_token(presented):
        return None
    row = session.exec(
        select(BookingToken).where(
            BookingToken.token_hash == token_hash(presented), col(BookingToken.revoked_at).is_(None)
        )
    ).first()
    return session.get(Learner, row.learner_id) if row is not None else None


def change_booking_link(
    session: Session, learner_id: int, action: str, secret: str | None, by: str = ""
) -> bool:
    """``create`` (if none), ``rotate`` or ``revoke`` a learner's link; False when there was
    nothing to revoke. Raises LearnerNotFound for an unknown id."""
    if action not in ACTIONS:
        raise ValueError(f"action is one of {', '.join(ACTIONS)}")
    learner = session.get(Learner, learner_id) if 0 < learner_id <= MAX_ROW_ID else None
    if learner is None:
        raise LearnerNotFound(f"no learner {learner_id}")
    if action == "revoke":
        return revoke_booking_link(session, learner)
    if action == "rotate":
        rotate_booking_link(session, learner, secret, by=by)
    else:
        booking_link(session, learner, secret, create=True, by=by)
    return True
