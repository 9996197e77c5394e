"""flows and email: flows and versions, runs and their steps, messages, the outbox,
engagement, suppressions, attributed conversions and survey answers

Revision ID: 0020
Revises: 0019

The natural keys the engine's exactly-once rests on are unique constraints here:
`uq_flow_runs_flow_id_trigger_key` (a trigger starts one run), `uq_flow_run_steps_run_id_step_id`
(a step acts once), `uq_messages_run_id_step_id` (a step sends at most one email) and
`uq_flow_conversions_order_id` (an order is attributed once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=48), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('holdout_percent', sa.SmallInteger(), nullable=False),
    sa.Column('reentry_days', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_flows_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows')),
    sa.UniqueConstraint('shop_id', 'key', name=op.f('uq_flows_shop_id_key'))
    )
    op.create_index('ix_flows_shop_status', 'flows', ['shop_id', 'status'], unique=False)
    op.create_table('flow_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('flow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('trigger_key', sa.String(length=160), nullable=False),
    sa.Column('context', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('holdout', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step_id', sa.String(length=32), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exit_reason', sa.Text(), nullable=True),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_flow_runs_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_runs_flow_id_flows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_flow_runs_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_runs')),
    sa.UniqueConstraint('flow_id', 'trigger_key', name=op.f('uq_flow_runs_flow_id_trigger_key'))
    )
    op.create_index('ix_flow_runs_customer', 'flow_runs', ['customer_id', 'flow_id'], unique=False)
    op.create_index('ix_flow_runs_due', 'flow_runs', ['status', 'due_at'], unique=False)
    op.create_index('ix_flow_runs_shop_flow', 'flow_runs', ['shop_id', 'flow_id', 'entered_at'], unique=False)
    op.create_table('flow_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('flow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('saved_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_versions_flow_id_flows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_flow_versions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_versions')),
    sa.UniqueConstraint('flow_id', 'version', name=op.f('uq_flow_versions_flow_id_version'))
    )
    op.create_table('flow_run_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_id', sa.String(length=32), nullable=False),
    sa.Column('step_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['flow_runs.id'], name=op.f('fk_flow_run_steps_run_id_flow_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_flow_run_steps_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_run_steps')),
    sa.UniqueConstraint('run_id', 'step_id', name=op.f('uq_flow_run_steps_run_id_step_id'))
    )
    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('flow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('step_id', sa.String(length=32), nullable=True),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('test', sa.Boolean(), nullable=False),
    sa.Column('to_email', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sending_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_messages_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_messages_flow_id_flows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['flow_runs.id'], name=op.f('fk_messages_run_id_flow_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_messages_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('run_id', 'step_id', name=op.f('uq_messages_run_id_step_id'))
    )
    op.create_index('ix_messages_customer', 'messages', ['customer_id', 'created_at'], unique=False)
    op.create_index('ix_messages_shop_flow', 'messages', ['shop_id', 'flow_id', 'created_at'], unique=False)
    op.create_index('ix_messages_status', 'messages', ['status', 'sending_at'], unique=False)
    op.create_table('email_engagements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_email_engagements_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_email_engagements_message_pk_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_email_engagements_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_engagements'))
    )
    op.create_index('ix_email_engagements_customer', 'email_engagements', ['customer_id', 'at'], unique=False)
    op.create_index(op.f('ix_email_engagements_message_pk'), 'email_engagements', ['message_pk'], unique=False)
    op.create_table('email_suppressions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email_normalized', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('message_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_email_suppressions_message_pk_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_email_suppressions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_suppressions')),
    sa.UniqueConstraint('shop_id', 'email_normalized', name=op.f('uq_email_suppressions_shop_id_email_normalized'))
    )
    op.create_table('flow_conversions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('flow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('step_id', sa.String(length=32), nullable=True),
    sa.Column('message_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('touch', sa.String(length=8), nullable=False),
    sa.Column('touched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revenue', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_flow_conversions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_conversions_flow_id_flows'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_flow_conversions_message_pk_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_flow_conversions_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['flow_runs.id'], name=op.f('fk_flow_conversions_run_id_flow_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_flow_conversions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_conversions')),
    sa.UniqueConstraint('order_id', name=op.f('uq_flow_conversions_order_id'))
    )
    op.create_index('ix_flow_conversions_flow', 'flow_conversions', ['shop_id', 'flow_id', 'placed_at'], unique=False)
    op.create_table('outbox_mail',
    sa.Column('message_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_outbox_mail_message_pk_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_outbox_mail_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_pk', name=op.f('pk_outbox_mail'))
    )
    op.create_index(op.f('ix_outbox_mail_shop_id'), 'outbox_mail', ['shop_id'], unique=False)
    op.create_table('survey_responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('flow_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('question', sa.String(length=8), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_survey_responses_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_survey_responses_flow_id_flows'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], name=op.f('fk_survey_responses_message_pk_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_survey_responses_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_responses')),
    sa.UniqueConstraint('message_pk', name=op.f('uq_survey_responses_message_pk'))
    )
    op.create_index('ix_survey_responses_shop', 'survey_responses', ['shop_id', 'answered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_survey_responses_shop', table_name='survey_responses')
    op.drop_table('survey_responses')
    op.drop_index(op.f('ix_outbox_mail_shop_id'), table_name='outbox_mail')
    op.drop_table('outbox_mail')
    op.drop_index('ix_flow_conversions_flow', table_name='flow_conversions')
    op.drop_table('flow_conversions')
    op.drop_table('email_suppressions')
    op.drop_index(op.f('ix_email_engagements_message_pk'), table_name='email_engagements')
    op.drop_index('ix_email_engagements_customer', table_name='email_engagements')
    op.drop_table('email_engagements')
    op.drop_index('ix_messages_status', table_name='messages')
    op.drop_index('ix_messages_shop_flow', table_name='messages')
    op.drop_index('ix_messages_customer', table_name='messages')
    op.drop_table('messages')
    op.drop_table('flow_run_steps')
    op.drop_table('flow_versions')
    op.drop_index('ix_flow_runs_shop_flow', table_name='flow_runs')
    op.drop_index('ix_flow_runs_due', table_name='flow_runs')
    op.drop_index('ix_flow_runs_customer', table_name='flow_runs')
    op.drop_table('flow_runs')
    op.drop_index('ix_flows_shop_status', table_name='flows')
    op.drop_table('flows')
