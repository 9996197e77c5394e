"""RFM kept current as orders arrive: a signed Shopify orders/create webhook goes through
the receiver, the ingest worker, the profile store and the "analytics.rfm" subscriber, and
the customer's scores and segment change without waiting for the daily refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.analytics.rfm import refresh_shop
from app.db import db
from app.events.models import EventCursor
from app.profiles.models import Customer
from jobs.events import register_subscribers
from tests.conftest import post_webhook, run_worker
from tests.customer_helpers import customer_row
from tests.factories import BASE_TIME, customer_payload, order_payload

ADA = "ada@example.com"


def minutes(moment: datetime) -> float:
    return (moment - BASE_TIME).total_seconds() / 60


def deliver(app, client, payload: dict) -> None:
    response = post_webhook(client, "orders/create", payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    run_worker(app)
    db.session.rollback()
    db.session.expire_all()
    errors = list(db.session.execute(select(EventCursor.last_error).where(
        EventCursor.subscriber == "analytics.rfm", EventCursor.last_error.is_not(None))
    ).scalars())
    assert errors == []


def ada(session, shop) -> Customer:
    return session.execute(select(Customer).where(
        Customer.shop_id == shop.id, Customer.email_normalized == ADA)).scalar_one()


def test_an_order_webhook_changes_the_customers_segment_at_once(app, client, session, shop):
    register_subscribers()
    as_of = datetime.now(UTC).replace(microsecond=0)
    # five other customers: (days since their last order, orders, spent)
    for days, orders, spent in ((5, 1, "10"), (10, 1, "30"), (20, 2, "60"), (40, 3, "90"),
                                (80, 4, "200")):
        customer_row(session, shop, orders_count=orders, total_spent=Decimal(spent),
                     last_order_at=as_of - timedelta(days=days))
    session.commit()
    # Ada ordered once, for 20.00, 300 days ago
    shopper = customer_payload(email=ADA)
    deliver(app, client, order_payload(customer=shopper, email=ADA, total="20.00",
                                       placed=minutes(as_of - timedelta(days=300))))
    refresh_shop(session, shop.id, now=as_of)
    session.commit()
    # Of 6: R 1 (nobody has more days), F 1 (three single orders, none below), M 1 (lowest
    # but 10): Lost. Cut points: F [2, 2, 3, 4], M [30, 60, 90, 200].
    before = ada(session, shop)
    assert (before.rfm_recency, before.rfm_frequency, before.rfm_monetary,
            before.rfm_segment) == (1, 1, 1, "Lost")

    # when she orders again, 100.00, now
    deliver(app, client, order_payload(customer=shopper, email=ADA, total="100.00",
                                       placed=minutes(datetime.now(UTC))))

    # then, with no refresh: 2 orders reach F 3 (cuts 2, 2), 120.00 reaches M 4 (30, 60, 90),
    # an order after the cut points' moment is R 5; FM = 7 // 2 = 3: Potential Loyalists
    after = ada(session, shop)
    assert (after.orders_count, after.total_spent) == (2, Decimal("120.00"))
    assert (after.rfm_recency, after.rfm_frequency, after.rfm_monetary,
            after.rfm_segment) == (5, 3, 4, "Potential Loyalists")
