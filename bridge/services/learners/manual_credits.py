"""Credits granted or revoked by hand from the console: checked, previewed, applied once.

The confirmation step carries a one-time reference; the ledger row's source key is made from
it, so submitting the same confirmation twice (a double click, a reload) writes one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bridge.errors import PermanentError
from bridge.rules.catalogue.catalog import CREDIT_TYPE
from bridge.services.ledger import active_perks, adjust_credits, balances, lock_learner
from bridge.services.writeback import enqueue_customer_meta
from bridge.store.db import unit_of_work
from bridge.store.ids import id_of
from bridge.store.models import LedgerEntry

MAX_AMOUNT = 1_000_000


class AdjustmentRefused(PermanentError):
    """The adjustment's type, amount or reason is not acceptable; the message says which."""


@dataclass(frozen=True)
class Adjustment:
    learner_id: int
    credit_type: str
    amount: int  # signed: positive grants, negative revokes
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "learner_id": self.learner_id,
            "credit_type": self.credit_type,
            "amount": self.amount,
            "reason": self.reason,
        }


def check_adjustment(
    learner_id: int, credit_type: str, amount_text: str, reason: str, *, revoke: bool
) -> Adjustment:
    """Parse a form's fields into an adjustment, or say what is wrong with them."""
    credit_type = credit_type.strip()
    if not CREDIT_TYPE.match(credit_type):
        raise AdjustmentRefused("the credit type is lower_snake_case, e.g. mentor_minutes")
    text = amount_text.strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_AMOUNT:
        raise AdjustmentRefused(f"the amount is a whole number from 1 to {MAX_AMOUNT:,}")
    reason = " ".join(reason.split())
    if not reason:
        raise AdjustmentRefused("say why: the reason is kept on the ledger row")
    if len(reason) > 300:
        raise AdjustmentRefused("keep the reason under 300 characters")
    return Adjustment(learner_id, credit_type, -int(text) if revoke else int(text), reason)


def preview(session: Session, adjustment: Adjustment) -> dict[str, Any]:
    """The balance before and after, without writing anything."""
    before = balances(session, adjustment.learner_id).get(adjustment.credit_type, 0)
    return {
        **adjustment.as_dict(),
        "balance_before": before,
        "balance_after": before + adjustment.amount,
    }


def apply_adjustment(
    engine: Engine, adjustment: Adjustment, reference: str, *, by: str
) -> dict[str, Any]:
    """Write the ledger row once per reference and queue the customer meta write-back."""
    key = f"manual:console:{reference}"
    with unit_of_work(engine) as session:
        learner = lock_learner(session, adjustment.learner_id)
        if learner is None:
            raise AdjustmentRefused(f"no learner {adjustment.learner_id}")
        existing = session.exec(select(LedgerEntry).where(LedgerEntry.source_key == key)).first()
        if existing is None:
            entry = adjust_credits(
                session,
                learner,
                adjustment.credit_type,
                adjustment.amount,
                adjustment.reason,
                f"console:{reference}",
                actor=f"console:{by}",
            )
            enqueue_customer_meta(session, id_of(learner), active_perks(session, id_of(learner)))
            session.commit()
            applied = True
        else:
            entry, applied = existing, False
        balance = balances(session, id_of(learner)).get(adjustment.credit_type, 0)
        return {
            "entry_id": entry.id,
            "amount": entry.amount,
            "credit_type": entry.credit_type,
            "balance": balance,
            "applied": applied,
            "learner": learner.email,
        }
