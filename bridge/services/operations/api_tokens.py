"""Bearer tokens for the API: made once, stored only as SHA-256, checked in constant time.

The plain token is shown once when it is made and never stored or logged; the database holds
its SHA-256, which is enough to check a token and useless to present as one. A token holds one
or more scopes, each the least a tool needs: a booking tool redeems (and refunds), a project
platform records events, a phone reads the report.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bridge.errors import PermanentError
from bridge.store.models import ApiToken, utcnow

# What each scope lets a token do; ``write`` (with ``read`` the scopes of tokens made before
# there were more) still means all a token could do then, ``privacy`` is not part of it.
SCOPES: dict[str, str] = {
    "read": "GET /api/v1/learners and the outcome report",
    "redeem": "POST /api/v1/redemptions: spend a learner's credits",
    "refunds": "DELETE /api/v1/redemptions/ID: credit any redemption back",
    "events": "POST /api/v1/events: record outcomes, which can issue credentials",
    "privacy": "GET /api/v1/learners/L/export and POST .../erase: export or erase a learner",
    "write": "read, redeem, refunds and events (the scope of tokens before these existed)",
}
ALIASES: dict[str, frozenset[str]] = {"write": frozenset({"read", "redeem", "refunds", "events"})}
# A recognisable prefix lets secret scanners spot a leaked token; it is no secret itself.
TOKEN_PREFIX = "cb_"  # noqa: S105
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# last_used_at is a hint for people, not an audit log: one write a minute per token is plenty.
TOUCH_INTERVAL = timedelta(seconds=60)


class TokenError(PermanentError):
    """A token command cannot be carried out (bad name or scope, name taken, unknown name)."""


@dataclass(frozen=True)
class TokenIdentity:
    """Who presented a valid token: what the API needs to authorise a request."""

    id: int
    name: str
    scope: str  # as stored: scope names joined by commas

    def allows(self, needed: str) -> bool:
        return needed in granted(self.scope)

    @property
    def read_only(self) -> bool:
        """Whether the token can do nothing but read (so it may travel in an address)."""
        return granted(self.scope) == {"read"}


def parse_scopes(values: Iterable[str]) -> str:
    """Scope names (each value one name or a comma list) as stored: known, once each, in the
    order of SCOPES, without names an alias given already covers."""
    names = {part.strip().lower() for value in values for part in value.split(",")} - {""}
    unknown = sorted(names - set(SCOPES))
    if unknown or not names:
        shown = f" (saw {', '.join(repr(name) for name in unknown)})" if unknown else ""
        raise TokenError(f"scope must be one or more of {', '.join(SCOPES)}{shown}")
    covered: set[str] = set()
    for alias in names & ALIASES.keys():
        covered |= ALIASES[alias]
    return ",".join(name for name in SCOPES if name in names and name not in covered)


def scope_names(scope: str) -> list[str]:
    """A stored scope as its list of names."""
    return [name for name in scope.split(",") if name]


def granted(scope: str) -> frozenset[str]:
    """What a stored scope grants: its names, an alias (write) replaced by what it stands for."""
    names = scope_names(scope)
    return frozenset(name for name in names if name not in ALIASES).union(
        *(ALIASES[name] for name in names if name in ALIASES)
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _active(session: Session, name: str) -> ApiToken | None:
    return session.exec(
        select(ApiToken).where(ApiToken.name == name, col(ApiToken.revoked_at).is_(None))
    ).first()


def create_token(session: Session, name: str, scope: str | Iterable[str]) -> tuple[ApiToken, str]:
    """A new token; returns the row and the plain token, which exists only in this return value.

    ``scope`` is a scope name, a comma list of them, or several of either.
    """
    if not NAME_PATTERN.match(name):
        raise TokenError(
            f"token name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    scope = parse_scopes([scope] if isinstance(scope, str) else scope)
    if _active(session, name) is not None:
        raise TokenError(f"an active token is already named {name!r}; revoke it first")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, scope=scope, token_hash=hash_token(plain))
    session.add(row)
    session.flush()
    return row, plain


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token ever made, revoked ones included, oldest first."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))).all())


def revoke_token(session: Session, name: str) -> ApiToken:
    """Revoke the active token with this name; it stops working at once."""
    row = _active(session, name)
    if row is None:
        raise TokenError(f"no active token is named {name!r}; `bridge tokens` lists them")
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()
    return row


def authenticate(session: Session, presented: str) -> TokenIdentity | None:
    """The active token matching ``presented``, or None.

    Every active hash is compared with hmac.compare_digest, without stopping at a match, so the
    time taken says nothing about which bytes matched. There are only a handful of tokens.
    """
    wanted = hash_token(presented)
    rows = session.exec(
        select(ApiToken.id, ApiToken.name, ApiToken.scope, ApiToken.token_hash).where(
            col(ApiToken.revoked_at).is_(None)
        )
    ).all()
    found: TokenIdentity | None = None
    for token_id, name, scope, token_hash in rows:
        assert token_id is not None  # a primary key
        if hmac.compare_digest(token_hash.encode("ascii"), wanted.encode("ascii")):
            found = TokenIdentity(id=token_id, name=name, scope=scope)
    return found


def touch(session: Session, token_id: int, now: datetime | None = None) -> None:
    """Record that a token was used, at most once per TOUCH_INTERVAL."""
    now = now or utcnow()
    session.execute(
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) < now - TOUCH_INTERVAL,
            ),
        )
        .values(last_used_at=now)
    )
