"""timeline: drop (customer_id, occurred_at), which the unique key already serves

Revision ID: 0007
Revises: 0006

A shopper's timeline is read as "this customer's rows, newest first"; the unique index
(customer_id, kind, ref) finds those rows just as well, and sorting one shopper's few
hundred rows is free. The second index doubled the random index writes of every timeline
insert, the biggest cost of a history import.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_timeline_customer_time", table_name="timeline_events")


def downgrade() -> None:
    op.create_index("ix_timeline_customer_time", "timeline_events",
                    ["customer_id", "occurred_at"], unique=False)
