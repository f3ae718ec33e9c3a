"""Bookings from Cal.com and Calendly: what each booking spent, moved or returned.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:10:09.350955
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("booking_number", sa.BigInteger(), nullable=True),
        sa.Column("learner_id", sa.Integer(), nullable=True),
        sa.Column("attendee_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("mentor_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("mentor_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("starts_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ends_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("credit_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("complimentary_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attendance", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("redemption_id", sa.Integer(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("next_key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("held_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learner.id"],
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["booking.id"],
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["redemption.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_booking_booking_number"), ["booking_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_booking_learner_id"), ["learner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_booking_next_key"), ["next_key"], unique=False)
        batch_op.create_index("ix_booking_status_starts", ["status", "starts_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_status_starts")
        batch_op.drop_index(batch_op.f("ix_booking_next_key"))
        batch_op.drop_index(batch_op.f("ix_booking_learner_id"))
        batch_op.drop_index(batch_op.f("ix_booking_booking_number"))

    op.drop_table("booking")
