"""Erased learners as the pipeline meets them: their identities kept only as SHA-256 tombstones.

An order, subscription or customer the shop sends again under an erased learner's e-mail resolves
to the learner's pseudonym (bridge.services.privacy erases), so nothing personal comes back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlmodel import Session, col, select

from bridge.rules.entitlements import normalise_email
from bridge.store.bulk import among
from bridge.store.models import ErasedIdentity


def identity_hash(kind: str, value: str | int) -> str:
    """The SHA-256 an erased identity is kept as: ``email`` (normalised) or ``customer``."""
    text = normalise_email(str(value)) if kind == "email" else str(value)
    return hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()


def erased_learners(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """The erased learner's id of each of these e-mails that belonged to an erased learner."""
    hashes = {identity_hash("email", email): email for email in emails if email}
    if not hashes:
        return {}
    rows = session.exec(
        select(ErasedIdentity).where(among(col(ErasedIdentity.key_hash), sorted(hashes)))
    ).all()
    return {hashes[row.key_hash]: row.learner_id for row in rows}
