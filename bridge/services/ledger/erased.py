"""Erased learners as the pipeline meets them: their identities kept only as SHA-256 tombstones.

An order, subscription or customer the shop sends again under an erased learner's e-mail resolves
to the learner's pseudonym (bridge.services.privacy erases), so nothing personal comes back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session

from bridge.rules.entitlements import normalise_email
from bridge.store.bulk import among, built, listed, table_of
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
    table = table_of(ErasedIdentity)
    statement = built(
        "erased by key",
        lambda: select(table.c.key_hash, table.c.learner_id).where(
            among(table.c.key_hash, name="keys")
        ),
    )
    rows = session.execute(statement, {"keys": listed(sorted(hashes))}).all()
    return {hashes[key_hash]: int(learner_id) for key_hash, learner_id in rows}
