"""Signing keys v1: the issuer each key was published for (NULL for keys published before).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("signing_keys_v1", sa.Column("issuer", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("signing_keys_v1", "issuer")
