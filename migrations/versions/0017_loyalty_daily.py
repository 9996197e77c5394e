"""the loyalty program's daily run: the local date a shop was last run, and when a member's
birthday was saved

Revision ID: 0017
Revises: 0016

`loyalty_programs.daily_run_on` is the store's local date of its last completed daily run
(tier retention and downgrade, points expiry, birthday bonuses): the hourly job runs a store
once per local day. `loyalty_members.birthday_set_at` is when the shopper last saved their
birthday: it may change once a year, and a bonus needs it saved 30 days before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_programs") as batch:
        batch.add_column(sa.Column("daily_run_on", sa.Date(), nullable=True))
    with op.batch_alter_table("loyalty_members") as batch:
        batch.add_column(sa.Column("birthday_set_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_members") as batch:
        batch.drop_column("birthday_set_at")
    with op.batch_alter_table("loyalty_programs") as batch:
        batch.drop_column("daily_run_on")
