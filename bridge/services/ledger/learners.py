"""Learners: found by e-mail (current or former) or customer id, created once, locked.

A learner row's lock serialises grants and redemptions for that learner; resolving the learner of
an order creates it if new and records every address it was seen with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from bridge.errors import PermanentError
from bridge.rules.entitlements import OrderPayloadError, normalise_email
from bridge.rules.inbound.payloads import unstorable
from bridge.services.ledger.erased import erased_learners
from bridge.store.bulk import insert_ignore
from bridge.store.ids import id_of
from bridge.store.models import Learner, LearnerEmail, utcnow

_Row = TypeVar("_Row", bound=SQLModel)


def lock_row(session: Session, model: type[_Row], *where: Any) -> _Row | None:
    """The first row that matches, locked until the transaction ends."""
    return session.exec(select(model).where(*where).with_for_update()).first()


class UnknownLearner(PermanentError):
    """No learner has that e-mail address or customer id."""


def find_learner(session: Session, ref: str | int) -> Learner | None:
    """A learner by e-mail (current or former) or by WooCommerce customer id."""
    if isinstance(ref, int) or (
        isinstance(ref, str) and ref.strip().isascii() and ref.strip().isdigit()
    ):
        number = int(ref)
        if not 0 < number < 2**63:
            return None  # no BIGINT column holds it: nobody has that id
        return session.exec(select(Learner).where(Learner.woo_customer_id == number)).first()
    email = normalise_email(str(ref))
    if unstorable(email):
        return None  # no row can hold it (and the drivers refuse to send it): nobody has it
    learner = session.exec(select(Learner).where(Learner.email == email)).first()
    if learner is not None:
        return learner
    alias = session.get(LearnerEmail, email)
    return session.get(Learner, alias.learner_id) if alias else None


def lock_learner(session: Session, learner_id: int) -> Learner | None:
    """The learner row, locked until the transaction ends: serialises grants and redemptions."""
    return lock_row(session, Learner, Learner.id == learner_id)


def resolve_learner(session: Session, customer_id: int, email: str) -> Learner:
    """The learner for a customer id and/or e-mail, created if new, and locked.

    A guest (customer id 0) is known by e-mail; when a customer with that e-mail appears, the
    guest's learner becomes theirs, so a guest who registers keeps their history.
    """
    email = normalise_email(email)
    learner = None
    if customer_id:
        learner = lock_row(session, Learner, Learner.woo_customer_id == customer_id)
    if learner is None and email:
        erased = erased_learners(session, [email]).get(email)
        if erased is not None:
            # An address of an erased learner: the pseudonym, and no alias (nothing comes back).
            locked_erased = lock_learner(session, erased)
            assert locked_erased is not None  # a tombstone's learner row is kept
            return locked_erased
        learner = find_learner(session, email)
        if learner is not None and customer_id:
            if learner.woo_customer_id in (None, customer_id):
                learner.woo_customer_id = customer_id
                learner.updated_at = utcnow()
                session.add(learner)
                session.flush()
            else:
                learner = None  # the address belongs to another customer's history
    if learner is None:
        if not email:
            raise OrderPayloadError("order has neither a customer_id nor a billing e-mail")
        placeholder_email = (
            email
            if find_learner(session, email) is None
            else (f"customer-{customer_id}@{email.split('@')[-1]}")
        )
        values: dict[str, Any] = {
            "email": placeholder_email,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        if customer_id:
            values["woo_customer_id"] = customer_id
        insert_ignore(session, Learner, values, ["email"])
        learner = find_learner(session, customer_id or placeholder_email)
        assert learner is not None
    locked = lock_row(session, Learner, Learner.id == id_of(learner))
    assert locked is not None  # just read or inserted in this transaction
    if email:
        insert_ignore(
            session,
            LearnerEmail,
            {"email": email, "learner_id": locked.id, "seen_at": utcnow()},
            ["email"],
        )
    return locked


def apply_customer(session: Session, payload: Mapping[str, Any]) -> Learner | None:
    """A ``customer.*`` payload: follow an e-mail change, keeping the learner and its history."""
    customer_id = payload.get("id")
    email = normalise_email(str(payload.get("email") or ""))
    if not isinstance(customer_id, int) or not customer_id:
        raise OrderPayloadError("customer payload has no field 'id'")
    learner = lock_row(session, Learner, Learner.woo_customer_id == customer_id)
    if learner is None:
        # A customer who bought as a guest is known by an address, old (billing) or new.
        billing_email = normalise_email(str((payload.get("billing") or {}).get("email") or ""))
        if erased_learners(session, [billing_email, email]):
            return None  # an erased learner's former address: nothing is kept
        known = next((e for e in (billing_email, email) if e and find_learner(session, e)), None)
        if known is None:
            return None  # not a learner (yet): their first order creates them
        learner = resolve_learner(session, customer_id, known)
    if learner.erased_at is not None:
        return learner  # an erased learner's account: the shop's new e-mail is not kept
    if email and email != learner.email:
        owner = find_learner(session, email)
        if owner is None or owner.id == learner.id:
            learner.email = email
            learner.updated_at = utcnow()
            session.add(learner)
            session.flush()
            insert_ignore(
                session,
                LearnerEmail,
                {"email": email, "learner_id": learner.id, "seen_at": utcnow()},
                ["email"],
            )
    return learner
