"""The loyalty benchmark's checks: read-only SQL over one shop (psycopg, no app needed).

Each check returns a list of problems in words (empty: it passed). The benchmark exits 1 if
any check finds one.
"""

from __future__ import annotations

from typing import Any

LEDGER_KINDS = ("order_paid", "refund_created", "order_cancelled")


def one(conn, sql: str, params: dict[str, Any]) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def drained(conn, shop_id: int) -> tuple[int, int]:
    """(pending inbox rows, loyalty events not yet passed) of the shop: the run is over when
    both are zero."""
    pending = one(conn, "SELECT count(*) FROM inbox WHERE shop_id = %(s)s"
                        " AND status = 'pending'", {"s": shop_id})
    behind = one(conn, """
        SELECT count(*) FROM domain_events e WHERE e.shop_id = %(s)s AND e.id > coalesce(
            (SELECT last_event_id FROM event_cursors WHERE subscriber = 'loyalty'
             AND shop_id = %(s)s), 0)""", {"s": shop_id})
    return pending, behind


def delivery_problems(conn, shop_id: int, expected_events: int) -> list[str]:
    """Everything stored was applied, every subscriber passed every event without a
    failure, and the log holds one ledger-affecting event per delivery."""
    problems = []
    statuses = dict(conn.execute("SELECT status, count(*) FROM inbox WHERE shop_id = %(s)s"
                                 " GROUP BY status", {"s": shop_id}).fetchall())
    if statuses.get("pending") or statuses.get("failed"):
        problems.append(f"inbox not fully applied: {statuses}")
        for topic, error in conn.execute(
                "SELECT topic, error FROM inbox WHERE shop_id = %(s)s AND status = 'failed'"
                " LIMIT 3", {"s": shop_id}).fetchall():
            problems.append(f"  failed {topic}: {error}")
    head = one(conn, "SELECT coalesce(max(id), 0) FROM domain_events WHERE shop_id = %(s)s",
               {"s": shop_id})
    for name, last, failed, error in conn.execute(
            "SELECT subscriber, last_event_id, failed_event_id, last_error FROM event_cursors"
            " WHERE shop_id = %(s)s", {"s": shop_id}).fetchall():
        if failed is not None:
            problems.append(f"subscriber {name} failed at event {failed}: {error}")
        elif last != head:
            problems.append(f"subscriber {name} stopped at event {last}, the log's head is "
                            f"{head}")
    events = one(conn, "SELECT count(*) FROM domain_events WHERE shop_id = %(s)s"
                       " AND kind = ANY(%(k)s)", {"s": shop_id, "k": list(LEDGER_KINDS)})
    if events != expected_events:
        problems.append(f"{events} ledger-affecting events in the log, expected "
                        f"{expected_events} (one per delivery)")
    return problems


def award_problems(conn, shop_id: int) -> list[str]:
    """Every order that was paid and stands has exactly one purchase award; no order has two;
    a cancelled order's entries add up to nothing."""
    problems = []
    paid = """
        SELECT o.cancelled_at IS NOT NULL AS cancelled, coalesce(l.awards, 0) AS awards,
               coalesce(l.net, 0) AS net
        FROM orders o
        JOIN (SELECT DISTINCT ref FROM domain_events
              WHERE shop_id = %(s)s AND kind = 'order_paid') p ON p.ref = o.platform_order_id
        LEFT JOIN (SELECT order_id,
                          count(*) FILTER (WHERE source = 'order' AND kind IN ('earn', 'pending'))
                            AS awards,
                          sum(points) AS net
                   FROM loyalty_ledger WHERE shop_id = %(s)s AND order_id IS NOT NULL
                   GROUP BY order_id) l ON l.order_id = o.id
        WHERE o.shop_id = %(s)s"""
    row = conn.execute(f"""
        SELECT count(*) FILTER (WHERE NOT cancelled AND awards <> 1),
               count(*) FILTER (WHERE awards > 1),
               count(*) FILTER (WHERE cancelled AND net <> 0),
               count(*) FILTER (WHERE NOT cancelled), count(*)
        FROM ({paid}) AS paid""", {"s": shop_id}).fetchone()
    standing_wrong, doubled, cancelled_kept, standing, total = row
    if standing == 0:
        problems.append("no paid order found")
    if standing_wrong:
        problems.append(f"{standing_wrong} of {standing} paid orders do not have exactly one "
                        "purchase award")
    if doubled:
        problems.append(f"{doubled} orders have more than one purchase award")
    if cancelled_kept:
        problems.append(f"{cancelled_kept} of {total - standing} cancelled orders kept points")
    return problems


def balance_problems(conn, shop_id: int) -> list[str]:
    """Each profile's balance, pending and earned points equal the sums of its entries
    (app/loyalty/ledger.py states the arithmetic)."""
    wrong = conn.execute("""
        WITH sums AS (
            SELECT customer_id,
                   sum(points) FILTER (WHERE status = 'available') AS available,
                   coalesce(sum(points) FILTER (WHERE status = 'pending'), 0)
                     - coalesce(sum(points) FILTER (WHERE kind = 'release'), 0) AS pending,
                   sum(points) FILTER (WHERE kind IN ('earn', 'pending', 'reverse', 'adjust'))
                     AS earned
            FROM loyalty_ledger WHERE shop_id = %(s)s GROUP BY customer_id)
        SELECT count(*) FILTER (WHERE c.points_balance <> coalesce(s.available, 0)),
               count(*) FILTER (WHERE m.customer_id IS NOT NULL
                                AND (m.pending_points <> coalesce(s.pending, 0)
                                     OR m.lifetime_points <> coalesce(s.earned, 0))),
               count(*) FILTER (WHERE s.customer_id IS NOT NULL AND m.customer_id IS NULL)
        FROM customers c
        LEFT JOIN sums s ON s.customer_id = c.id
        LEFT JOIN loyalty_members m ON m.customer_id = c.id
        WHERE c.shop_id = %(s)s""", {"s": shop_id}).fetchone()
    problems = []
    if wrong[0]:
        problems.append(f"{wrong[0]} balances differ from the sum of their ledger")
    if wrong[1]:
        problems.append(f"{wrong[1]} members' pending or earned points differ from the ledger")
    if wrong[2]:
        problems.append(f"{wrong[2]} profiles have entries but no membership")
    return problems


def counts(conn, shop_id: int) -> dict[str, int]:
    def count(sql: str) -> int:
        return one(conn, sql, {"s": shop_id})

    return {
        "customers": count("SELECT count(*) FROM customers WHERE shop_id = %(s)s"),
        "orders": count("SELECT count(*) FROM orders WHERE shop_id = %(s)s"),
        "members": count("SELECT count(*) FROM loyalty_members WHERE shop_id = %(s)s"),
        "entries": count("SELECT count(*) FROM loyalty_ledger WHERE shop_id = %(s)s"),
        "events": count("SELECT count(*) FROM domain_events WHERE shop_id = %(s)s"),
        "tiered": count("SELECT count(*) FROM loyalty_members WHERE shop_id = %(s)s"
                        " AND tier IS NOT NULL"),
    }
