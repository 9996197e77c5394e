"""orders: fingerprints of the shipping and billing addresses

Revision ID: 0018
Revises: 0017

The referral fraud checks ask whether a referred friend's order goes to the same address as
one of the advocate's orders. Sticky keeps no addresses; the connectors hand over a SHA-256
of each normalized address (connectors.fields.address_fingerprint) and the orders keep that.
Two nullable columns, no index: they are read only for one advocate's few orders, by the
existing (customer_id, placed_at) index. `customers/redact` clears them with the email.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("shipping_address_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("billing_address_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("billing_address_hash")
        batch.drop_column("shipping_address_hash")
