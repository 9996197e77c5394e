"""RFM scores and segments (app/analytics/rfm.py) against hand-computed quintiles, ties
included; rescoring against the stored cut points agrees with a full refresh; the daily job."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from app.analytics import rfm
from app.analytics.rfm import refresh_shop, rescore_customers, shops_due
from app.analytics.rfm_models import RfmCutoffs
from app.profiles.models import Customer
from tests.analytics.rfm_support import AS_OF, CUTS, EXPECTED, hand_store
from tests.customer_helpers import customer_row


def scores(session, rows: dict) -> dict:
    session.expire_all()
    return {name: (c.rfm_recency, c.rfm_frequency, c.rfm_monetary, c.rfm_segment)
            for name, c in ((n, session.get(Customer, r if isinstance(r, int) else r.id))
                            for n, r in rows.items())}


def test_refresh_scores_by_quintile_with_ties_sharing_a_score(session, shop, other_shop):
    rows = hand_store(session, shop)
    outsider = customer_row(session, other_shop, orders_count=50,
                            total_spent=Decimal("5000"), last_order_at=AS_OF)
    session.commit()

    result = refresh_shop(session, shop.id, now=AS_OF)
    session.commit()

    got = scores(session, rows)
    for name, expected in EXPECTED.items():
        assert got[name] == expected, name
    # no counted order, or deleted: no scores, and a stale segment is cleared
    assert got["nobody"] == (None, None, None, None)
    assert got["deleted"] == (None, None, None, None)
    assert result["customers_scored"] == 10 and result["cleared"] == 1
    # the other store is neither counted nor touched
    session.refresh(outsider)
    assert outsider.rfm_segment is None
    cuts = session.get(RfmCutoffs, shop.id)
    assert cuts.customers_scored == 10 and cuts.as_of == AS_OF
    assert {d: cuts.cuts(d) for d in CUTS} == CUTS


def test_a_store_with_fewer_than_five_distinct_values_uses_fewer_scores(session, shop):
    # every customer: one order, the same day; spend 10 x3 and 20 x2
    rows = {i: customer_row(session, shop, orders_count=1, last_order_at=AS_OF - timedelta(days=4),
                            total_spent=Decimal("10" if i < 3 else "20")) for i in range(5)}
    session.commit()
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    got = scores(session, rows)
    # R and F: nobody is strictly below anybody -> 1; M: 20 has 3 of 5 below -> 1 + 3 = 4
    assert [got[i][:3] for i in range(5)] == [(1, 1, 1)] * 3 + [(1, 1, 4)] * 2
    assert got[0][3] == "Lost" and got[4][3] == "Hibernating"
    cuts = session.get(RfmCutoffs, shop.id)
    assert cuts.cuts("recency") == [None] * 4
    assert cuts.cuts("monetary") == [Decimal("20"), Decimal("20"), Decimal("20"), None]


def test_rescoring_against_the_stored_cut_points_agrees_with_the_refresh(session, shop):
    rows = hand_store(session, shop)
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    refreshed = scores(session, rows)
    # wipe every score, then rescore each customer alone
    for row in rows.values():
        c = session.get(Customer, row.id)
        c.rfm_recency = c.rfm_frequency = c.rfm_monetary = None
        c.rfm_segment = None
    session.commit()
    for row in rows.values():
        rescore_customers(session, shop.id, [row.id], now=AS_OF + timedelta(days=3))
    session.commit()
    assert scores(session, rows) == refreshed


def test_a_changed_customer_is_rescored_against_the_cut_points(session, shop):
    rows = hand_store(session, shop)
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    # I (Lost) orders again after the cut points were computed: 2 orders, 95 spent
    i = session.get(Customer, rows["I"].id)
    i.orders_count, i.total_spent = 2, Decimal("95")
    i.last_order_at = AS_OF + timedelta(days=2)
    # and A's only orders are refunded and cancelled away: no counted order left
    a = session.get(Customer, rows["A"].id)
    a.orders_count, a.total_spent, a.last_order_at = 0, Decimal("0"), None
    session.commit()

    result = rescore_customers(session, shop.id, [rows["I"].id, rows["A"].id])
    session.commit()

    got = scores(session, rows)
    # after AS_OF: 0 days or fewer -> R 5; 2 orders >= 2 -> F 4; 95 >= 80 -> M 5; FM 4
    assert got["I"] == (5, 4, 5, "Champions")
    assert got["A"] == (None, None, None, None)
    assert result == {"shop_id": shop.id, "changed": 1, "cleared": 1}
    # the others were not touched
    assert got["B"] == EXPECTED["B"]


def test_a_store_never_scored_is_refreshed_whole_on_its_first_rescore(session, shop):
    rows = hand_store(session, shop)
    rescore_customers(session, shop.id, [rows["A"].id], now=AS_OF)
    session.commit()
    got = scores(session, rows)
    assert got["J"] == EXPECTED["J"] and got["A"] == EXPECTED["A"]


def test_a_big_store_never_scored_waits_for_the_periodic_refresh(session, shop, monkeypatch):
    rows = hand_store(session, shop)
    monkeypatch.setattr(rfm, "INLINE_REFRESH_BUYERS", 5)  # the store has 10 buyers

    result = rescore_customers(session, shop.id, [rows["A"].id], now=AS_OF)
    session.commit()

    assert result["changed"] == 0 and "periodic refresh" in result["deferred"]
    got = scores(session, rows)
    assert got["A"] == got["J"] == (None, None, None, None)
    assert shops_due(session, now=AS_OF) == [shop.id]
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    assert scores(session, rows)["J"] == EXPECTED["J"]


def test_stores_are_due_daily_and_not_before(session, shop, other_shop):
    customer_row(session, shop, orders_count=1, total_spent=Decimal("5"), last_order_at=AS_OF)
    session.commit()
    # a store with buyers never scored is due; one without customers is not
    assert shops_due(session, AS_OF) == [shop.id]
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    assert shops_due(session, AS_OF + timedelta(hours=23)) == []
    assert shops_due(session, AS_OF + timedelta(hours=25)) == [shop.id]
    # an uninstalled store is left as it was
    shop.status = "uninstalled"
    session.commit()
    assert shops_due(session, AS_OF + timedelta(hours=25)) == []


def test_the_periodic_job_refreshes_due_stores_so_recency_ages(session, shop):
    from jobs.analytics_rfm import refresh_due
    from jobs.worker import PERIODIC_JOBS

    assert ("jobs.analytics_rfm.refresh_due", 3600) in PERIODIC_JOBS
    rows = hand_store(session, shop)
    refresh_shop(session, shop.id, now=AS_OF)
    session.commit()
    # 36 days later nothing has been ordered; the job recomputes as of then
    later, shop_id = AS_OF + timedelta(days=36), shop.id
    ids = {name: row.id for name, row in rows.items()}
    session.close()
    assert refresh_due(later.isoformat()) == {"stores_refreshed": [shop_id]}
    assert refresh_due(later.isoformat()) == {"stores_refreshed": []}  # recent: skipped
    cuts = session.get(RfmCutoffs, shop_id)
    assert cuts.computed_at == later
    # days are now 36 more for all: the ranks are the same, and so are the scores
    got = scores(session, ids)
    assert all(got[name] == expected for name, expected in EXPECTED.items())
    assert session.execute(select(Customer.rfm_scored_at).where(
        Customer.id == ids["I"])).scalar_one() == AS_OF  # unchanged: not rewritten


def test_the_databases_segment_case_is_the_rule_table(session):
    # every one of the 125 combinations, computed by the database as refresh_shop does
    from itertools import product

    from sqlalchemy import literal

    from app.analytics.rfm import segment_case
    from app.profiles.rfm_rules import segment_for

    combos = list(product(range(1, 6), repeat=3))
    got = session.execute(select(*[
        segment_case(literal(r), literal(f), literal(m)) for r, f, m in combos])).one()
    assert list(got) == [segment_for(r, f, m) for r, f, m in combos]
