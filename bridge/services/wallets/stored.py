"""What the Open Badges API serves and keeps for a learner: their credentials and records (the
bridge's, as compact JWS) followed by the credentials apps stored for them by upsertCredential
(as they were sent), the upsert itself, and the learner's wallet data for export and erasure.

Every function works inside the caller's session and unit of work; the caller commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from bridge.rules.wallets import JSON_FORMAT, Page, Upsert, names_the_bridge
from bridge.services.wallets.grants import revoke_tokens
from bridge.store.models import Credential, WalletClient, WalletCredential, WalletToken

CREATED, REPLACED, REFUSED = "created", "replaced", "refused"


@dataclass
class CredentialPage:
    """One page of getCredentials: VC-JWTs (``compact``) and JSON credentials (``documents``),
    and how many there are in all."""

    compact: list[str] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def learner_credentials(session: Session, learner_id: int, page: Page) -> CredentialPage:
    """One page of the learner's live credentials and records, then the ones apps stored.

    The bridge's come first, oldest first (by id, so pages do not shift as new ones are issued),
    revoked ones left out; then the stored ones, first stored first. ``since`` keeps those issued
    (or stored, or replaced) after it.
    """
    ours: list[Any] = [
        col(Credential.learner_id) == learner_id,
        col(Credential.revoked_at).is_(None),
    ]
    theirs: list[Any] = [col(WalletCredential.learner_id) == learner_id]
    if page.since is not None:
        ours.append(col(Credential.issued_at) > page.since)
        theirs.append(col(WalletCredential.updated_at) > page.since)
    issued = int(session.exec(select(func.count()).select_from(Credential).where(*ours)).one())
    stored = int(
        session.exec(select(func.count()).select_from(WalletCredential).where(*theirs)).one()
    )
    result = CredentialPage(total=issued + stored)
    if page.offset < issued:
        result.compact += session.exec(
            select(Credential.jwt)
            .where(*ours)
            .order_by(col(Credential.id))
            .offset(page.offset)
            .limit(page.limit)
        ).all()
    room = page.limit - len(result.compact)
    if room > 0:
        rows = session.exec(
            select(WalletCredential)
            .where(*theirs)
            .order_by(col(WalletCredential.id))
            .offset(max(page.offset - issued, 0))
            .limit(room)
        ).all()
        for row in rows:
            if row.form == JSON_FORMAT:
                result.documents.append(json.loads(row.content))
            else:
                result.compact.append(row.content)
    return result


def _bridge_issued(session: Session, upsert: Upsert, public_url: str) -> bool:
    if names_the_bridge(upsert, public_url):
        return True
    tail = upsert.id.rstrip("/").rsplit("/", 1)[-1].removeprefix("urn:uuid:").lower()
    if len(tail) != 36:
        return False
    return session.exec(select(Credential.id).where(Credential.uuid == tail)).first() is not None


def upsert_credential(
    session: Session,
    learner_id: int,
    client_id: str,
    upsert: Upsert,
    *,
    public_url: str,
    now: datetime,
) -> str:
    """Store the credential for the learner: ``created``, or ``replaced`` when the learner has
    one with the same issuer and id (the spec's equality); ``refused`` (nothing stored) when it
    names a credential the bridge issued, which an app never replaces."""
    if _bridge_issued(session, upsert, public_url):
        return REFUSED
    row = session.exec(
        select(WalletCredential).where(
            WalletCredential.learner_id == learner_id, WalletCredential.key == upsert.key
        )
    ).first()
    outcome = REPLACED
    if row is None:
        outcome = CREATED
        row = WalletCredential(
            learner_id=learner_id,
            key=upsert.key,
            credential_id=upsert.id,
            issuer_id=upsert.issuer_id,
            client_id=client_id,
            form=upsert.form,
            content=upsert.text,
            created_at=now,
            updated_at=now,
        )
    row.client_id, row.form, row.content, row.updated_at = client_id, upsert.form, upsert.text, now
    session.add(row)
    session.flush()
    return outcome


def _stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def wallet_export(session: Session, learner_id: int) -> dict[str, list[dict[str, Any]]]:
    """The learner's wallet data for their export: every app they connected (its name, the
    scopes it was given, when it connected and was last used, whether it still can), and the
    credentials apps stored for them, as stored."""
    rows = session.exec(
        select(WalletToken, WalletClient)
        .join(WalletClient, col(WalletClient.client_id) == col(WalletToken.client_id))
        .where(WalletToken.learner_id == learner_id)
        .order_by(col(WalletToken.issued_at), col(WalletToken.id))
    ).all()
    apps: dict[str, dict[str, Any]] = {}
    for token, client in rows:
        app = apps.setdefault(
            client.client_id,
            {
                "id": client.client_id,
                "name": client.client_name,
                "uri": client.client_uri,
                "scope": [],
                "connected_at": _stamp(token.issued_at),
                "last_used_at": None,
                "disconnected": True,
            },
        )
        app["scope"] = sorted(set(app["scope"]) | set(token.scope.split()))
        used = _stamp(token.last_used_at)
        if used and (app["last_used_at"] is None or used > app["last_used_at"]):
            app["last_used_at"] = used
        if token.revoked_at is None and client.blocked_at is None:
            app["disconnected"] = False
    stored = session.exec(
        select(WalletCredential)
        .where(WalletCredential.learner_id == learner_id)
        .order_by(col(WalletCredential.id))
    ).all()
    return {
        "apps": list(apps.values()),
        "credentials": [
            {
                "id": row.id,
                "credential_id": row.credential_id,
                "issuer_id": row.issuer_id,
                "stored_by": row.client_id,
                "form": row.form,
                "content": row.content,
                "created_at": _stamp(row.created_at),
                "updated_at": _stamp(row.updated_at),
            }
            for row in stored
        ],
    }


def erase_wallet(session: Session, learner_id: int, now: datetime) -> tuple[int, int]:
    """Erasure: every app's access to the learner ends (their tokens revoked) and the
    credentials apps stored for them are deleted; (tokens revoked, credentials deleted)."""
    revoked = revoke_tokens(session, now, learner_id=learner_id)
    result = session.execute(
        delete(WalletCredential).where(col(WalletCredential.learner_id) == learner_id)
    )
    return revoked, int(getattr(result, "rowcount", 0) or 0)
