"""domain events: the outbox, the subscribers seen, and a cursor per subscriber and shop

Revision ID: 0010
Revises: 0009

Published domain events are appended to `domain_events` in the transaction that recorded
them; subscribers read it in order from their own cursor (`event_cursors`), in their own
transactions (app/events). `domain_events` has no foreign keys (it is on the ingest path,
and an event outlives a merged guest profile) and AUTOINCREMENT on SQLite, so an id is
never handed out twice even after the newest rows are redacted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("ref", sa.String(length=160), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JsonType, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_domain_events_shop_id_id", "domain_events", ["shop_id", "id"])
    op.create_index(op.f("ix_domain_events_customer_id"), "domain_events", ["customer_id"])
    op.create_table(
        "event_subscribers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("start", sa.String(length=16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_subscribers")),
    )
    op.create_table(
        "event_cursors",
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_event_id", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_event_cursors_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber", "shop_id", name=op.f("pk_event_cursors")),
    )


def downgrade() -> None:
    op.drop_table("event_cursors")
    op.drop_table("event_subscribers")
    op.drop_index(op.f("ix_domain_events_customer_id"), table_name="domain_events")
    op.drop_index("ix_domain_events_shop_id_id", table_name="domain_events")
    op.drop_table("domain_events")
