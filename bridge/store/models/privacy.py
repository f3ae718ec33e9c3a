"""What is left of an erased learner: tombstones that keep the shop from bringing them back."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bridge.store.models.columns import utcnow


class ErasedIdentity(SQLModel, table=True):
    """One identity (customer id or e-mail) of an erased learner, kept only as a SHA-256.

    ``key_hash`` is the SHA-256 of ``customer:<id>`` or ``email:<normalised address>``: an order
    or customer the shop sends again under that identity resolves to the pseudonymous learner
    and brings no personal data back, while the table itself names nobody.
    """

    __tablename__ = "erased_identity"

    key_hash: str = Field(primary_key=True, max_length=64)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    erased_at: datetime = Field(default_factory=utcnow)
