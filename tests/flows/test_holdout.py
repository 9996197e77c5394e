"""The holdout report: both groups measured the same way (an order within the click window
after entering), the incremental revenue and its 95 % interval, computed by hand below."""

from __future__ import annotations

import pytest

from app.flows.holdout import report
from tests.flows.report_support import NOW, days, make_flow, order_of, run_of, shopper

TEN_DAYS_AGO = NOW - days(10)


def entrants(session, shop, flow, count, *, holdout, buyers, entered=TEN_DAYS_AGO):
    """`count` runs entered at `entered`; the first `buyers` order 50.00 a day later."""
    people = []
    for i in range(count):
        person = shopper(session, shop)
        run_of(session, flow, person, entered, holdout=holdout)
        if i < buyers:
            order_of(session, person, entered + days(1), "50.00")
        people.append(person)
    return people


def test_the_holdout_report_compares_both_groups_with_a_confidence_interval(session, shop):
    # given 30 treated entrants of whom 6 bought 50.00, and 30 held out of whom 3 did
    flow = make_flow(session, shop, holdout_percent=50)
    treated = entrants(session, shop, flow, 30, holdout=False, buyers=6)
    entrants(session, shop, flow, 30, holdout=True, buyers=3)
    # and orders that must not count: before entering, after the 5-day window, a test
    # order, a cancelled one; and a second order of a buyer (one conversion, more revenue)
    quiet = treated[10]
    order_of(session, quiet, NOW - days(11), "999.00")
    order_of(session, quiet, NOW - days(10) + days(5.1), "999.00")
    order_of(session, quiet, NOW - days(9), "999.00", test=True)
    order_of(session, quiet, NOW - days(9), "999.00").cancelled_at = NOW - days(9)
    # runs still inside their window, and another flow's run, are left out
    entrants(session, shop, flow, 4, holdout=False, buyers=4, entered=NOW - days(2))
    other = make_flow(session, shop, name="Other")
    entrants(session, shop, other, 1, holdout=True, buyers=1)
    session.flush()
    # when the report is made
    result = report(session, shop.id, flow.id, NOW)
    # then, per entrant: treatment 300/30 = 10.00, holdout 150/30 = 5.00
    assert result["treatment"] == {"entrants": 30, "converted": 6, "conversion_rate": "0.2000",
                                   "revenue": "300.00", "revenue_per_entrant": "10.00"}
    assert result["holdout"] == {"entrants": 30, "converted": 3, "conversion_rate": "0.1000",
                                 "revenue": "150.00", "revenue_per_entrant": "5.00"}
    # variances (n-1): (6·50² − 30·10²)/29 = 12000/29 and (3·50² − 30·5²)/29 = 6750/29;
    # standard error √(18750/870) = 4.6424; 1.96 × 4.6424 = 9.0991 → [−4.10, 14.10]
    assert result["incremental_revenue_per_entrant"] == "5.00"
    assert result["ci95"] == ["-4.10", "14.10"]
    assert result["incremental_revenue"] == "150.00"
    assert result["enough_data"] is True and result["reason"] is None
    assert (result["in_window"], result["window_days"]) == (4, 5)


def test_a_buyer_with_two_orders_converts_once_with_both_totals(session, shop):
    flow = make_flow(session, shop, holdout_percent=10)
    [ada] = entrants(session, shop, flow, 1, holdout=False, buyers=1)
    order_of(session, ada, NOW - days(8), "25.00")
    result = report(session, shop.id, flow.id, NOW)
    assert (result["treatment"]["converted"], result["treatment"]["revenue"]) == (1, "75.00")


def test_small_groups_are_reported_as_not_enough_data_with_the_reason(session, shop):
    flow = make_flow(session, shop, holdout_percent=10)
    entrants(session, shop, flow, 12, holdout=False, buyers=3)
    entrants(session, shop, flow, 2, holdout=True, buyers=0)
    result = report(session, shop.id, flow.id, NOW)
    assert result["enough_data"] is False
    assert "at least 30 entrants per group" in result["reason"]
    assert "12 received the emails and 2 were held out" in result["reason"]
    # the figures are still there, to be read with care: 150/12 − 0 = 12.50
    assert result["incremental_revenue_per_entrant"] == "12.50"
    assert result["holdout"]["conversion_rate"] == "0.0000"


def test_a_flow_without_a_holdout_says_how_to_get_one(session, shop):
    flow = make_flow(session, shop)
    entrants(session, shop, flow, 40, holdout=False, buyers=4)
    result = report(session, shop.id, flow.id, NOW)
    assert result["holdout"] == {"entrants": 0, "converted": 0, "conversion_rate": None,
                                 "revenue": "0.00", "revenue_per_entrant": None}
    assert result["ci95"] is None and result["incremental_revenue"] is None
    assert "keeps no holdout" in result["reason"]


def test_another_shops_flow_is_not_found(session, shop, other_shop):
    flow = make_flow(session, shop)
    with pytest.raises(LookupError):
        report(session, other_shop.id, flow.id, NOW)
