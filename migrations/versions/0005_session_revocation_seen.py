"""sessions_v1.user_revocation_seen: the user-wide revocation a session was issued under.

A nullable column added in place (no new read-model name): NULL means "no evidence", exactly what
rows projected before the column existed hold, so no replay is needed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions_v1", sa.Column("user_revocation_seen", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions_v1", "user_revocation_seen")
