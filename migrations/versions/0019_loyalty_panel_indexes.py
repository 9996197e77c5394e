"""the loyalty panel's indexes: members by balance and by points earned, the ledger by day

Revision ID: 0019
Revises: 0018

- `ix_customers_shop_points_balance` (shop_id, points_balance): the members list sorted by
  balance reads a store's members in balance order instead of sorting all of them. Cost: a
  B-tree entry per balance change of a profile (its updates were already not HOT: the
  figures columns are indexed since 0014).
- `ix_loyalty_members_shop_earned` (shop_id, lifetime_points): the same for points earned.
- `ix_loyalty_ledger_shop_created` (shop_id, created_at): points issued and redeemed over
  the dashboard's date range read that range's entries, not the store's whole ledger. Cost:
  one more B-tree entry per ledger entry.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customers_shop_points_balance", "customers",
                    ["shop_id", "points_balance"], unique=False)
    op.create_index("ix_loyalty_members_shop_earned", "loyalty_members",
                    ["shop_id", "lifetime_points"], unique=False)
    op.create_index("ix_loyalty_ledger_shop_created", "loyalty_ledger",
                    ["shop_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_loyalty_ledger_shop_created", table_name="loyalty_ledger")
    op.drop_index("ix_loyalty_members_shop_earned", table_name="loyalty_members")
    op.drop_index("ix_customers_shop_points_balance", table_name="customers")
