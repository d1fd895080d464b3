"""Revocations v1: the durable record and audit trail of session, token and user revocations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations_v1",
        sa.Column("event_id", postgresql.UUID(as_uuid=False), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.Text(), nullable=False),
        sa.Column("origin_region", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("affects_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("revocations_v1_kind_subject", "revocations_v1", ["kind", "subject"])
    op.create_index("ix_revocations_v1_user_id", "revocations_v1", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_revocations_v1_user_id", table_name="revocations_v1")
    op.drop_index("revocations_v1_kind_subject", table_name="revocations_v1")
    op.drop_table("revocations_v1")
