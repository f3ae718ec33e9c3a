"""Registered apps, the codes learners grant them and the tokens they hold, stored as hashes.

Every function works inside the caller's session and unit of work; the caller commits.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bridge.store.models import Learner, WalletClient, WalletCode, WalletToken

CODE_LIFETIME = timedelta(seconds=600)
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=90)
PROFILE_NAMESPACE = uuid.UUID("5b0f7d0e-3c55-4a44-9d3e-0b3e2c6f5a32")


def secret_hash(secret: str) -> str:
    """What is stored for a secret (client secret, code, token): its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def register_client(
    session: Session, client_id: str, secret: str, metadata: dict[str, Any], now: datetime
) -> WalletClient:
    """Store a client registered by RFC 7591 (its secret as a hash only)."""
    row = WalletClient(
        client_id=client_id,
        secret_hash=secret_hash(secret),
        client_name=str(metadata.get("client_name", ""))[:200],
        client_uri=str(metadata.get("client_uri", ""))[:500],
        scope=str(metadata.get("scope", ""))[:500],
        client_metadata=metadata,
        registered_at=now,
    )
    session.add(row)
    session.flush()
    return row


def find_client(session: Session, client_id: str) -> WalletClient | None:
    """The registered client, blocked or not (None if unknown)."""
    if not client_id or len(client_id) > 64:
        return None
    return session.exec(select(WalletClient).where(WalletClient.client_id == client_id)).first()


