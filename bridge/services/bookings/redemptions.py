"""Spending credits: redeem some for a booking, refund a cancelled booking's credits once.

Use cases take a session and leave the commit to the caller, so an error leaves nothing
written. Work on one learner is serialised by locking the learner row (SQLite: BEGIN IMMEDIATE
serialises all writers), so the balance read before a debit is still the balance when it lands.
An Idempotency-Key is stored with the first successful response and that response is replayed
for the same key; failures store nothing, so a repeat after a failure is judged afresh. Keys are
per API token (``token_key``): two tokens sending one key make two requests.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bridge.errors import PermanentError
from bridge.rules.bookings.events import RedemptionStatus
from bridge.rules.entitlements import normalise_email
from bridge.rules.words import did_you_mean
from bridge.services.ledger import (
    UnknownLearner,
    active_perks,
    balances,
    expire_learner,
    find_learner,
    lock_learner,
)
from bridge.services.writeback import enqueue_customer_meta
from bridge.store.db import unit_of_work
from bridge.store.ids import MAX_ROW_ID, id_of
from bridge.store.models import IdempotencyRecord, Learner, LedgerEntry, Offer, Redemption, utcnow

# Credit types that exist whatever the catalogue says: mentor time and portfolio reviews.
BASE_CREDIT_TYPES = frozenset({"mentor_minutes", "portfolio_reviews"})
MAX_AMOUNT = 1_000_000
MAX_TEXT = 200
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
# Ids are 64-bit in WooCommerce (customers) and 32-bit here (redemptions); larger never exists.
MAX_CUSTOMER_ID = 2**63 - 1
REDEEM = "redeem"
REQUEST_FIELDS = ("learner", "credit_type", "amount", "reference", "mentor")


class InvalidRequest(PermanentError):
    """A request field is missing or malformed; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class InsufficientCredits(PermanentError):
    """The learner's balance of that credit type does not cover the amount."""

    def __init__(self, credit_type: str, requested: int, balance: int) -> None:
        self.credit_type = credit_type
        self.requested = requested
        self.balance = balance
        super().__init__(f"not enough {credit_type}: {requested} requested, balance is {balance}")


class RedemptionNotFound(PermanentError):
    """No redemption has that id."""


class IdempotencyKeyReused(PermanentError):
    """The Idempotency-Key was first used for a different request."""

    def __init__(
        self,
        message: str,
        differences: Mapping[str, tuple[Any, Any]] | None = None,
        first_id: Any = None,
    ) -> None:
        super().__init__(message)
        # field -> (the first request's value, this one's), and the first redemption's id:
        # what the CLI tells a person who ran one booking twice with different flags.
        self.differences = dict(differences or {})
        self.first_id = first_id


def token_key(key: str, token_name: str | None) -> str:
    """An Idempotency-Key as stored: an API token's own ("token <name> <key>"), the CLI's as
    given.

    Keys belong to the token's name, not its row: a token rotated under the same name (revoked,
    made again) keeps them, and a rebuilt database derives the same keys (and credential ids).
    Neither names nor keys hold a space, so no token's key can be taken for another's or the
    CLI's. A key too long for the column with its prefix is stored by its SHA-256 (with a
    space, so that no key sent can be taken for it either).
    """
    if token_name is None:
        return key
    stored = f"token {token_name} {key}"
    if len(stored) <= 128:
        return stored
    # 160 bits of the digest: the longest name (64) with them stays within the column.
    return f"token {token_name} sha256 {hashlib.sha256(key.encode()).hexdigest()[:40]}"


def sent_key(stored: str) -> str:
    """The key as its sender sent it (``token_key`` undone where it can be)."""
    parts = stored.split(" ")
    return parts[2] if len(parts) == 3 and parts[0] == "token" else stored


@dataclass(frozen=True)
class RedeemRequest:
    """A validated redemption request; ``learner`` is a normalised e-mail or a customer id.

    ``token_name`` is the API token's that sent it (None from the CLI): its keys are its own.
    """

    learner: str | int
    credit_type: str
    amount: int
    reference: str
    mentor: str
    idempotency_key: str
    token_name: str | None = None

    @property
    def stored_key(self) -> str:
        return token_key(self.idempotency_key, self.token_name)

    def fingerprint(self) -> str:
        meaning = {
            "learner": self.learner,
            "credit_type": self.credit_type,
            "amount": self.amount,
            "reference": self.reference,
            "mentor": self.mentor,
        }
        return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RedeemResult:
    """The response body of a redemption, and whether it is a replay of an earlier one."""

    body: dict[str, Any]
    replayed: bool
    status_code: int = 201


