"""erased learners: learner.erased_at and the erased_identity tombstones

``learner.erased_at``: when a learner was erased (their e-mail and name then hold a stable
pseudonym). ``erased_identity``: the SHA-256 of each identity (customer id, e-mail) of an erased
learner, so orders and customers the shop sends again resolve to the pseudonym and bring no
personal data back.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "erased_identity",
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["learner_id"], ["learner.id"]),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    with op.batch_alter_table("erased_identity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erased_identity_learner_id"), ["learner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("erased_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erased_identity_learner_id"))
    op.drop_table("erased_identity")
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
