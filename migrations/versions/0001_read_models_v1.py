"""Read models v1: event archive, users, sessions, signing keys, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Table names are spelled out rather than imported from schemas.names: a migration records
history, and must keep creating these tables even after the names move on to v2.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    _event_archive()
    _users()
    _sessions()
    _signing_keys()
    _deadletters()


def _event_archive() -> None:
    op.create_table(
        "event_archive_v1",
        sa.Column("event_id", postgresql.UUID(as_uuid=False), primary_key=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("origin_region", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("log_partition", sa.Integer(), nullable=False),
        sa.Column("log_offset", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("ix_event_archive_v1_user_id", "event_archive_v1", ["user_id"])


def _users() -> None:
    op.create_table(
        "users_v1",
        sa.Column("user_id", sa.Text(), primary_key=True),
        sa.Column("username", sa.Text(), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("registration_event_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin_region", sa.Text(), nullable=False),
    )


def _sessions() -> None:
    op.create_table(
        "sessions_v1",
        sa.Column("session_id", sa.Text(), primary_key=True),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("origin_region", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_token_hash", sa.Text(), nullable=False),
        sa.Column("access_jti", sa.Text(), nullable=False),
        sa.Column("signing_kid", sa.Text(), nullable=False),
        sa.Column("start_event_id", postgresql.UUID(as_uuid=False), nullable=False),
    )
    op.create_index("ix_sessions_v1_user_id", "sessions_v1", ["user_id"])


def _signing_keys() -> None:
    op.create_table(
        "signing_keys_v1",
        sa.Column("kid", sa.Text(), primary_key=True),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("alg", sa.Text(), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=False), nullable=False),
    )


def _deadletters() -> None:
    op.create_table(
        "deadletters_v1",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("source_topic", sa.Text(), nullable=False),
        sa.Column("log_partition", sa.Integer(), nullable=False),
        sa.Column("log_offset", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint(
            "source_topic", "log_partition", "log_offset", name="deadletters_v1_position"
        ),
    )


def downgrade() -> None:
    for table in ("deadletters_v1", "signing_keys_v1", "sessions_v1", "users_v1"):
        op.drop_table(table)
    op.drop_index("ix_event_archive_v1_user_id", table_name="event_archive_v1")
    op.drop_table("event_archive_v1")
