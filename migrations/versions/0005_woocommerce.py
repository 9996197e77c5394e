"""woocommerce connect requests and webhooks

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "woo_connect_requests",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("store_url", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("shop_id", BigId, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_woo_connect_requests_shop_id_shops"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_woo_connect_requests")),
        sa.UniqueConstraint("token", name=op.f("uq_woo_connect_requests_token")),
    )
    op.create_table(
        "woo_webhooks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=32), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_woo_webhooks_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_woo_webhooks")),
        sa.UniqueConstraint("shop_id", "topic", name=op.f("uq_woo_webhooks_shop_id_topic")),
    )
    op.create_index("ix_woo_webhooks_shop_remote", "woo_webhooks", ["shop_id", "remote_id"])


def downgrade() -> None:
    op.drop_index("ix_woo_webhooks_shop_remote", table_name="woo_webhooks")
    op.drop_table("woo_webhooks")
    op.drop_table("woo_connect_requests")
