"""issue 16: sale dates and actors on ledger rows, unmapped lines, watch start

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unmapped_line",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("line_item_id", sa.BigInteger(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("variation_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("total", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_item_id"),
    )
    with op.batch_alter_table("unmapped_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unmapped_line_sku"), ["sku"], unique=False)

    op.create_table(
        "watch_state",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sale_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "actor",
                sqlmodel.sql.sqltypes.AutoString(length=100),
                nullable=False,
                server_default="",
            )
        )

    # Grants written before this revision: date them by their order's sale.
    op.execute(
        "UPDATE ledger_entry SET sale_at = (SELECT COALESCE(o.date_paid_gmt, o.date_created_gmt) "
        "FROM order_state o WHERE o.order_id = ledger_entry.order_id) "
        "WHERE order_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_column("actor")
        batch_op.drop_column("sale_at")

    op.drop_table("watch_state")
    with op.batch_alter_table("unmapped_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmapped_line_sku"))

    op.drop_table("unmapped_line")
