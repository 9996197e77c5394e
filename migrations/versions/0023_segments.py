"""segments: saved segments (rules, evaluated when asked) and an index for RFM segment rules

Revision ID: 0023
Revises: 0022

A segment stores its rules, never its members: every count, list, export and flow filter
compiles the rules to one WHERE over `customers` at that moment (app/segments/rules.py).

`ix_customers_shop_rfm_segment` serves the built-in RFM segments and rules on the RFM group
(a bitmap scan instead of reading every profile); partial, as the list never shows deleted
profiles. Its cost is one more B-tree entry when the RFM refresh changes a customer's group.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('segments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('builtin_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_segments_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('shop_id', 'builtin_key', name=op.f('uq_segments_shop_id_builtin_key')),
    sa.UniqueConstraint('shop_id', 'name', name=op.f('uq_segments_shop_id_name'))
    )
    op.create_index('ix_customers_shop_rfm_segment', 'customers', ['shop_id', 'rfm_segment'],
                    unique=False, postgresql_where=sa.text('deleted_at IS NULL'),
                    sqlite_where=sa.text('deleted_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_customers_shop_rfm_segment', table_name='customers')
    op.drop_table('segments')
