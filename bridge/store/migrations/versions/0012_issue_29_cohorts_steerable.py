"""seats first paid, first served; the catalogue applied on purpose

Seats remember when their order was paid (``paid_at``: seats and waitlists go in this order),
when the customer was told they hold it (``confirmed_at``: never taken back) and why an operator
wrote the row (``reason``). Existing seats take their order's paid date (else its creation date)
and count as confirmed when active: nobody loses a seat they may have been told about.
``catalogue_version`` keeps each catalogue file text applied with `bridge catalog apply`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("seat", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paid_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
    op.execute(
        "UPDATE seat SET paid_at = (SELECT COALESCE(order_state.date_paid_gmt, "
        "order_state.date_created_gmt) FROM order_state WHERE order_state.order_id = seat.order_id)"
    )
    op.execute("UPDATE seat SET confirmed_at = changed_at WHERE status = 'active'")
    op.create_table(
        "catalogue_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("applied_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("applied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("catalogue_version")
    with op.batch_alter_table("seat", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("paid_at")
