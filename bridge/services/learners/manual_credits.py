"""Credits granted or revoked by hand: one set of guard rails for the CLI and the console.

``check_adjustment`` parses what an operator typed; ``preview`` shows the balance before and
after and says which guard rail would refuse it; ``apply_adjustment`` checks again under the
learner's lock, writes the ledger row naming the operator, queues the customer meta write-back
and adds the audit row, all in one unit of work. The guard rails: a whole amount from 1 to
``MAX_AMOUNT``, a reason, a credit type the catalogue confers (unless ``new_type``), no revoke
below zero (unless ``force``), and a grant to an unknown e-mail that is one letter off a known
one is a typo (unless ``new_learner``). A refusal names the override that lifts it
(``AdjustmentRefused.override``), which each edge words its own way (``--force``, a checkbox).

Each adjustment carries a reference (the console's one-time confirmation, a fresh one per CLI
run); the ledger row's source key is made from it, so the same confirmation submitted twice
(a double click, a reload) writes one row.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import CREDIT_TYPE, Catalogue
from bridge.rules.entitlements import normalise_email, plausible_email
from bridge.rules.inbound.payloads import unstorable
from bridge.rules.words import amount_text, credit_text, did_you_mean
from bridge.services.audit import Via, record_action
from bridge.services.catalogue import load_catalogue
from bridge.services.learners.search import near_email, unknown_learner
from bridge.services.ledger import (
    active_perks,
    adjust_credits,
    balances,
    find_learner,
    lock_learner,
    resolve_learner,
)
from bridge.services.writeback import enqueue_customer_meta
from bridge.store.db import unit_of_work
from bridge.store.ids import id_of
from bridge.store.models import Learner, LedgerEntry

MAX_AMOUNT = 1_000_000
REASON_MAX = 300

# What lifts a guard rail (AdjustmentRefused.override).
FORCE, NEW_TYPE, NEW_LEARNER = "force", "new_type", "new_learner"


class AdjustmentRefused(PermanentError):
    """The adjustment is refused; the message says why and ``override`` names the flag that
    would allow it on purpose (``force``, ``new_type``, ``new_learner``), or is empty."""

    def __init__(self, message: str, override: str = "") -> None:
        super().__init__(message)
        self.override = override


@dataclass(frozen=True)
class Adjustment:
    """A manual grant (positive amount) or revoke (negative) and what the operator allowed."""

    learner: int | str  # a learner id (the console) or an e-mail / customer id (the CLI)
    credit_type: str
    amount: int  # signed: positive grants, negative revokes
    reason: str
    force: bool = False  # a revoke may leave a negative balance
    new_type: bool = False  # a credit type the catalogue does not confer
    new_learner: bool = False  # a grant to an e-mail one letter off a known one

    def as_dict(self) -> dict[str, Any]:
        return {
            "learner": self.learner,
            "credit_type": self.credit_type,
            "amount": self.amount,
            "reason": self.reason,
            "force": self.force,
            "new_type": self.new_type,
        }


def check_adjustment(
    learner: int | str,
    credit_type: str,
    amount_text_: str,
    reason: str,
    *,
    revoke: bool,
    force: bool = False,
    new_type: bool = False,
    new_learner: bool = False,
) -> Adjustment:
    """Parse what an operator typed into an adjustment, or say what is wrong with it."""
    credit_type = credit_type.strip()
    if not CREDIT_TYPE.match(credit_type):
        raise AdjustmentRefused("the credit type is lower_snake_case, e.g. mentor_minutes")
    text = amount_text_.strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_AMOUNT:
        raise AdjustmentRefused(f"the amount is a whole number from 1 to {MAX_AMOUNT:,}")
    reason = " ".join(reason.split())
    if not reason:
        raise AdjustmentRefused("say why: the reason is kept on the ledger row")
    if len(reason) > REASON_MAX:
        raise AdjustmentRefused(f"keep the reason under {REASON_MAX} characters")
    for shown, value in (("the learner", str(learner)), ("the reason", reason)):
        problem = unstorable(value)
        if problem is not None:
            raise AdjustmentRefused(f"{shown} holds {problem}; type it again")
    return Adjustment(
        learner,
        credit_type,
        -int(text) if revoke else int(text),
        reason,
        force=force,
        new_type=new_type,
        new_learner=new_learner,
    )


def conferred_credit_types(session_or_engine: Session | Engine, catalogue: Catalogue) -> set[str]:
    """Credit types the catalogue (file and product meta) confers, and the complimentary
    call's: what a manual adjustment may use without ``new_type``."""
    resolved = load_catalogue(session_or_engine, catalogue)
    return {"mentor_minutes"} | {
        credit for offer in resolved.offers.values() for credit in offer.credits
    }


