"""booking proofs and held bookings: learners' booking-link tokens, how a booking's learner
was found, and who reviewed a booking held for review

Bookings matched before this revision (by e-mail or by a customer id on the link) are marked
``legacy``: what they spent stays spent, and their reschedules move it as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booking_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learner.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("booking_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_token_learner_id"), ["learner_id"], unique=False
        )

    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "matched_by",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "reviewed_by",
                sqlmodel.sql.sqltypes.AutoString(length=254),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )

    op.execute("UPDATE booking SET matched_by = 'legacy' WHERE learner_id IS NOT NULL")


def downgrade() -> None:
    # Held and rejected bookings spent nothing: downgraded, they read as unknown attendees.
    op.execute(
        "UPDATE booking SET status = 'unknown_learner', learner_id = NULL "
        "WHERE status IN ('held_for_review', 'rejected')"
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("matched_by")

    with op.batch_alter_table("booking_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_token_learner_id"))

    op.drop_table("booking_token")
