"""Password re-hashes (user.password_rehashed): three nullable columns of user_accounts_v1.

Additive only: existing rows read NULL, which means "no re-hash", so the table keeps its name
and meaning and no replay is needed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "user_accounts_v1"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("rehash_event_id", postgresql.UUID(as_uuid=False)))
    op.add_column(TABLE, sa.Column("rehash_of_event_id", sa.Text()))
    op.add_column(TABLE, sa.Column("rehashed_password_hash", sa.Text()))


def downgrade() -> None:
    for column in ("rehashed_password_hash", "rehash_of_event_id", "rehash_event_id"):
        op.drop_column(TABLE, column)
