"""A small store whose RFM scores are worked out by hand (see test_rfm_scoring.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.customer_helpers import customer_row

AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# name: (days since the last order at AS_OF, extra hours before that, orders, net spent)
FIGURES = {
    "A": (0, 2, 5, "100"),
    "B": (3, 5, 3, "80"),     # 3 days 5 hours: still 3 whole days
    "C": (3, 0, 1, "20"),     # exactly 3 days
    "D": (10, 0, 2, "30"),
    "E": (30, 23, 1, "10"),
    "F": (30, 0, 1, "40"),
    "G": (30, 1, 2, "70"),
    "H": (90, 0, 1, "50"),
    "I": (200, 0, 1, "20"),
    "J": (400, 0, 1, "60"),
}

# Worked out by hand from the rule score = 1 + floor(5 * below / n), n = 10.
# Frequency 1,1,1,1,1,1,2,2,3,5: 1 -> 0 below -> 1; 2 -> 6 below -> 4; 3 -> 8 -> 5; 5 -> 9 -> 5.
# Monetary 10,20,20,30,40,50,60,70,80,100: 10 and both 20s -> 1 (0 and 1 below); 30 -> 3
#   below -> 2; 40 -> 3; 50 -> 3 (5 below: floor 2.5); 60 -> 4; 70 -> 4; 80 -> 5; 100 -> 5.
# Recency in days 0,3,3,10,30,30,30,90,200,400, below = customers with more days: 0 -> 9 ->
#   5; 3 -> 7 -> 4; 10 -> 6 -> 4; 30 -> 3 -> 2; 90 -> 2 -> 2; 200 -> 1 -> 1; 400 -> 0 -> 1.
EXPECTED = {
    "A": (5, 5, 5, "Champions"),
    "B": (4, 5, 5, "Champions"),
    "C": (4, 1, 1, "Promising"),
    "D": (4, 4, 2, "Loyal"),            # FM = 6 // 2 = 3
    "E": (2, 1, 1, "Hibernating"),
    "F": (2, 1, 3, "About to Sleep"),   # FM = 2
    "G": (2, 4, 4, "At Risk"),
    "H": (2, 1, 3, "About to Sleep"),
    "I": (1, 1, 1, "Lost"),
    "J": (1, 1, 4, "Hibernating"),      # R 1, FM 2
}
# Cut points of scores 2..5: the first value with >= 2, 4, 6, 8 of the 10 strictly below.
CUTS = {
    "recency": [90, 10, 10, 0],
    "frequency": [2, 2, 2, 3],
    "monetary": [Decimal("30"), Decimal("40"), Decimal("60"), Decimal("80")],
}


def hand_store(session, shop, as_of: datetime = AS_OF) -> dict:
    """The ten customers of FIGURES (last orders counted back from `as_of`), plus one with no
    order and a deleted one; by name."""
    rows = {}
    for name, (days, hours, orders, spent) in FIGURES.items():
        last = as_of - timedelta(days=days, hours=hours)
        rows[name] = customer_row(session, shop, first_name=name, orders_count=orders,
                                  total_spent=Decimal(spent), last_order_at=last,
                                  first_order_at=last - timedelta(days=orders))
    rows["nobody"] = customer_row(session, shop, first_name="Nobody", rfm_segment="Lost",
                                  rfm_recency=1, rfm_frequency=1, rfm_monetary=1)
    rows["deleted"] = customer_row(session, shop, first_name="Gone", orders_count=9,
                                   total_spent=Decimal("999"), last_order_at=as_of,
                                   deleted_at=as_of)
    session.commit()
    return rows
