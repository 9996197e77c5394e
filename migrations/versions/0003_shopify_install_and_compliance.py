"""shopify compliance: audit trail and data-request exports

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "compliance_audit",
        sa.Column("id", _id, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=True),
        sa.Column("delivery_key", sa.String(length=128), nullable=True),
        sa.Column("subject_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_audit")),
    )
    op.create_index("ix_compliance_audit_shop_received", "compliance_audit",
                    ["shop_domain", "received_at"], unique=False)
    op.create_table(
        "compliance_exports",
        sa.Column("id", _id, nullable=False),
        sa.Column("shop_id", _id, nullable=False),
        sa.Column("data_request_id", sa.String(length=64), nullable=True),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("content", _json, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_compliance_exports_shop_id_shops"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_exports")),
    )
    op.create_index(op.f("ix_compliance_exports_shop_id"), "compliance_exports", ["shop_id"],
                    unique=False)
    op.create_index(op.f("ix_compliance_exports_subject_hash"), "compliance_exports",
                    ["subject_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_compliance_exports_subject_hash"), table_name="compliance_exports")
    op.drop_index(op.f("ix_compliance_exports_shop_id"), table_name="compliance_exports")
    op.drop_table("compliance_exports")
    op.drop_index("ix_compliance_audit_shop_received", table_name="compliance_audit")
    op.drop_table("compliance_audit")