def _learner(session: Session, adjustment: Adjustment, *, create: bool) -> Learner | None:
    """The learner the adjustment is for; a grant to a new, plausible e-mail makes a guest
    when ``create`` (None is returned instead when not)."""
    ref = adjustment.learner
    if isinstance(ref, int):
        found = session.get(Learner, ref)
        if found is None:
            raise AdjustmentRefused(f"no learner {ref}")
        return found
    found = find_learner(session, ref)
    if found is not None:
        return found
    if adjustment.amount > 0 and not adjustment.new_learner and near_email(session, ref):
        # One letter off a known e-mail is a typo, not a prospect, until said otherwise.
        raise AdjustmentRefused(str(unknown_learner(session, ref)), NEW_LEARNER)
    if adjustment.amount > 0 and "@" in ref and not ref.strip().isdigit():
        if not plausible_email(normalise_email(ref)):
            raise AdjustmentRefused(
                f"{ref.strip()!r} is not an e-mail address a new learner "
                "can have (name@domain, no spaces or control characters)"
            )
        # A gift to someone who has not bought yet: a guest, known by e-mail.
        return resolve_learner(session, 0, ref) if create else None
    raise unknown_learner(session, ref)


def _guard(adjustment: Adjustment, email: str, before: int, known_types: Collection[str]) -> None:
    """The guard rails that depend on the learner's balance and the catalogue."""
    credit_type, amount = adjustment.credit_type, adjustment.amount
    if credit_type not in known_types and not adjustment.new_type:
        hint = did_you_mean(credit_type, known_types)
        hint = f"{hint} " if hint else ""
        raise AdjustmentRefused(
            f"the catalogue confers no credit type {credit_type!r}; {hint}known: "
            f"{', '.join(sorted(known_types))}",
            NEW_TYPE,
        )
    if amount < 0 and before + amount < 0 and not adjustment.force:
        raise AdjustmentRefused(
            f"revoking {credit_text(-amount, credit_type)} would leave {email} at "
            f"{amount_text(before + amount, credit_type)} (balance "
            f"{amount_text(before, credit_type)})",
            FORCE,
        )


def preview(
    session: Session, adjustment: Adjustment, known_types: Collection[str]
) -> dict[str, Any]:
    """The balance before and after, without writing anything; AdjustmentRefused when a guard
    rail refuses it."""
    learner = _learner(session, adjustment, create=False)
    before = (
        0 if learner is None else balances(session, id_of(learner)).get(adjustment.credit_type, 0)
    )
    email = learner.email if learner is not None else normalise_email(str(adjustment.learner))
    _guard(adjustment, email, before, known_types)
    return {
        **adjustment.as_dict(),
        "balance_before": before,
        "balance_after": before + adjustment.amount,
    }


def apply_adjustment(
    engine: Engine,
    adjustment: Adjustment,
    reference: str,
    *,
    operator: str,
    via: Via,
    known_types: Collection[str],
) -> dict[str, Any]:
    """Check the guard rails under the learner's lock, then write the ledger row (once per
    reference), queue the customer meta write-back and add the audit row."""
    key = f"manual:{reference}"
    actor = operator if via == Via.CLI else f"{via}:{operator}"
    with unit_of_work(engine) as session:
        existing = session.exec(select(LedgerEntry).where(LedgerEntry.source_key == key)).first()
        if existing is not None:
            learner = session.get(Learner, existing.learner_id)
            assert learner is not None  # the ledger row's foreign key
            return _result(session, learner, existing, applied=False, created=False)
        known_before = isinstance(adjustment.learner, int) or (
            find_learner(session, adjustment.learner) is not None
        )
        learner = _learner(session, adjustment, create=True)
        assert learner is not None  # create=True makes a guest or refuses
        learner_id = id_of(learner)
        lock_learner(session, learner_id)
        before = balances(session, learner_id).get(adjustment.credit_type, 0)
        _guard(adjustment, learner.email, before, known_types)
        entry = adjust_credits(
            session,
            learner,
            adjustment.credit_type,
            adjustment.amount,
            adjustment.reason,
            reference,
            actor=actor,
        )
        enqueue_customer_meta(session, learner_id, active_perks(session, learner_id))
        record_action(
            session,
            operator=operator,
            via=via,
            action="credits.grant" if adjustment.amount > 0 else "credits.revoke",
            subject=f"learner:{learner_id}",
            reason=adjustment.reason,
            details={
                "ledger_entry_id": entry.id,
                "credit_type": adjustment.credit_type,
                "amount": adjustment.amount,
                "balance_before": before,
                "balance_after": before + adjustment.amount,
                **({"force": True} if adjustment.force else {}),
                **({"new_type": True} if adjustment.new_type else {}),
                **({"learner_created": True} if not known_before else {}),
            },
        )
        session.commit()
        return _result(session, learner, entry, applied=True, created=not known_before)


def _result(
    session: Session, learner: Learner, entry: LedgerEntry, *, applied: bool, created: bool
) -> dict[str, Any]:
    return {
        "entry_id": entry.id,
        "learner_id": id_of(learner),
        "amount": entry.amount,
        "credit_type": entry.credit_type,
        "balance": balances(session, id_of(learner)).get(entry.credit_type, 0),
        "applied": applied,
        "learner": learner.email,
        "learner_created": created,
        "by": entry.actor,
    }