@dataclass(frozen=True)
class RefundResult:
    body: dict[str, Any]
    refunded_now: bool  # False when it had been refunded before: nothing credited this time


def _text(body: Mapping[str, Any], name: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(name, "is required")
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(name, "must be a string")
    if len(value) > limit:
        raise InvalidRequest(name, f"must be at most {limit} characters")
    value = value.strip()
    if required and not value:
        raise InvalidRequest(name, "must not be empty")
    # Control characters and lone surrogates are never meant, and PostgreSQL refuses NUL.
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise InvalidRequest(name, "must not contain control characters")
    return value


def learner_ref(value: Any, name: str = "learner") -> str | int:
    """An e-mail (normalised) or a WooCommerce customer id, as a request names a learner."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value <= MAX_CUSTOMER_ID:
            raise InvalidRequest(name, "a customer id must be a positive whole number")
        return value
    if not isinstance(value, str):
        raise InvalidRequest(name, "must be an e-mail address or a customer id")
    text = _text({name: value}, name, required=True, limit=254)
    if text.isascii() and text.isdigit():  # '¹'.isdigit() is true, and int('¹') fails
        number = int(text)
        if not 0 < number <= MAX_CUSTOMER_ID:
            raise InvalidRequest(name, "a customer id must be a positive whole number")
        return number
    return normalise_email(text)


def redeem_request(
    body: Any,
    idempotency_key: str | None,
    known_credit_types: Iterable[str],
    token_name: str | None = None,
) -> RedeemRequest:
    """Check a redemption request, naming the first field that is wrong."""
    if idempotency_key is None or not idempotency_key.strip():
        raise InvalidRequest("Idempotency-Key", "header is required")
    if not IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidRequest("Idempotency-Key", "must be 1-128 visible ASCII characters")
    if not isinstance(body, Mapping):
        raise InvalidRequest("body", "must be a JSON object")
    unknown = sorted(str(name) for name in body if name not in REQUEST_FIELDS)
    if unknown:
        # Refused rather than ignored, so a misspelt optional field does not go unnoticed.
        raise InvalidRequest(unknown[0], "is not a field of a redemption request")
    if body.get("learner") is None:
        raise InvalidRequest("learner", "is required")
    learner = learner_ref(body["learner"])
    credit_type = _text(body, "credit_type", required=True, limit=64)
    known = set(known_credit_types)
    if credit_type not in known:
        names = ", ".join(sorted(known))
        hint = did_you_mean(credit_type, known)
        raise InvalidRequest(
            "credit_type",
            f"unknown credit type {credit_type!r}; {hint + ' ' if hint else ''}known: {names}",
        )
    amount = body.get("amount")
    if amount is None:
        raise InvalidRequest("amount", "is required")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidRequest("amount", "must be a whole number")
    if amount <= 0:
        raise InvalidRequest("amount", "must be greater than zero")
    if amount > MAX_AMOUNT:
        raise InvalidRequest("amount", f"must be at most {MAX_AMOUNT}")
    return RedeemRequest(
        learner=learner,
        credit_type=credit_type,
        amount=amount,
        reference=_text(body, "reference", required=True),
        mentor=_text(body, "mentor", required=False),
        idempotency_key=idempotency_key,
        token_name=token_name,
    )


def stored_credit_types(session: Session) -> set[str]:
    """Mentor minutes, portfolio reviews, and every type the ledger or a stored offer knows.

    Offers are stored (by the catalogue sync) with their definition JSON, whose ``credits`` maps
    credit type to amount; types once granted stay redeemable after their offer is gone.
    """
    types = set(BASE_CREDIT_TYPES)
    types.update(session.exec(select(LedgerEntry.credit_type).distinct()).all())
    for definition in session.exec(select(Offer.definition)).all():
        credits = (definition or {}).get("credits") if isinstance(definition, dict) else None
        if isinstance(credits, Mapping):
            types.update(str(name) for name in credits)
    return types


def redemption_view(
    redemption: Redemption, learner: Learner, balance_after: int | None = None
) -> dict[str, Any]:
    """A redemption as the API and the CLI show it."""
    view: dict[str, Any] = {
        "id": redemption.id,
        "learner": {
            "id": learner.id,
            "email": learner.email,
            "customer_id": learner.woo_customer_id,
        },
        "credit_type": redemption.credit_type,
        "amount": redemption.amount,
        "reference": redemption.reference,
        "mentor": redemption.mentor,
        "status": redemption.status,
        "created_at": redemption.created_at.isoformat(),
        "refunded_at": redemption.refunded_at.isoformat() if redemption.refunded_at else None,
    }
    if balance_after is not None:
        view["balance_after"] = balance_after
    return view


def _replay(record: IdempotencyRecord, request: RedeemRequest) -> RedeemResult:
    if record.operation != REDEEM or record.fingerprint != request.fingerprint():
        first = record.response or {}
        raise IdempotencyKeyReused(
            f"Idempotency-Key {request.idempotency_key!r} was used for a different request",
            _differences(first, request) if record.operation == REDEEM else None,
            first.get("id"),
        )
    return RedeemResult(dict(record.response or {}), replayed=True, status_code=record.status_code)


def _differences(first: Mapping[str, Any], request: RedeemRequest) -> dict[str, tuple[Any, Any]]:
    """What differs between the first redemption of a key (its stored answer) and a request."""
    learner = first.get("learner") or {}
    found = {
        field: (first.get(field) or "", getattr(request, field) or "")
        for field in ("credit_type", "amount", "reference", "mentor")
        if (first.get(field) or "") != (getattr(request, field) or "")
    }
    if request.learner not in (learner.get("email"), learner.get("customer_id")):
        found["learner"] = (learner.get("email"), request.learner)
    return found


def _record(
    session: Session, request: RedeemRequest, *, fresh: bool = False
) -> IdempotencyRecord | None:
    """The stored answer for the request's key: the token's own, else one stored before keys
    were per token (those keys were shared by every token and the CLI, and still are)."""
    keys = [request.stored_key]
    if request.token_name is not None:
        keys.append(request.idempotency_key)
    for key in keys:
        statement = select(IdempotencyRecord).where(IdempotencyRecord.key == key)
        if fresh:
            statement = statement.execution_options(populate_existing=True)
        record = session.exec(statement).first()
        if record is not None:
            return record
    return None


def redeem_checked(session: Session, request: RedeemRequest) -> RedeemResult:
    """Debit the learner when the balance covers the amount; replay the first result of a key.

    ``request`` is already checked by ``redeem_request``. Raises UnknownLearner,
    InsufficientCredits (with the balance) or IdempotencyKeyReused; the caller commits on
    success.
    """
    record = _record(session, request)
    if record is not None:
        return _replay(record, request)
    learner = find_learner(session, request.learner)
    if learner is None:
        raise UnknownLearner(f"no learner is known as {request.learner!r}")
    learner_id = id_of(learner)
    lock_learner(session, learner_id)
    # A request with the same key may have committed while this one waited for the lock.
    record = _record(session, request, fresh=True)
    if record is not None:
        return _replay(record, request)
    # Credits past their expiry must not be spendable before the expiry job gets to them.
    expire_learner(session, learner_id, utcnow())
    balance = balances(session, learner_id).get(request.credit_type, 0)
    if balance < request.amount:
        raise InsufficientCredits(request.credit_type, request.amount, balance)
    redemption = debit_credits(
        session,
        learner,
        request.credit_type,
        request.amount,
        request.reference,
        request.mentor,
        request.stored_key,
    )
    body = redemption_view(redemption, learner, balance_after=balance - request.amount)
    session.add(
        IdempotencyRecord(
            key=request.stored_key,
            operation=REDEEM,
            fingerprint=request.fingerprint(),
            status_code=201,
            response=body,
        )
    )
    session.flush()
    return RedeemResult(body, replayed=False)


def debit_credits(
    session: Session,
    learner: Learner,
    credit_type: str,
    amount: int,
    reference: str,
    mentor: str,
    key: str,
    *,
    spends_first: int | None = None,
) -> Redemption:
    """Append the debit row and its redemption; the caller has locked the learner and checked
    the balance. ``key`` (unique, at most 128 characters) identifies the redemption.

    ``spends_first`` names a grant the debit takes from before any other (the complimentary
    first call): the expiry rules read a debit's ``reverses_id`` as that grant.
    """
    source_key = f"redemption:{key}"
    note = reference + (f" with {mentor}" if mentor else "")
    learner_id = id_of(learner)
    entry = LedgerEntry(
        learner_id=learner_id,
        credit_type=credit_type,
        amount=-amount,
        reason="redemption",
        grant_key=source_key,
        source_key=source_key,
        note=note[:500],
        reverses_id=spends_first,
    )
    session.add(entry)
    session.flush()
    redemption = Redemption(
        learner_id=learner_id,
        credit_type=credit_type,
        amount=amount,
        reference=reference[:MAX_TEXT],
        mentor=mentor[:MAX_TEXT],
        idempotency_key=key,
        ledger_entry_id=id_of(entry),
    )
    session.add(redemption)
    session.flush()
    enqueue_customer_meta(session, learner_id, active_perks(session, learner_id))
    return redemption


def refund_redemption(session: Session, redemption_id: int) -> RefundResult:
    """Credit a redemption back with a reversal row, once; a second refund changes nothing."""
    if not 0 < redemption_id <= MAX_ROW_ID:
        raise RedemptionNotFound(f"no redemption has id {redemption_id}")
    redemption = session.get(Redemption, redemption_id)
    if redemption is None:
        raise RedemptionNotFound(f"no redemption has id {redemption_id}")
    learner = lock_learner(session, redemption.learner_id)
    assert learner is not None  # a foreign key guarantees it
    # Read again under the lock: a concurrent refund may have committed while this one waited.
    redemption = session.exec(
        select(Redemption)
        .where(Redemption.id == redemption_id)
        .execution_options(populate_existing=True)
    ).one()
    if redemption.status == RedemptionStatus.REFUNDED:
        return RefundResult(redemption_view(redemption, learner), refunded_now=False)
    debit = session.get(LedgerEntry, redemption.ledger_entry_id)
    assert debit is not None
    refund = LedgerEntry(
        learner_id=redemption.learner_id,
        credit_type=redemption.credit_type,
        amount=redemption.amount,
        reason="redemption_refund",
        grant_key=debit.grant_key,
        source_key=f"{debit.source_key}:refund",
        reverses_id=debit.id,
        note=f"refund of redemption {redemption.id}",
    )
    session.add(refund)
    session.flush()
    redemption.status = RedemptionStatus.REFUNDED
    redemption.refunded_at = utcnow()
    redemption.refund_entry_id = refund.id
    session.add(redemption)
    session.flush()
    enqueue_customer_meta(session, id_of(learner), active_perks(session, id_of(learner)))
    balance = balances(session, id_of(learner)).get(redemption.credit_type, 0)
    return RefundResult(
        redemption_view(redemption, learner, balance_after=balance), refunded_now=True
    )


def redeem_in_transaction(
    engine: Engine,
    body: Mapping[str, Any],
    idempotency_key: str | None,
    credit_types: Iterable[str] | None = None,
    *,
    token_name: str | None = None,
) -> RedeemResult:
    """Check, redeem and commit in one unit of work; what the API and the CLI both call.

    ``credit_types`` defaults to ``stored_credit_types`` of the database; ``token_name`` is
    the API token's (its keys are its own). A unique-key conflict means the same key was used at
    the same moment for another learner: the second attempt then sees the first one's record
    and replays it or refuses the key.
    """
    for attempt in (1, 2):
        try:
            with unit_of_work(engine) as session:
                types = stored_credit_types(session) if credit_types is None else credit_types
                request = redeem_request(body, idempotency_key, types, token_name)
                result = redeem_checked(session, request)
                session.commit()
                return result
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def refund_in_transaction(engine: Engine, redemption_id: int) -> RefundResult:
    """Refund and commit in one unit of work."""
    with unit_of_work(engine) as session:
        result = refund_redemption(session, redemption_id)
        session.commit()
        return result
