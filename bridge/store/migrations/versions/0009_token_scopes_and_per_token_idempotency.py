"""token scopes and per-token idempotency

API tokens hold a comma list of scopes (read, redeem, refunds, events, privacy, write), longer
than the eight characters ``read`` and ``write`` needed. Idempotency keys need no column of
their own: an API token's keys are stored as "token <name> <key>" (bridge.services.bookings.redemptions.
token_key) in the existing 128 characters; keys stored before this revision stay as they were
and are still replayed to any token.

The downgrade cannot express the new scopes in eight characters: tokens holding any of them are
revoked (their scope shown as read), never widened to write.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column(
            "scope",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=8),
            type_=sqlmodel.sql.sqltypes.AutoString(length=64),
            existing_nullable=False,
        )


def downgrade() -> None:
    token = sa.table(
        "api_token",
        sa.column("scope", sa.String),
        sa.column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    now = datetime.now(UTC)
    op.execute(
        token.update()
        .where(token.c.scope.notin_(["read", "write"]), token.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    op.execute(token.update().where(token.c.scope.notin_(["read", "write"])).values(scope="read"))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column(
            "scope",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            type_=sqlmodel.sql.sqltypes.AutoString(length=8),
            existing_nullable=False,
        )
