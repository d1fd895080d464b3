"""sessions_v1.scope and sessions_v1.audience: what a session was granted (issue 12).

Columns added in place with the default "" (no new read-model name): "" is exactly what a session
logged before SessionStarted carried them decodes to, so no replay is needed. The lead chains
this after the newest migration when merging (here: 0009, issue 12's client registry).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("scope", "audience"):
        op.add_column(
            "sessions_v1", sa.Column(column, sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    for column in ("audience", "scope"):
        op.drop_column("sessions_v1", column)
