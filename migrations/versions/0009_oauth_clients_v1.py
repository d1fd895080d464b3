"""OAuth clients (issue 12): the oauth_clients_v1 read model of the client.* events.

A new table only: nothing existing changes. A region upgraded after client events were already
on the log gets them by a replay (``python -m streams.replay``), like any new read model.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "oauth_clients_v1"


def upgrade() -> None:
    uuid = postgresql.UUID(as_uuid=False)
    stamp = sa.DateTime(timezone=True)
    text_columns = (
        "name",
        "client_type",
        "token_endpoint_auth_method",
        "grant_types",
        "scopes",
        "default_scopes",
        "audiences",
        "default_audience",
    )
    op.create_table(
        TABLE,
        sa.Column("client_id", sa.Text(), primary_key=True),
        *(sa.Column(name, sa.Text(), nullable=True) for name in text_columns),
        sa.Column("can_introspect", sa.Boolean(), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("config_event_id", uuid, nullable=True),
        sa.Column("config_order", sa.Text(), nullable=True),
        sa.Column("updated_at", stamp, nullable=True),
        sa.Column("secret_hash", sa.Text(), nullable=True),
        sa.Column("secret_event_id", uuid, nullable=True),
        sa.Column("secret_order", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("state_event_id", uuid, nullable=True),
        sa.Column("registration_event_id", uuid, nullable=True),
        sa.Column("registration_order", sa.Text(), nullable=True),
        sa.Column("registered_at", stamp, nullable=True),
        sa.Column("origin_region", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
