"""Token lifecycle v1: refresh tokens, account changes, signing key status, login failures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=False)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refresh_tokens_v1",
        sa.Column("refresh_hash", sa.Text(), primary_key=True),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("issued_by_event_id", UUID, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("spent_by_event_id", UUID, nullable=True),
        sa.Column("spent_at", TS, nullable=True),
    )
    op.create_index("ix_refresh_tokens_v1_session_id", "refresh_tokens_v1", ["session_id"])
    op.create_table(
        "user_accounts_v1",
        sa.Column("user_id", sa.Text(), primary_key=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("password_event_id", UUID, nullable=True),
        sa.Column("password_changed_at", TS, nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("status_event_id", UUID, nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("unlocked_at", TS, nullable=True),
        sa.Column("unlock_event_id", UUID, nullable=True),
    )
    op.create_table(
        "signing_key_status_v1",
        sa.Column("kid", sa.Text(), primary_key=True),
        sa.Column("retired_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
    )
    op.create_table(
        "login_failures_v1",
        sa.Column("event_id", UUID, primary_key=True),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("client_ip", sa.Text(), nullable=False),
        sa.Column("failed_at", TS, nullable=False),
    )
    op.create_index("ix_login_failures_v1_user_id", "login_failures_v1", ["user_id"])
    op.create_index("ix_login_failures_v1_client_ip", "login_failures_v1", ["client_ip"])


def downgrade() -> None:
    op.drop_table("login_failures_v1")
    op.drop_table("signing_key_status_v1")
    op.drop_table("user_accounts_v1")
    op.drop_index("ix_refresh_tokens_v1_session_id", table_name="refresh_tokens_v1")
    op.drop_table("refresh_tokens_v1")
