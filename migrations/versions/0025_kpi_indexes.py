"""store KPIs over a long range: covering indexes of the counted orders and of the
profiles' first and last order

Revision ID: 0025
Revises: 0024

`GET /api/metrics`, the Dashboard and Analytics read a range's counted orders (not cancelled,
voided or test: `app.profiles.figures.counted_order`) by time, and look up a customer's
counted order before a date (their previous order, for the days between orders and the
retention of the period before) or at their first order's time (its revenue). Both were
read through the heap: `ix_orders_shop_placed` and `ix_orders_customer` hold neither the
counting columns nor the amounts.

- `ix_orders_counted_placed` (shop_id, placed_at) INCLUDE (customer_id, total_price,
  total_refunded): a range's orders by an index-only scan;
- `ix_orders_counted_customer` (shop_id, customer_id, placed_at) INCLUDE (total_price,
  total_refunded): a customer's previous or first counted order, one index-only probe.

And on customers, the two indexes of the profiles' first and last order gain the columns the
KPIs read with them, so that a range's new customers, their first orders and the retention
of the period before are index-only scans: `ix_customers_shop_first_order` INCLUDE (id,
last_order_at, orders_count) and `ix_customers_shop_last_order` INCLUDE (id,
first_order_at) (PostgreSQL; dropped and created again).

Measured on the generated store of 1,000,000 customers and 5,000,000 orders
(benchmarks: sticky_bench, 2-core machine under load, 7 Dec 2026): 273 MB each; the KPIs of
the last 12 months went from 20.5 s to 13 s with no change to the statements. Partial: the
predicate is the counting rule, written as the statements write it (PostgreSQL uses a partial
index only when the query implies its predicate). SQLite gets them too (without INCLUDE),
so that one schema serves both; it does not need them.

Cost to ingest: two B-tree entries per order insert, and per update of a counted order's
amounts or status (those updates were already not HOT: `ix_orders_shop_placed` is not
touched by them, but `total_refunded` and `cancelled_at` now are indexed columns).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COUNTED = sa.text("cancelled_at IS NULL AND (financial_status IS NULL OR "
                  "financial_status <> 'voided') AND test IS false")


HAS_ORDERED = sa.text("first_order_at IS NOT NULL")


def _customer_indexes(include: bool) -> None:
    op.drop_index("ix_customers_shop_first_order", table_name="customers")
    op.drop_index("ix_customers_shop_last_order", table_name="customers")
    first = {"postgresql_include": ["id", "last_order_at", "orders_count"]} if include else {}
    last = {"postgresql_include": ["id", "first_order_at"]} if include else {}
    op.create_index("ix_customers_shop_first_order", "customers", ["shop_id", "first_order_at"],
                    unique=False, postgresql_where=HAS_ORDERED, sqlite_where=HAS_ORDERED,
                    **first)
    op.create_index("ix_customers_shop_last_order", "customers", ["shop_id", "last_order_at"],
                    unique=False, **last)


def upgrade() -> None:
    op.create_index("ix_orders_counted_placed", "orders", ["shop_id", "placed_at"],
                    unique=False, postgresql_where=COUNTED, sqlite_where=COUNTED,
                    postgresql_include=["customer_id", "total_price", "total_refunded"])
    op.create_index("ix_orders_counted_customer", "orders",
                    ["shop_id", "customer_id", "placed_at"], unique=False,
                    postgresql_where=COUNTED, sqlite_where=COUNTED,
                    postgresql_include=["total_price", "total_refunded"])
    if op.get_bind().dialect.name == "postgresql":
        _customer_indexes(include=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _customer_indexes(include=False)
    op.drop_index("ix_orders_counted_customer", table_name="orders")
    op.drop_index("ix_orders_counted_placed", table_name="orders")
