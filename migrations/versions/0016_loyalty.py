"""the loyalty program: program and versions, members, the points ledger, rewards,
redemptions, referrals, tier changes, and the platform write-back queue

Revision ID: 0016
Revises: 0015

The ledger's natural key is unique per shop (`uq_loyalty_ledger_shop_id_key`): it is what
makes an award, a reversal or a redemption happen once however often its cause arrives.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('loyalty_program_versions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('settings', Json, nullable=False),
    sa.Column('saved_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_program_versions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_program_versions')),
    sa.UniqueConstraint('shop_id', 'version', name=op.f('uq_loyalty_program_versions_shop_id_version'))
    )
    op.create_table('loyalty_programs',
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('settings', Json, nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_programs_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', name=op.f('pk_loyalty_programs'))
    )
    op.create_table('loyalty_rewards',
    sa.Column('id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('points_cost', sa.Integer(), nullable=False),
    sa.Column('minimum_order', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('expires_after_days', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_rewards_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_rewards'))
    )
    op.create_index('ix_loyalty_rewards_shop', 'loyalty_rewards', ['shop_id', 'active'], unique=False)
    op.create_table('loyalty_ledger',
    sa.Column('id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('customer_id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('order_id', BigId, nullable=True),
    sa.Column('platform_order_id', sa.String(length=64), nullable=True),
    sa.Column('rate', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('program_version', sa.Integer(), nullable=True),
    sa.Column('parent_id', BigId, nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('available', 'pending')", name=op.f('ck_loyalty_ledger_status')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loyalty_ledger_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_ledger_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_ledger')),
    sa.UniqueConstraint('shop_id', 'key', name=op.f('uq_loyalty_ledger_shop_id_key'))
    )
    op.create_index('ix_loyalty_ledger_customer', 'loyalty_ledger', ['customer_id', 'id'], unique=False)
    op.create_index('ix_loyalty_ledger_due', 'loyalty_ledger', ['shop_id', 'available_at'], unique=False, postgresql_where=sa.text("kind = 'pending'"), sqlite_where=sa.text("kind = 'pending'"))
    op.create_index('ix_loyalty_ledger_order', 'loyalty_ledger', ['shop_id', 'order_id'], unique=False)
    op.create_table('loyalty_members',
    sa.Column('customer_id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('pending_points', sa.Integer(), nullable=False),
    sa.Column('lifetime_points', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=64), nullable=True),
    sa.Column('tier_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('referral_code', sa.String(length=16), nullable=False),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expiry_warned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loyalty_members_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_members_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_loyalty_members')),
    sa.UniqueConstraint('shop_id', 'referral_code', name=op.f('uq_loyalty_members_shop_id_referral_code'))
    )
    op.create_index('ix_loyalty_members_shop_activity', 'loyalty_members', ['shop_id', 'last_activity_at'], unique=False)
    op.create_table('loyalty_redemptions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('customer_id', BigId, nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('reward_id', BigId, nullable=True),
    sa.Column('reward', Json, nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('platform_discount_id', sa.String(length=128), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loyalty_redemptions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reward_id'], ['loyalty_rewards.id'], name=op.f('fk_loyalty_redemptions_reward_id_loyalty_rewards'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_redemptions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_redemptions')),
    sa.UniqueConstraint('shop_id', 'code', name=op.f('uq_loyalty_redemptions_shop_id_code')),
    sa.UniqueConstraint('shop_id', 'idempotency_key', name=op.f('uq_loyalty_redemptions_shop_id_idempotency_key'))
    )
    op.create_index('ix_loyalty_redemptions_customer', 'loyalty_redemptions', ['customer_id', 'status'], unique=False)
    op.create_table('loyalty_referrals',
    sa.Column('id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('advocate_id', BigId, nullable=False),
    sa.Column('friend_customer_id', BigId, nullable=True),
    sa.Column('friend_email', sa.String(length=320), nullable=False),
    sa.Column('friend_email_normalized', sa.String(length=320), nullable=False),
    sa.Column('friend_name', sa.String(length=255), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('block_reason', sa.Text(), nullable=True),
    sa.Column('platform_order_id', sa.String(length=64), nullable=True),
    sa.Column('friend_redemption_id', BigId, nullable=True),
    sa.Column('reviewed_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['advocate_id'], ['customers.id'], name=op.f('fk_loyalty_referrals_advocate_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['friend_customer_id'], ['customers.id'], name=op.f('fk_loyalty_referrals_friend_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_referrals_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_referrals')),
    sa.UniqueConstraint('shop_id', 'friend_email_normalized', name=op.f('uq_loyalty_referrals_shop_id_friend_email_normalized'))
    )
    op.create_index('ix_loyalty_referrals_advocate', 'loyalty_referrals', ['advocate_id', 'created_at'], unique=False)
    op.create_index('ix_loyalty_referrals_ip', 'loyalty_referrals', ['shop_id', 'ip', 'created_at'], unique=False)
    op.create_table('loyalty_tier_changes',
    sa.Column('id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('customer_id', BigId, nullable=False),
    sa.Column('from_tier', sa.String(length=64), nullable=True),
    sa.Column('to_tier', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('basis_value', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loyalty_tier_changes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_tier_changes_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_tier_changes'))
    )
    op.create_index('ix_loyalty_tier_changes_customer', 'loyalty_tier_changes', ['customer_id', 'occurred_at'], unique=False)
    op.create_table('loyalty_writebacks',
    sa.Column('customer_id', BigId, nullable=False),
    sa.Column('shop_id', BigId, nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('written_balance', sa.Integer(), nullable=True),
    sa.Column('written_tier', sa.String(length=64), nullable=True),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loyalty_writebacks_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_loyalty_writebacks_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_loyalty_writebacks'))
    )
    op.create_index('ix_loyalty_writebacks_due', 'loyalty_writebacks', ['shop_id', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_loyalty_writebacks_due', table_name='loyalty_writebacks')
    op.drop_table('loyalty_writebacks')
    op.drop_index('ix_loyalty_tier_changes_customer', table_name='loyalty_tier_changes')
    op.drop_table('loyalty_tier_changes')
    op.drop_index('ix_loyalty_referrals_ip', table_name='loyalty_referrals')
    op.drop_index('ix_loyalty_referrals_advocate', table_name='loyalty_referrals')
    op.drop_table('loyalty_referrals')
    op.drop_index('ix_loyalty_redemptions_customer', table_name='loyalty_redemptions')
    op.drop_table('loyalty_redemptions')
    op.drop_index('ix_loyalty_members_shop_activity', table_name='loyalty_members')
    op.drop_table('loyalty_members')
    op.drop_index('ix_loyalty_ledger_order', table_name='loyalty_ledger')
    op.drop_index('ix_loyalty_ledger_due', table_name='loyalty_ledger', postgresql_where=sa.text("kind = 'pending'"), sqlite_where=sa.text("kind = 'pending'"))
    op.drop_index('ix_loyalty_ledger_customer', table_name='loyalty_ledger')
    op.drop_table('loyalty_ledger')
    op.drop_index('ix_loyalty_rewards_shop', table_name='loyalty_rewards')
    op.drop_table('loyalty_rewards')
    op.drop_table('loyalty_programs')
    op.drop_table('loyalty_program_versions')
