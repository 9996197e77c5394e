"""The analytics fixture store: the New York store of tests/test_metrics.py (its orders,
refunds, cancellations, voided, test and guest orders, checkouts, and its DST and
midnight boundaries), plus two customers, flow emails, attributed orders and a loyalty
ledger, so that every KPI has something to count. The arithmetic is written in the tests.

Added here (local times are New York's):
- Hal: H0 on 5 Jan 12:00 EST (30.00) and H1 on 25 Mar 12:00 EDT (45.00): an order before
  the period before March, so his gap (78 days 23 hours: the clocks moved) is found by a
  lookup;
- Ivy: I1 on 20 Feb (55.00) only: she ordered in the period before March, not in it;
- emails: m1 sent 2 Mar (opened, clicked), m2 sent 31 Mar 23:00 (opened, unsubscribed),
  m6 sent 12 Mar (nothing), m3 sent 28 Feb 23:00 (before March), a test send and a
  failed one in March;
- a flow credited with A1 (100.00, 30.00 refunded), B2 (40.00), B3 (cancelled) and F1
  (April);
- the ledger: in March earn 100, pending 50, adjust +20 and −10, redeem −60, reverse −30,
  release 50; on 28 Feb 23:00 earn 500.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from app.db import db
from app.flows.models import SENT, Flow, FlowConversion, Message
from app.loyalty.models import LedgerEntry
from app.profiles.models import Customer, Order
from tests.test_metrics import Store, apply, build_store, order, person, utc


def _customer(shop_id: int, key: str) -> Customer:
    return db.session.execute(select(Customer).where(
        Customer.shop_id == shop_id, Customer.email == f"{key}@example.com")).scalar_one()


def _order(shop_id: int, key: str) -> Order:
    return db.session.execute(select(Order).where(
        Order.shop_id == shop_id, Order.platform_order_id == f"order-{key}")).scalar_one()


def build_analytics_store(shop, other_shop) -> Store:
    store = build_store(shop, other_shop)
    sid = store.shop.id
    hal, ivy = person("hal"), person("ivy")
    apply(sid,
          order("H0", utc(2026, 1, 5, 17), "30.00", hal),
          order("H1", utc(2026, 3, 25, 16), "45.00", hal),
          order("I1", utc(2026, 2, 20, 17), "55.00", ivy))
    ada = _customer(sid, "ada")

    def message(sent: datetime | None, status: str = SENT, **more) -> Message:
        return Message(shop_id=sid, customer_id=ada.id, to_email=ada.email, status=status,
                       created_at=sent or utc(2026, 3, 10), sent_at=sent, **more)

    db.session.add_all([
        message(utc(2026, 3, 2, 12), opened_at=utc(2026, 3, 2, 13),
                clicked_at=utc(2026, 3, 2, 14)),
        message(utc(2026, 4, 1, 3), opened_at=utc(2026, 4, 2),
                unsubscribed_at=utc(2026, 4, 2)),
        message(utc(2026, 3, 12, 12)),
        message(utc(2026, 3, 1, 4), opened_at=utc(2026, 3, 1, 5)),
        message(utc(2026, 3, 10, 12), test=True, opened_at=utc(2026, 3, 10, 13)),
        message(None, status="failed"),
    ])
    flow = Flow(shop_id=sid, key=None, name="Win-back", definition={})
    db.session.add(flow)
    db.session.flush()
    for key in ("A1", "B2", "B3", "F1"):
        o = _order(sid, key)
        db.session.add(FlowConversion(
            shop_id=sid, order_id=o.id, customer_id=o.customer_id, flow_id=flow.id,
            touch="click", touched_at=o.placed_at, revenue=o.total_price, currency="USD",
            placed_at=o.placed_at))

    def entry(n: int, kind: str, points: int, at: datetime) -> LedgerEntry:
        return LedgerEntry(shop_id=sid, customer_id=ada.id, kind=kind, points=points,
                           reason=kind, source="merchant", key=f"test-{n}", created_at=at)

    db.session.add_all([
        entry(1, "earn", 100, utc(2026, 3, 5, 16)),
        entry(2, "pending", 50, utc(2026, 3, 10, 15)),
        entry(3, "adjust", 20, utc(2026, 3, 12, 15)),
        entry(4, "adjust", -10, utc(2026, 3, 13, 15)),
        entry(5, "redeem", -60, utc(2026, 3, 20, 15)),
        entry(6, "reverse", -30, utc(2026, 3, 21, 15)),
        entry(7, "release", 50, utc(2026, 3, 22, 15)),
        entry(8, "earn", 500, utc(2026, 3, 1, 4)),
    ])
    db.session.commit()
    return store


def set_predicted_clv(shop_id: int, values: dict[str, str]) -> None:
    """What the predictions part writes into `customers.predicted_clv`."""
    for key, value in values.items():
        _customer(shop_id, key).predicted_clv = Decimal(value)
    db.session.commit()
