"""RFM scores on customers, and each shop's quintile cut points

Revision ID: 0021
Revises: 0020

- `customers.rfm_recency`, `rfm_frequency`, `rfm_monetary` (1-5, null for a customer with no
  counted order) and `rfm_scored_at`; `customers.rfm_segment` (already there) is filled from
  them (app/analytics/rfm.py). No index: the list filters on `rfm_segment` within a shop.
- `rfm_cutoffs`: one row per shop, the cut points the scores were given by, so a customer
  whose orders change is rescored alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = sa.Numeric(precision=18, scale=4)


def upgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('rfm_recency', sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column('rfm_frequency', sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column('rfm_monetary', sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column('rfm_scored_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('rfm_cutoffs',
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('customers_scored', sa.Integer(), nullable=False),
    *[sa.Column(f'{dimension}_cut_{score}', Money if dimension == 'monetary' else sa.Integer(),
                nullable=True)
      for dimension in ('recency', 'frequency', 'monetary') for score in (2, 3, 4, 5)],
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_rfm_cutoffs_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', name=op.f('pk_rfm_cutoffs'))
    )


def downgrade() -> None:
    op.drop_table('rfm_cutoffs')
    with op.batch_alter_table('customers') as batch:
        batch.drop_column('rfm_scored_at')
        batch.drop_column('rfm_monetary')
        batch.drop_column('rfm_frequency')
        batch.drop_column('rfm_recency')
