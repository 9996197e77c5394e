"""predictions: prediction_models (one row per BG/NBD + Gamma-Gamma fit) and the
per-customer predicted figures on customers

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('prediction_models',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('buyers', sa.Integer(), nullable=False),
    sa.Column('repeat_buyers', sa.Integer(), nullable=False),
    sa.Column('history_days', sa.Integer(), nullable=False),
    sa.Column('bgnbd', _JSON, nullable=True),
    sa.Column('gamma_gamma', _JSON, nullable=True),
    sa.Column('calibration', _JSON, nullable=True),
    sa.Column('fit_seconds', sa.Float(), nullable=True),
    sa.Column('scored_customers', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_prediction_models_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_models'))
    )
    op.create_index('ix_prediction_models_shop_id_fitted_at', 'prediction_models', ['shop_id', 'fitted_at'], unique=False)
    with op.batch_alter_table('customers') as batch:
        batch.add_column(sa.Column('expected_orders_30', sa.Float(), nullable=True))
        batch.add_column(sa.Column('expected_orders_90', sa.Float(), nullable=True))
        batch.add_column(sa.Column('expected_orders_365', sa.Float(), nullable=True))
        batch.add_column(sa.Column('next_order_expected_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('predicted_spend_tier', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('predictions_scored_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers') as batch:
        for column in ('predictions_scored_at', 'predicted_spend_tier', 'next_order_expected_at',
                       'expected_orders_365', 'expected_orders_90', 'expected_orders_30'):
            batch.drop_column(column)
    op.drop_index('ix_prediction_models_shop_id_fitted_at', table_name='prediction_models')
    op.drop_table('prediction_models')
