"""The console login and its throttle: attempts counted per client address and per account
before any password is evaluated.

An attempt first takes one unit of its address's budget and then of its account's, each in
one atomic statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, the same on SQLite
and PostgreSQL), and only then is its password evaluated. A good password gives its own two
units back; nothing else lowers a count, so another account's success clears nothing. However
many requests arrive at once, then, at most the budget's number of wrong passwords is evaluated
per window. The account is the submitted e-mail whether or not an operator has it, and an
unknown one is checked against a dummy hash: answers and timing say nothing of who exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, case, delete, literal, update
from sqlmodel import Session

from bridge.rules.entitlements import normalise_email
from bridge.services.operations.operators import OperatorView, authenticate
from bridge.store.bulk import insert_or_update, table_of
from bridge.store.db import unit_of_work
from bridge.store.models import LoginThrottle

# Wrong passwords one address may try, and one account may be tried with, per window.
ADDRESS_LIMIT = 5
ACCOUNT_LIMIT = 10
WINDOW = timedelta(minutes=15)
ADDRESS, ACCOUNT = "address", "account"


@dataclass(frozen=True)
class Count:
    """One key's count after this attempt took its unit."""

    scope: str  # ADDRESS or ACCOUNT
    key: str
    attempts: int
    window_start: datetime
    limit: int

    def retry_after(self, now: datetime) -> timedelta:
        """How long until this key's window ends (at least a second)."""
        return max(self.window_start + WINDOW - now, timedelta(seconds=1))


@dataclass(frozen=True)
class Attempt:
    """The units one login attempt took, address first."""

    counts: tuple[Count, ...]

    @property
    def refused(self) -> Count | None:
        """The first key already past its budget: this attempt may not evaluate a password."""
        return next((c for c in self.counts if c.attempts > c.limit), None)

    @property
    def spent(self) -> Count | None:
        """The first key whose budget this attempt used up (locked if its password is wrong)."""
        return next((c for c in self.counts if c.attempts >= c.limit), None)


@dataclass(frozen=True)
class LoginResult:
    """The operator on a good password; else ``locked`` (answer 429) or neither (401)."""

    operator: OperatorView | None
    locked: Count | None = None


def address_key(address: str) -> str:
    return f"{ADDRESS}:{address[:64]}"


def account_key(email: str) -> str:
    """The account as counted: a digest, so no typed text (a password in the wrong field,
    say) is stored."""
    digest = hashlib.sha256(normalise_email(email).encode("utf-8", "replace")).hexdigest()
    return f"{ACCOUNT}:{digest}"


def _take(session: Session, scope: str, key: str, limit: int, now: datetime) -> Count:
    table = table_of(LoginThrottle)
    at = literal(now, table.c.window_start.type)
    expired = table.c.window_start <= literal(now - WINDOW, table.c.window_start.type)
    statement = insert_or_update(
        session,
        table,
        ["key"],
        {
            "attempts": case((expired, 1), else_=table.c.attempts + 1),
            "window_start": case((expired, at), else_=table.c.window_start),
            "last_at": at,
        },
    ).values(key=key, attempts=1, window_start=now, last_at=now)
    attempts, window_start = session.execute(
        statement.returning(table.c.attempts, table.c.window_start)
    ).one()
    return Count(scope, key, int(attempts), window_start, limit)


def take_attempt(engine: Engine, address: str, email: str, now: datetime) -> Attempt:
    """Count one login attempt for the address and then for the account (committed before
    any password is looked at); a refused address does not count against the account."""
    with unit_of_work(engine) as session:
        counts = [_take(session, ADDRESS, address_key(address), ADDRESS_LIMIT, now)]
        if counts[0].attempts <= ADDRESS_LIMIT:
            counts.append(_take(session, ACCOUNT, account_key(email), ACCOUNT_LIMIT, now))
        session.commit()
    if counts[0].attempts == 1:
        # A new window for this address: a cheap moment to drop the windows that have ended.
        forget_ended_windows(engine, now)
    return Attempt(tuple(counts))


def give_back(engine: Engine, attempt: Attempt) -> None:
    """A good password returns its own units (only within the window they were taken in)."""
    table = table_of(LoginThrottle)
    with unit_of_work(engine) as session:
        for count in attempt.counts:
            session.execute(
                update(table)
                .where(
                    and_(
                        table.c.key == count.key,
                        table.c.window_start == count.window_start,
                        table.c.attempts > 0,
                    )
                )
                .values(attempts=table.c.attempts - 1)
            )
        session.commit()


def forget_ended_windows(engine: Engine, now: datetime) -> int:
    """Delete the counts whose window has ended; returns how many."""
    table = table_of(LoginThrottle)
    with unit_of_work(engine) as session:
        gone = session.exec(delete(table).where(table.c.window_start <= now - WINDOW)).rowcount
        session.commit()
        return int(gone or 0)


def check_login(
    engine: Engine, address: str, email: str, password: str, now: datetime
) -> LoginResult:
    """Take the attempt's units, then evaluate the password (never past the budget)."""
    attempt = take_attempt(engine, address, email, now)
    refused = attempt.refused
    if refused is not None:
        return LoginResult(None, refused)
    operator = authenticate(engine, email, password, now)
    if operator is None:
        return LoginResult(None, attempt.spent)
    give_back(engine, attempt)
    return LoginResult(operator)
