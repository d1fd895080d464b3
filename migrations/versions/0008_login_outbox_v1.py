"""The emergency login channel's outbox (issue 11): login_outbox_v1.

A new table only, so nothing is replayed. Rows live from the moment a region answers for an event
the log did not acknowledge until the region's relay has had it acknowledged.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "login_outbox_v1"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("partition_key", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )
    op.create_index(f"ix_{TABLE}_partition_key", TABLE, ["partition_key"])


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_partition_key", table_name=TABLE)
    op.drop_table(TABLE)
