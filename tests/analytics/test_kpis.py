"""Every KPI of `app.analytics.kpis` on the analytics fixture store (tests/analytics/store.py,
New York), against the arithmetic written next to it. March 2026 in New York runs from
2026-03-01 05:00 UTC to 2026-04-01 04:00 UTC; the period before it of the same length is
29 January to 28 February.

Counted orders of the shop (local dates): A0 Ada 10 Feb 50; A1 Ada 5 Mar 100 − 30 refunded;
B1 Bob 10 Mar 80; B2 Bob 20 Mar 40; C1 Cy 28 Feb 21:00 70; C2 Cy 31 Mar 23:30 60; D1 Dee
(guest, by email) 15 Mar 25; N1 (no customer, no email) 18 Mar 10; F1 Fay 1 Apr 90; G1 Gus
1 Mar 00:00 15; H0 Hal 5 Jan 30; H1 Hal 25 Mar 45; I1 Ivy 20 Feb 55. Not counted: B3
(cancelled), E1 (voided), E2 (test).
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.analytics.kpis import DEFINITIONS, NO_PREDICTIONS, SERIES_KPIS, store_kpis
from app.analytics.periods import parse_period
from app.db import db
from tests.analytics.store import build_analytics_store, set_predicted_clv

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def store(ctx, shop, other_shop):
    return build_analytics_store(shop, other_shop)


def period(first: str, last: str, interval: str | None = None):
    return parse_period(NEW_YORK, first=first, last=last, interval=interval)


def march(interval: str | None = None):
    return period("2026-03-01", "2026-03-31", interval)


def test_every_kpi_of_march(store):
    k = store_kpis(db.session, store.shop, march())
    t, f = k.totals, k.metrics.totals

    # Orders A1 B1 B2 C2 D1 N1 G1 H1: 70 + 80 + 40 + 60 + 25 + 10 + 15 + 45 = 345
    assert (f.orders, f.revenue) == (8, Decimal("345.00"))
    # First orders ever: B1, D1 (the guest), G1 = 80 + 25 + 15 = 120, 40.00 each
    assert (t["first_orders"], t["average_order_value_first"]) == (3, Decimal("40"))
    # Returning: A1 70, B2 40, C2 60, H1 45 = 215 / 4 = 53.75; N1 is in neither
    assert (t["returning_orders"], t["average_order_value_returning"]) == (4, Decimal("53.75"))
    # Customers: Ada Bob Cy Dee Gus Hal = 6; their orders 7: 7 / 6
    assert f.customers == 6
    assert t["purchase_frequency"] == Decimal("1.17")
    # Gaps whose later order is in March: Ada 10 Feb 15:00 -> 5 Mar 15:00 UTC = 23 days; Bob
    # 10 -> 20 Mar = 10; Cy 1 Mar 02:00 -> 1 Apr 03:30 UTC = 31 days 1.5 h = 31.0625; Hal
    # 5 Jan 17:00 -> 25 Mar 16:00 UTC = 79 days − 1 h = 78.958333 (his order before is
    # older than the period before). (23 + 10 + 31.0625 + 78.958333) / 4 = 35.755
    assert t["average_days_between_orders"] == Decimal("35.8")
    # The period before (29 Jan - 28 Feb): Ada, Cy (28 Feb 21:00 local), Ivy; back in March:
    # Ada and Cy
    assert (t["previous_period_customers"], t["retained_customers"]) == (3, 2)
    assert t["retention_rate"] == Decimal("0.6667")
    assert t["churn_rate"] == Decimal("0.3333")
    # Checkouts started 5; abandoned K3, and K2 abandoned then recovered: 2 / 5
    assert t["checkout_abandonment_rate"] == Decimal("0.4000")
    # Emails sent in March: m1, m2 (31 Mar 23:00 local), m6; not m3 (28 Feb local), the
    # test send or the failed one
    assert (t["emails_sent"], t["emails_opened"], t["emails_clicked"],
            t["email_unsubscribes"]) == (3, 2, 1, 1)
    assert (t["email_open_rate"], t["email_click_rate"]) == (Decimal("0.6667"),
                                                             Decimal("0.3333"))
    # Credited orders: A1 (70 net) and B2 (40); B3 is cancelled, F1 in April
    assert (t["flow_orders"], t["flow_revenue"]) == (2, Decimal("110.00"))
    # Points: earn 100 + pending 50 + adjust 20 = 170 issued (not −10, reverse, release,
    # nor the 500 of 28 Feb local); redeemed 60; 60 / 170 = 0.352941
    assert (t["points_issued"], t["points_redeemed"]) == (170, 60)
    assert t["points_redemption_rate"] == Decimal("0.3529")
    # Lifetime revenue of the 8 customers with an order (Eve has none counted): Ada 120, Bob
    # 120, Cy 130, Dee 25, Fay 90, Gus 15, Hal 75, Ivy 55 = 630 / 8
    assert t["historic_clv"] == Decimal("78.75")
    assert (t["predicted_clv"], t["predicted_clv_customers"]) == (None, 0)
    assert t["predicted_clv_note"] == NO_PREDICTIONS


def test_predicted_clv_is_the_average_of_the_predictions(store):
    set_predicted_clv(store.shop.id, {"ada": "200.00", "bob": "100.50"})

    t = store_kpis(db.session, store.shop, march()).totals

    assert (t["predicted_clv"], t["predicted_clv_customers"]) == (Decimal("150.25"), 2)
    assert t["predicted_clv_note"] is None


def test_weekly_series_in_new_york(store):
    k = store_kpis(db.session, store.shop, march("week"))

    dates = [b.start.isoformat() for b in k.metrics.series]
    assert dates == ["2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23",
                     "2026-03-30"]
    s = k.series
    # First orders: G1 (1 Mar 00:00 local) | - | B1, D1 | - | - | -
    assert [x["first_orders"] for x in s] == [1, 0, 2, 0, 0, 0]
    # Returning: - | A1 | - | B2 (N1 has no customer) | H1 | C2 (31 Mar 23:30 local)
    assert [x["returning_orders"] for x in s] == [0, 1, 0, 1, 1, 1]
    assert [x["average_order_value_returning"] for x in s] == [
        None, Decimal("70"), None, Decimal("40"), Decimal("45"), Decimal("60")]
    # Retention against the calendar week before. The first week is cut to 1 March: its
    # week before is 16-22 Feb (Ivy), and C1 (28 Feb local) counts in neither. Customers by
    # week: {Gus} {Ada} {Bob, Dee} {Bob} {Hal} {Cy}
    assert [(x["previous_period_customers"], x["retained_customers"]) for x in s] == [
        (1, 0), (1, 0), (1, 0), (2, 1), (1, 0), (1, 0)]
    assert [x["retention_rate"] for x in s] == [
        Decimal("0"), Decimal("0"), Decimal("0"), Decimal("0.5000"), Decimal("0"),
        Decimal("0")]
    assert [x["emails_sent"] for x in s] == [0, 1, 1, 0, 0, 1]
    assert [x["points_issued"] for x in s] == [0, 100, 70, 0, 0, 0]
    assert [x["points_redeemed"] for x in s] == [0, 0, 0, 60, 0, 0]
    assert [x["flow_revenue"] for x in s] == [
        Decimal("0"), Decimal("70.00"), Decimal("0"), Decimal("40.00"), Decimal("0"),
        Decimal("0")]
    # Week of 9 Mar: Bob and Dee ordered once each: 2 orders / 2 customers
    assert s[2]["purchase_frequency"] == Decimal("1.00")
    assert set(SERIES_KPIS) <= set(s[0])


def test_monthly_retention_across_the_new_york_month_boundary(store):
    k = store_kpis(db.session, store.shop, period("2026-02-01", "2026-03-31", "month"))

    # January: Hal. February: Ada, Ivy and Cy (C1: 1 Mar 02:00 UTC is 28 Feb in New York).
    # March: Ada Bob Cy Dee Gus Hal
    assert [(x["previous_period_customers"], x["retained_customers"]) for x in k.series] == [
        (1, 0), (3, 2)]
    assert [x["churn_rate"] for x in k.series] == [Decimal("1"), Decimal("0.3333")]
    # The whole range (59 days) against the 59 days before, 3 Dec - 31 Jan: Hal (5 Jan),
    # who ordered again on 25 Mar
    assert (k.totals["previous_period_customers"], k.totals["retained_customers"]) == (1, 1)
    assert (k.totals["retention_rate"], k.totals["churn_rate"]) == (Decimal("1.0000"),
                                                                    Decimal("0"))


def test_a_store_with_nothing_has_no_rates(ctx, shop):
    t = store_kpis(db.session, shop, march()).totals

    assert (t["first_orders"], t["returning_orders"], t["emails_sent"]) == (0, 0, 0)
    for name in ("average_order_value_first", "average_order_value_returning",
                 "purchase_frequency", "average_days_between_orders", "retention_rate",
                 "churn_rate", "checkout_abandonment_rate", "email_open_rate",
                 "email_click_rate", "points_redemption_rate", "historic_clv",
                 "predicted_clv"):
        assert t[name] is None, name


def test_every_kpi_has_a_one_line_definition(store):
    t = store_kpis(db.session, store.shop, march()).totals
    shown = set(t) - {"first_orders_revenue", "returning_orders_revenue",
                      "predicted_clv_note"}

    assert shown <= set(DEFINITIONS)
    assert all("\n" not in line and line.endswith(".") for line in DEFINITIONS.values())
