"""The store's figures (`app.analytics.metrics`): a small store in New York, built through
the profile store from neutral records as the connectors produce them, and every figure
checked against the arithmetic written next to it.

The store's March 2026 (local) starts at 2026-03-01 05:00 UTC (EST, UTC-5) and ends at
2026-04-01 04:00 UTC (EDT, UTC-4: clocks went forward on 8 March).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.analytics.metrics import DEFINITIONS, store_metrics
from app.analytics.periods import parse_period
from app.db import db
from app.profiles.abandoned import mark_abandoned_carts
from app.profiles.models import Cart, Customer
from app.profiles.store import ProfileStore
from app.shops.models import Shop
from connectors.records import CartRecord, CustomerRecord, OrderRecord, RefundRecord

NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def person(key: str) -> CustomerRecord:
    return CustomerRecord(platform_id=f"cust-{key}", email=f"{key}@example.com",
                          first_name=key.title(), last_name="Tester",
                          created_at=utc(2026, 1, 1), updated_at=utc(2026, 1, 1))


def order(key: str, placed: datetime, total: str, who: CustomerRecord | None = None, *,
          email: str | None = None, **more) -> OrderRecord:
    return OrderRecord(platform_id=f"order-{key}", placed_at=placed, updated_at=placed,
                       currency="USD", total_price=Decimal(total), customer=who,
                       email=email or (who.email if who else None), name=f"#{key}",
                       financial_status=more.pop("financial_status", "paid"), **more)


def checkout(token: str, started: datetime, who: CustomerRecord | None, *,
             updated: datetime | None = None, completed: datetime | None = None
             ) -> CartRecord:
    return CartRecord(kind="checkout", token=token, created_at=started,
                      updated_at=updated or started, email=who.email if who else None,
                      customer=who, currency="USD", total_price=Decimal("50.00"),
                      completed_at=completed)


def apply(shop_id: int, *records) -> None:
    session = db.session
    store = ProfileStore(session, shop_id)
    for record in records:
        store.apply(record)
    store.finish()
    session.commit()


@dataclass
class Store:
    shop: Shop
    other: Shop


def build_store(shop: Shop, other_shop: Shop) -> Store:
    """The New York store of this module (and of the API and page tests)."""
    db.session.get(Shop, shop.id).timezone = "America/New_York"
    db.session.commit()
    ada, bob, cy, eve, fay, gus = (person(k) for k in ("ada", "bob", "cy", "eve", "fay", "gus"))
    # Checkouts first, as shoppers start them; Ada's completes with her order at once.
    apply(shop.id,
          checkout("K1", utc(2026, 3, 5, 14, 50), ada),
          checkout("K2", utc(2026, 3, 9, 10), bob),
          checkout("K3", utc(2026, 3, 25, 10), cy),
          checkout("K4", utc(2026, 3, 26, 10), person("dee"), updated=utc(2026, 3, 29)),
          checkout("K5", utc(2026, 2, 20, 10), fay),  # before March
          checkout("K6", utc(2026, 3, 27, 10), None),  # no email: never abandoned
          order("A1", utc(2026, 3, 5, 15), "100.00", ada, checkout_token="K1"))
    # The abandonment job runs on 28 March: K2, K3 and K5 have been idle, K4 was updated
    # on the 29th (the job's cutoff is what matters, not the real clock).
    mark_abandoned_carts(db.session, shop.id, utc(2026, 3, 28))
    db.session.commit()
    apply(shop.id,
          order("A0", utc(2026, 2, 10, 15), "50.00", ada),
          RefundRecord(platform_id="refund-A1", order_platform_id="order-A1",
                       amount=Decimal("30.00"), refunded_at=utc(2026, 4, 10)),
          # Bob completes the checkout he left (K2): a recovered checkout.
          order("B1", utc(2026, 3, 10, 14), "80.00", bob, checkout_token="K2"),
          order("B2", utc(2026, 3, 20, 14), "40.00", bob),
          order("B3", utc(2026, 3, 12, 14), "500.00", bob, cancelled_at=utc(2026, 3, 12, 15)),
          # 02:00 UTC on 1 March is 21:00 on 28 February in New York: before the range.
          order("C1", utc(2026, 3, 1, 2), "70.00", cy),
          # 03:30 UTC on 1 April is 23:30 on 31 March in New York: in the range.
          order("C2", utc(2026, 4, 1, 3, 30), "60.00", cy),
          order("D1", utc(2026, 3, 15, 16), "25.00", None, email="dee@example.com"),  # guest
          order("E1", utc(2026, 3, 16, 16), "200.00", eve, financial_status="voided"),
          order("E2", utc(2026, 3, 17, 16), "300.00", eve, test=True),
          order("N1", utc(2026, 3, 18, 16), "10.00", None),  # no customer, no email
          order("F1", utc(2026, 4, 1, 5), "90.00", fay),  # 01:00 on 1 April: after March
          order("G1", utc(2026, 3, 1, 5), "15.00", gus))  # 00:00 on 1 March: the first instant
    # Later, the platform sends Bob's checkout again, completed: it stays recovered.
    apply(shop.id, checkout("K2", utc(2026, 3, 9, 10), bob, updated=utc(2026, 3, 10, 14, 5),
                            completed=utc(2026, 3, 10, 14)))
    # Another store, same shopper emails and dates: never counted in this store's figures.
    apply(other_shop.id,
          order("X1", utc(2026, 3, 10, 12), "1000.00", person("ada")),
          order("X2", utc(2026, 3, 11, 12), "1000.00", person("zed")),
          checkout("KX", utc(2026, 3, 10, 11), person("zed")))
    return Store(db.session.get(Shop, shop.id), db.session.get(Shop, other_shop.id))


@pytest.fixture
def store(ctx, shop, other_shop) -> Store:
    return build_store(shop, other_shop)


def march(interval: str | None = None):
    return parse_period(NEW_YORK, first="2026-03-01", last="2026-03-31", interval=interval)


def test_a_month_of_figures_follows_the_counting_rules(store):
    # when
    m = store_metrics(db.session, store.shop, march())

    # then: counted orders in March (local) are A1, B1, B2, C2, D1, N1, G1 (B3 cancelled,
    # E1 voided, E2 a test, C1 on 28 Feb and F1 on 1 Apr in New York)
    t = m.totals
    assert t.orders == 7
    # (100 - 30 refunded on 10 April) + 80 + 40 + 60 + 25 + 10 + 15 = 300
    assert t.revenue == Decimal("300.00")
    assert t.average_order_value.quantize(Decimal("0.01")) == Decimal("42.86")  # 300 / 7
    # Ada, Bob, Cy, Dee (a guest, by email) and Gus; N1 has no profile, Eve no counted order
    assert t.customers == 5
    assert t.new_customers == 3  # Bob, Dee and Gus ordered for the first time in March
    assert t.returning_customers == 2  # Ada (10 Feb) and Cy (28 Feb, local) had ordered before
    # Ada and Cy (before and in March) and Bob (twice in March): 3 of 5
    assert t.repeat_customers == 3
    assert t.repeat_purchase_rate == Decimal("0.6000")
    # Checkouts started in March: K1 K2 K3 K4 K6 (K5 in February)
    assert t.checkouts_started == 5
    assert t.checkouts_open == 2  # K4 (active after the cutoff) and K6 (no email)
    assert t.checkouts_abandoned == 1  # K3
    assert t.checkouts_completed == 2  # K1 at once, K2 after it was abandoned
    assert t.checkouts_recovered == 1  # K2
    assert t.recovery_rate == Decimal("0.5000")  # 1 recovered of 2 abandoned (K2, K3)
    assert m.currency == "USD"


def test_every_figure_has_a_one_line_definition(store):
    m = store_metrics(db.session, store.shop, march())
    figures = {"revenue", "orders", "average_order_value", "customers", "new_customers",
               "returning_customers", "repeat_purchase_rate", "checkouts_started",
               "checkouts_open", "checkouts_abandoned", "checkouts_completed",
               "checkouts_recovered", "recovery_rate"}
    assert set(DEFINITIONS) == figures
    assert all(text and "\n" not in text and len(text) < 160 for text in DEFINITIONS.values())
    assert m.totals.revenue  # the store is not empty: the definitions describe real figures


def test_weeks_are_the_stores_mondays_and_the_ends_are_cut_to_the_range(store):
    m = store_metrics(db.session, store.shop, march("week"))

    weeks = [(b.start, b.first_day, b.last_day, b.figures.orders, b.figures.revenue,
              b.figures.customers, b.figures.new_customers, b.figures.returning_customers)
             for b in m.series]
    assert weeks == [
        # 1 March is a Sunday: its week began on Monday 23 February. G1 (Gus, new).
        (date(2026, 2, 23), date(2026, 3, 1), date(2026, 3, 1), 1, Decimal("15.00"), 1, 1, 0),
        # A1 on 5 March: 100 - 30 = 70; Ada had ordered before.
        (date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 8), 1, Decimal("70.00"), 1, 0, 1),
        # B1 80 + D1 25 = 105; Bob and Dee are new.
        (date(2026, 3, 9), date(2026, 3, 9), date(2026, 3, 15), 2, Decimal("105.00"), 2, 2, 0),
        # B2 40 + N1 10 = 50; only Bob is a customer, returning since the week before.
        (date(2026, 3, 16), date(2026, 3, 16), date(2026, 3, 22), 2, Decimal("50.00"), 1, 0,
         1),
        (date(2026, 3, 23), date(2026, 3, 23), date(2026, 3, 29), 0, Decimal("0"), 0, 0, 0),
        # C2 at 23:30 on 31 March; the week is cut at the end of March.
        (date(2026, 3, 30), date(2026, 3, 30), date(2026, 3, 31), 1, Decimal("60.00"), 1, 0,
         1),
    ]
    # Checkouts by the week they started: K1 (5th), K2 (9th), K3 K4 K6 (25th-27th)
    assert [b.figures.checkouts_started for b in m.series] == [0, 1, 1, 0, 3, 0]
    assert [b.figures.checkouts_recovered for b in m.series] == [0, 0, 1, 0, 0, 0]
    assert sum(b.figures.revenue for b in m.series) == m.totals.revenue


def test_days_are_the_stores_days_across_the_dst_change(store):
    m = store_metrics(db.session, store.shop, march("day"))

    assert [b.start for b in m.series][:2] == [date(2026, 3, 1), date(2026, 3, 2)]
    assert len(m.series) == 31  # 8 March, 23 hours long in New York, is one day
    by_day = {b.start.day: (b.figures.orders, b.figures.revenue) for b in m.series
              if b.figures.orders}
    assert by_day == {1: (1, Decimal("15.00")), 5: (1, Decimal("70.00")),
                      10: (1, Decimal("80.00")), 15: (1, Decimal("25.00")),
                      18: (1, Decimal("10.00")), 20: (1, Decimal("40.00")),
                      31: (1, Decimal("60.00"))}


def test_an_order_at_two_in_the_morning_utc_is_on_the_previous_local_day(store):
    # C1 was placed at 02:00 UTC on 1 March: 21:00 on 28 February in New York
    day = parse_period(NEW_YORK, first="2026-02-28", last="2026-02-28")
    assert day.start == utc(2026, 2, 28, 5) and day.end == utc(2026, 3, 1, 5)

    m = store_metrics(db.session, store.shop, day)

    assert (m.totals.orders, m.totals.revenue) == (1, Decimal("70.00"))
    assert (m.totals.customers, m.totals.new_customers) == (1, 1)  # Cy's first order
    first = store_metrics(db.session, store.shop,
                          parse_period(NEW_YORK, first="2026-03-01", last="2026-03-01"))
    assert (first.totals.orders, first.totals.revenue) == (1, Decimal("15.00"))  # G1 only


def test_the_previous_period_of_the_same_length_is_compared(store):
    m = store_metrics(db.session, store.shop, march(), compare=True)

    previous = m.previous
    # 31 days before 1 March: 29 January to 28 February
    assert (previous.period.first_day, previous.period.last_day) == (date(2026, 1, 29),
                                                                      date(2026, 2, 28))
    assert previous.orders == 2  # A0 (10 Feb) and C1 (28 Feb, local)
    assert previous.revenue == Decimal("120.00")  # 50 + 70
    assert previous.average_order_value == Decimal("60")
    assert previous.new_customers == 2  # Ada and Cy ordered first then


def test_another_stores_orders_and_checkouts_count_only_there(store):
    # The other store: X1 (Ada's email) and X2, 1000 each, and one checkout
    theirs = store_metrics(db.session, store.other, march()).totals
    ours = store_metrics(db.session, store.shop, march()).totals

    assert (theirs.orders, theirs.revenue, theirs.customers) == (2, Decimal("2000.00"), 2)
    assert theirs.checkouts_started == 1
    assert (ours.orders, ours.revenue, ours.customers) == (7, Decimal("300.00"), 5)


def test_a_range_with_nothing_in_it_has_zeros_and_no_ratios(store):
    m = store_metrics(db.session, store.shop,
                      parse_period(NEW_YORK, first="2025-06-01", last="2025-06-30"))

    t = m.totals
    assert (t.orders, t.revenue, t.customers, t.checkouts_started) == (0, Decimal("0"), 0, 0)
    assert t.average_order_value is None
    assert t.repeat_purchase_rate is None and t.recovery_rate is None
    assert len(m.series) == 30 and not any(b.figures.orders for b in m.series)


def test_test_orders_count_in_no_customers_figures(store):
    # Eve's only orders are voided (E1) and a test (E2)
    eve = db.session.execute(select(Customer).where(
        Customer.shop_id == store.shop.id, Customer.email == "eve@example.com")).scalar_one()

    assert (eve.orders_count, eve.total_spent, eve.first_order_at) == (0, 0, None)


def test_a_checkout_completed_after_it_was_abandoned_still_says_when_it_was_abandoned(store):
    k2 = db.session.execute(select(Cart).where(Cart.shop_id == store.shop.id,
                                               Cart.token == "K2")).scalar_one()

    # completed by B1, then sent again completed by the platform
    assert k2.status == "converted" and k2.completed_at == utc(2026, 3, 10, 14)
    assert k2.abandoned_at is not None
