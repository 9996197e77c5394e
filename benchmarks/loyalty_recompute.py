"""`loyalty.py --recompute-only`: the full recompute timed on a store of N members, bulk-loaded.

Draining a million events to build the ledger takes hours on a small machine; the recompute
does not care how the ledger was made. This loads, with set-based SQL, N shoppers with
`orders` paid orders each in the last year (their spend decides the tier) and, per order, a
purchase award and sometimes a partial reversal, plus one first-order bonus per member; the
caches are left at zero, so the recompute has every member to rewrite; the tiers are set as
the ladder gives them (the daily review's usual case: nothing or little to change). Then it
times `ledger.recompute` and `tiers.review` as the full run does, and checks the balances.
"""

from __future__ import annotations

import time

LOAD_SQL = [
    """INSERT INTO customers (shop_id, platform_customer_id, email, email_marketing,
           orders_count, total_spent, points_balance, created_at, updated_at)
       SELECT %(shop)s, 'rc' || n, 'rc' || n || '@example.com', 'not_subscribed', %(orders)s,
              0, 0, now(), now()
       FROM generate_series(1, %(members)s) AS n""",
    """INSERT INTO loyalty_members (customer_id, shop_id, pending_points, lifetime_points,
           referral_code, enrolled_at)
       SELECT id, shop_id, 0, 0, 'R' || lpad(id::text, 11, '0'), now()
       FROM customers WHERE shop_id = %(shop)s""",
    # Spend between 50.00 and 250.00 an order, placed in the last 300 days.
    """INSERT INTO orders (shop_id, customer_id, platform_order_id, currency, subtotal,
           total_price, total_tax, total_discounts, total_shipping, total_refunded, test,
           financial_status, placed_at, created_at, updated_at)
       SELECT c.shop_id, c.id, c.id || '-' || k, 'USD', amount, amount, 0, 0, 0, 0, false,
              'paid', now() - (k * 20 + c.id %% 20) * interval '1 day', now(), now()
       FROM customers c, generate_series(1, %(orders)s) AS k,
            LATERAL (SELECT (50 + (c.id * 7 + k * 13) %% 200)::numeric AS amount) a
       WHERE c.shop_id = %(shop)s""",
    """INSERT INTO loyalty_ledger (shop_id, customer_id, kind, points, status, reason, source,
           key, order_id, platform_order_id, rate, amount, created_at)
       SELECT o.shop_id, o.customer_id, 'earn', o.total_price::int, 'available', 'bench',
              'order', 'order:' || o.platform_order_id || ':purchase', o.id,
              o.platform_order_id, 1, o.total_price, o.placed_at
       FROM orders o WHERE o.shop_id = %(shop)s""",
    """INSERT INTO loyalty_ledger (shop_id, customer_id, kind, points, status, reason, source,
           key, created_at)
       SELECT shop_id, id, 'earn', 100, 'available', 'bench', 'rule', 'first_order:' || id,
              now()
       FROM customers WHERE shop_id = %(shop)s""",
    # One order in ten partly refunded: a reversal of a third of its points.
    """INSERT INTO loyalty_ledger (shop_id, customer_id, kind, points, status, reason, source,
           key, parent_id, created_at)
       SELECT shop_id, customer_id, 'reverse', -(points / 3), 'available', 'bench', 'refund',
              'refund:bench:' || id, id, created_at
       FROM loyalty_ledger WHERE shop_id = %(shop)s AND source = 'order' AND id %% 10 = 0""",
    # Tiers as the program's ladder gives them (benchmarks/loyalty.py: spend over the last
    # 12 months; Bronze from 0, Silver from 500, Gold from 1,500): the review's usual case.
    """UPDATE loyalty_members m SET tier = CASE WHEN s.spent >= 1500 THEN 'Gold'
           WHEN s.spent >= 500 THEN 'Silver' ELSE 'Bronze' END, tier_since = now()
       FROM (SELECT customer_id, sum(total_price) AS spent FROM orders
             WHERE shop_id = %(shop)s GROUP BY customer_id) s
       WHERE m.customer_id = s.customer_id""",
    """UPDATE customers c SET tier = m.tier FROM loyalty_members m
       WHERE m.customer_id = c.id AND c.shop_id = %(shop)s""",
    "ANALYZE customers", "ANALYZE orders", "ANALYZE loyalty_members", "ANALYZE loyalty_ledger",
]


def run(args, app, conn, shop_id: int, time_recompute) -> int:
    """Load `args.members` members into the enabled store, then time the recompute."""
    params = {"shop": shop_id, "members": args.members, "orders": args.orders_each}
    started = time.perf_counter()
    for statement in LOAD_SQL:
        conn.execute(statement, params)
    entries = conn.execute("SELECT count(*) FROM loyalty_ledger WHERE shop_id = %(shop)s",
                           params).fetchone()[0]
    print(f"loaded {args.members:,} members, {args.members * args.orders_each:,} orders and "
          f"{entries:,} ledger entries in {time.perf_counter() - started:.0f} s", flush=True)
    for when in ("every balance to rewrite", "again, everything already right"):
        print(f"recomputing the enabled store from its ledger ({when}) ...", flush=True)
        for what, seconds, note in time_recompute(app, shop_id):
            print(f"  {what}: {seconds:.2f} s ({note})", flush=True)
    wrong = conn.execute(
        """SELECT count(*) FROM customers c WHERE c.shop_id = %(shop)s AND c.points_balance
           <> (SELECT coalesce(sum(points), 0) FROM loyalty_ledger l
               WHERE l.customer_id = c.id AND l.status = 'available')""", params).fetchone()[0]
    untiered = conn.execute("SELECT count(*) FROM loyalty_members WHERE shop_id = %(shop)s "
                            "AND tier IS NULL", params).fetchone()[0]
    print(f"  members whose balance is not their ledger's sum: {wrong:,}; "
          f"without a tier: {untiered:,}")
    return 1 if wrong or untiered else 0
