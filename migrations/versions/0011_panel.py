"""the admin panel: merchants' notes and tags, store settings, single-use sign-in links, and
a store's timeline by time

Revision ID: 0011
Revises: 0010

`ix_timeline_events_shop_id` (shop_id) becomes (shop_id, occurred_at): the same width per row
(a timestamp is 8 bytes, as an id is), so inserts cost the same, and the dashboard's "latest
activity" reads the newest rows of one store from the index instead of sorting them all.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customer_notes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_notes_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_customer_notes_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")),
    )
    op.create_index("ix_customer_notes_customer", "customer_notes",
                    ["customer_id", "created_at"], unique=False)
    op.create_index(op.f("ix_customer_notes_shop_id"), "customer_notes", ["shop_id"],
                    unique=False)
    op.create_table(
        "customer_tags",
        sa.Column("id", BigId, nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("tag_normalized", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_tags_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_customer_tags_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tags")),
        sa.UniqueConstraint("customer_id", "tag_normalized",
                            name=op.f("uq_customer_tags_customer_id_tag_normalized")),
    )
    op.create_index("ix_customer_tags_shop_tag", "customer_tags", ["shop_id", "tag_normalized"],
                    unique=False)
    op.create_table(
        "shop_settings",
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("sender_name", sa.String(length=255), nullable=True),
        sa.Column("sender_email", sa.String(length=320), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("smart_sending_hours", sa.Integer(), nullable=False),
        sa.Column("quiet_hours_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_hours_end", sa.String(length=5), nullable=True),
        sa.Column("attribution_click_days", sa.Integer(), nullable=False),
        sa.Column("attribution_open_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_shop_settings_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_settings")),
    )
    op.create_table(
        "sign_in_links",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("shop_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_sign_in_links_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_sign_in_links_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_links_token_hash")),
    )
    op.drop_index("ix_timeline_events_shop_id", table_name="timeline_events")
    op.create_index("ix_timeline_events_shop_occurred", "timeline_events",
                    ["shop_id", "occurred_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_timeline_events_shop_occurred", table_name="timeline_events")
    op.create_index("ix_timeline_events_shop_id", "timeline_events", ["shop_id"], unique=False)
    op.drop_table("sign_in_links")
    op.drop_table("shop_settings")
    op.drop_index("ix_customer_tags_shop_tag", table_name="customer_tags")
    op.drop_table("customer_tags")
    op.drop_index(op.f("ix_customer_notes_shop_id"), table_name="customer_notes")
    op.drop_index("ix_customer_notes_customer", table_name="customer_notes")
    op.drop_table("customer_notes")
