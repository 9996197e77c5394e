"""shop credentials for both platforms, lifecycle and sync watermark

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = (
    ("refresh_token_encrypted", sa.Text()),
    ("access_token_expires_at", sa.DateTime(timezone=True)),
    ("refresh_token_expires_at", sa.DateTime(timezone=True)),
    ("scopes", sa.Text()),
    ("api_base_url", sa.String(length=255)),
    ("consumer_key_encrypted", sa.Text()),
    ("consumer_secret_encrypted", sa.Text()),
    ("uninstalled_at", sa.DateTime(timezone=True)),
    ("last_synced_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
