"""shops.demo: the local demo store, which must never call its platform

Revision ID: 0009
Revises: 0008

`flask --app app demo` marks the store it seeds. Its domain and token are made up and its
webhooks come from the local simulator, so reconciliation, backfill, token refresh and webhook
registration skip it (app/shops/outbound.py). A column rather than a match on the domain: a
real merchant may own that domain, and a flag says what the row is, not what it is called.
Existing rows are real stores (false); a demo seeded before this revision is marked the next
time the demo starts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch rebuild of `shops`: on SQLite a rebuild drops the old
    # table, and with foreign keys on that deletes every store's customers, orders and the
    # rest by cascade. The default is a string because Alembic rebuilds the table for an
    # expression default on SQLite; '0' reads as false on both databases.
    op.add_column("shops", sa.Column("demo", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    # Native DROP COLUMN (SQLite 3.35+), for the same reason: no rebuild of `shops`.
    op.drop_column("shops", "demo")
