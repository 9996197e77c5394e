"""The KPIs do not depend on how they are computed. On PostgreSQL a series of up to 62
buckets has its customers, its retention and the whole period's retention and days between
orders from one pass of bucket masks (`app.analytics.buyers`); a longer series (by day over
four months) takes the other statements, which SQLite always takes. Both must give the
figures written here by hand, on the analytics fixture store (tests/analytics/store.py).

January to April 2026 in New York; the period before of the same length (120 days) is
3 September 2025 to 31 December 2025, with no orders. Counted orders with a customer:
A0 A1 B1 B2 C1 C2 D1 F1 G1 H0 H1 I1 (12) and N1 without one; customers: Ada, Bob, Cy, Dee,
Fay, Gus, Hal, Ivy (8), all new in the range.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.analytics.kpis import store_kpis
from app.analytics.periods import parse_period
from app.db import db
from tests.analytics.store import build_analytics_store

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def store(ctx, shop, other_shop):
    return build_analytics_store(shop, other_shop)


@pytest.mark.parametrize("interval", ["month", "week", "day"])
def test_the_same_totals_whatever_the_series(store, interval):
    period = parse_period(NEW_YORK, first="2026-01-01", last="2026-04-30", interval=interval)
    k = store_kpis(db.session, store.shop, period)
    t, f = k.totals, k.metrics.totals
    assert (f.customers, f.new_customers, f.returning_customers) == (8, 8, 0)
    # 12 orders with a customer, 8 of them first orders: 4 gaps. Ada 10 Feb 15:00 -> 5 Mar
    # 15:00 UTC = 23 days; Bob 10 -> 20 Mar = 10; Cy 1 Mar 02:00 -> 1 Apr 03:30 UTC =
    # 31.0625; Hal 5 Jan 17:00 -> 25 Mar 16:00 UTC = 78.958333. Sum 143.020833 / 4 = 35.755
    assert (t["first_orders"], t["returning_orders"]) == (8, 4)
    assert t["average_days_between_orders"] == Decimal("35.8")
    # Nobody ordered in the period before: no base for a retention rate.
    assert (t["previous_period_customers"], t["retained_customers"]) == (0, 0)
    assert t["retention_rate"] is None
    # The series' retention adds up the same way at any grain: each bucket's base is the
    # customers of the bucket before.
    assert sum(s["previous_period_customers"] for s in k.series) >= sum(
        s["retained_customers"] for s in k.series)


def test_retention_of_a_long_daily_range(store):
    """16 February to 31 March by day (44 days, 45 buckets with the day before: masks) and
    by day over 1 January to 31 March (90 days: the other statements), against the period
    before of the same length."""
    short = parse_period(NEW_YORK, first="2026-02-16", last="2026-03-31", interval="day")
    long = parse_period(NEW_YORK, first="2026-01-01", last="2026-03-31", interval="day")
    # 16 Feb - 31 Mar; the 44 days before: 3 Jan - 15 Feb: Hal (5 Jan), Ada (10 Feb). Back
    # in the range: Ada (5 Mar) and Hal (25 Mar).
    k = store_kpis(db.session, store.shop, short)
    assert (k.totals["previous_period_customers"], k.totals["retained_customers"]) == (2, 2)
    # 1 Jan - 31 Mar; the 90 days before (3 Oct - 31 Dec 2025): nobody.
    k = store_kpis(db.session, store.shop, long)
    assert (k.totals["previous_period_customers"], k.totals["retained_customers"]) == (0, 0)
    # Gaps with the later order in the range: the same four as over January-April.
    assert k.totals["average_days_between_orders"] == Decimal("35.8")