def save_code(
    session: Session,
    code: str,
    *,
    client_id: str,
    learner_id: int,
    redirect_uri: str,
    scope: str,
    challenge: str,
    method: str,
    now: datetime,
) -> WalletCode:
    row = WalletCode(
        code_hash=secret_hash(code),
        client_id=client_id,
        learner_id=learner_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=challenge,
        code_challenge_method=method,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    session.add(row)
    session.flush()
    return row


def claim_code(session: Session, code: str, client_id: str, now: datetime) -> WalletCode | None:
    """The code, marked used, if it is this client's, unexpired and never used before.

    A second use finds it used: the tokens issued from it are revoked (RFC 6749 §4.1.2) and
    None answered. Marking is one conditional UPDATE, so two racing exchanges cannot both win.
    """
    row = session.exec(select(WalletCode).where(WalletCode.code_hash == secret_hash(code))).first()
    if row is None or row.client_id != client_id:
        return None
    if row.used_at is not None:
        revoke_tokens(session, now, code_id=row.id)
        return None
    if row.expires_at <= now:
        return None
    claimed = session.execute(
        update(WalletCode)
        .where(col(WalletCode.id) == row.id, col(WalletCode.used_at).is_(None))
        .values(used_at=now)
    )
    return row if getattr(claimed, "rowcount", 0) == 1 else None


def save_token(
    session: Session,
    token: dict[str, Any],
    *,
    client_id: str,
    learner_id: int,
    code_id: int | None,
    now: datetime,
) -> WalletToken:
    """Store an issued token pair as hashes, with its expiry times."""
    refresh = token.get("refresh_token")
    row = WalletToken(
        access_hash=secret_hash(token["access_token"]),
        refresh_hash=secret_hash(refresh) if refresh else None,
        client_id=client_id,
        learner_id=learner_id,
        code_id=code_id,
        scope=str(token.get("scope", "")),
        issued_at=now,
        expires_at=now + timedelta(seconds=int(token.get("expires_in", 3600))),
        refresh_expires_at=now + REFRESH_LIFETIME if refresh else None,
    )
    session.add(row)
    session.flush()
    return row


def find_token(session: Session, secret: str, *, refresh: bool = False) -> WalletToken | None:
    """The token row an access (or refresh) token names, revoked or not."""
    if not secret or len(secret) > 200:
        return None
    column = WalletToken.refresh_hash if refresh else WalletToken.access_hash
    return session.exec(select(WalletToken).where(column == secret_hash(secret))).first()


def revoke_tokens(
    session: Session,
    now: datetime,
    *,
    token_id: int | None = None,
    code_id: int | None = None,
    client_id: str | None = None,
    learner_id: int | None = None,
) -> int:
    """Revoke the live tokens matching every given filter; how many were revoked."""
    statement = update(WalletToken).where(col(WalletToken.revoked_at).is_(None))
    if token_id is not None:
        statement = statement.where(col(WalletToken.id) == token_id)
    if code_id is not None:
        statement = statement.where(col(WalletToken.code_id) == code_id)
    if client_id is not None:
        statement = statement.where(col(WalletToken.client_id) == client_id)
    if learner_id is not None:
        statement = statement.where(col(WalletToken.learner_id) == learner_id)
    result = session.execute(statement.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def token_is_live(row: WalletToken, client: WalletClient | None, now: datetime) -> bool:
    """An access token works: not revoked, not expired, its client known and not blocked."""
    return (
        row.revoked_at is None
        and row.expires_at > now
        and client is not None
        and client.blocked_at is None
    )


def touch(session: Session, row: WalletToken, now: datetime) -> bool:
    """Remember when the app last used its access (shown to the learner). False when the
    learner was erased since: their tokens are revoked and the call is refused."""
    learner = session.get(Learner, row.learner_id)
    if learner is None or learner.erased_at is not None:
        revoke_tokens(session, now, learner_id=row.learner_id)
        return False
    session.execute(
        update(WalletToken).where(col(WalletToken.id) == row.id).values(last_used_at=now)
    )
    return True


@dataclass(frozen=True)
class ConnectedApp:
    """An app holding live access (or a live refresh token) to a learner's credentials."""

    client_id: str
    name: str
    uri: str
    scope: str
    connected_at: datetime
    last_used_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "uri": self.uri,
            "scope": self.scope.split(),
            "connected_at": self.connected_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "last_used_at": (
                self.last_used_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.last_used_at else None
            ),
        }


def connected_apps(session: Session, learner_id: int, now: datetime) -> list[ConnectedApp]:
    """The apps that can still reach the learner's credentials, first connected first."""
    rows = session.exec(
        select(WalletToken, WalletClient)
        .join(WalletClient, col(WalletClient.client_id) == col(WalletToken.client_id))
        .where(
            WalletToken.learner_id == learner_id,
            col(WalletToken.revoked_at).is_(None),
            col(WalletClient.blocked_at).is_(None),
        )
        .order_by(col(WalletToken.issued_at), col(WalletToken.id))
    ).all()
    apps: dict[str, ConnectedApp] = {}
    for token, client in rows:
        alive = token.expires_at > now or (
            token.refresh_expires_at is not None and token.refresh_expires_at > now
        )
        if not alive:
            continue
        seen = apps.get(client.client_id)
        used = max(
            (t for t in (token.last_used_at, seen.last_used_at if seen else None) if t),
            default=None,
        )
        apps[client.client_id] = ConnectedApp(
            client_id=client.client_id,
            name=client.client_name,
            uri=client.client_uri,
            scope=token.scope,
            connected_at=seen.connected_at if seen else token.issued_at,
            last_used_at=used,
        )
    return list(apps.values())


def disconnect(session: Session, learner_id: int, client_id: str, now: datetime) -> int:
    """The learner takes an app's access away: every token it holds for them is revoked."""
    return revoke_tokens(session, now, client_id=client_id, learner_id=learner_id)


def list_clients(session: Session) -> list[dict[str, Any]]:
    """Every registered client with how many learners it holds live tokens for (console)."""
    learners = dict(
        session.execute(
            select(WalletToken.client_id, func.count(func.distinct(WalletToken.learner_id)))
            .where(col(WalletToken.revoked_at).is_(None))
            .group_by(col(WalletToken.client_id))
        ).all()
    )
    rows = session.exec(select(WalletClient).order_by(col(WalletClient.id))).all()
    return [
        {
            "client_id": row.client_id,
            "name": row.client_name,
            "uri": row.client_uri,
            "scope": row.scope.split(),
            "redirect_uris": (row.client_metadata or {}).get("redirect_uris", []),
            "software_id": (row.client_metadata or {}).get("software_id"),
            "registered_at": row.registered_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "blocked_at": row.blocked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if row.blocked_at else None,
            "learners": int(learners.get(row.client_id, 0)),
        }
        for row in rows
    ]


def block_client(session: Session, client_id: str, by: str, now: datetime) -> bool:
    """Block a client: its tokens are revoked and it gets no new ones. False if unknown or
    already blocked (nothing changes)."""
    row = find_client(session, client_id)
    if row is None or row.blocked_at is not None:
        return False
    row.blocked_at = now
    row.blocked_by = by[:254]
    session.add(row)
    revoke_tokens(session, now, client_id=client_id)
    return True


def learner_profile(
    session: Session, learner_id: int, client_id: str, public_url: str
) -> dict[str, Any] | None:
    """The learner's OB 3.0 Profile as this client sees it: an id of its own per client (apps
    cannot match learners by it), the name and e-mail the shop knows."""
    learner = session.get(Learner, learner_id)
    if learner is None or learner.erased_at is not None:
        return None
    subject = uuid.uuid5(PROFILE_NAMESPACE, f"{public_url}|{client_id}|{learner_id}")
    profile: dict[str, Any] = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": f"urn:uuid:{subject}",
        "type": ["Profile"],
        "email": learner.email,
    }
    if learner.name:
        profile["name"] = learner.name
    return profile
