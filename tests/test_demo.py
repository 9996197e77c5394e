"""The demo: its seeded history is consistent, and its simulated webhooks are valid."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select

from app.db import db
from app.demo import DEMO_DOMAIN, SIM_TOPICS, SimCustomer, Simulator, run_demo
from app.profiles.figures import counted_order
from app.profiles.models import Cart, Customer, Order, Refund
from app.shops.models import Shop
from connectors.records import CartRecord, OrderRecord
from connectors.shopify.normalize import normalize
from connectors.shopify.signatures import verify_webhook
from tests.conftest import SHOPIFY_SECRET


def _counts(session, shop_id):
    return tuple(
        session.execute(select(func.count()).select_from(model).where(model.shop_id == shop_id))
        .scalar_one()
        for model in (Customer, Order, Refund, Cart)
    )


def test_seed_builds_a_consistent_history_once(ctx):
    run_demo(ctx, customers=60, seed_only=True)
    s = db.session
    shop = s.execute(select(Shop).where(Shop.domain == DEMO_DOMAIN)).scalar_one()
    registered = s.execute(select(func.count()).select_from(Customer).where(
        Customer.shop_id == shop.id, Customer.platform_customer_id.is_not(None))).scalar_one()
    guests = s.execute(select(func.count()).select_from(Customer).where(
        Customer.shop_id == shop.id, Customer.platform_customer_id.is_(None))).scalar_one()
    assert registered >= 60  # plus the guests who registered later
    assert guests > 0
    assert int(max(c.platform_customer_id for c in s.execute(select(Customer).where(
        Customer.platform_customer_id.is_not(None))).scalars())) > 2**53

    # Per-customer figures agree with the orders behind them.
    expected = {
        cid: (n, Decimal(spent))
        for cid, n, spent in s.execute(
            select(Order.customer_id, func.count(Order.id),
                   func.sum(Order.total_price - Order.total_refunded))
            .where(Order.shop_id == shop.id, Order.customer_id.is_not(None), counted_order())
            .group_by(Order.customer_id)
        ).all()
    }
    customers = s.execute(select(Customer).where(Customer.shop_id == shop.id)).scalars().all()
    for c in customers:
        n, spent = expected.get(c.id, (0, Decimal("0")))
        assert c.orders_count == n, c.email
        assert Decimal(c.total_spent).quantize(Decimal("0.01")) == spent.quantize(
            Decimal("0.01")), c.email
    assert sum(n for n, _ in expected.values()) > 100
    assert any(n >= 5 for n, _ in expected.values())  # a long tail of repeat buyers
    assert Counter(n for n, _ in expected.values())[1] > 10  # most buy once

    refunded = s.execute(select(func.count()).select_from(Order).where(
        Order.shop_id == shop.id, Order.total_refunded > 0)).scalar_one()
    assert refunded > 0
    assert s.execute(select(func.count()).select_from(Order).where(
        Order.shop_id == shop.id, Order.cancelled_at.is_not(None))).scalar_one() > 0
    assert s.execute(select(func.count()).select_from(Cart).where(
        Cart.shop_id == shop.id, Cart.status == "open", Cart.recovery_url.is_not(None))
    ).scalar_one() > 0
    assert {c.email_marketing for c in customers} >= {"subscribed", "not_subscribed"}

    before = _counts(s, shop.id)
    s.rollback()
    run_demo(ctx, customers=60, seed_only=True)
    assert _counts(s, shop.id) == before


def test_simulated_webhooks_normalize_and_are_signed():
    known = [SimCustomer(9_007_199_254_740_993 + i, f"known{i}@example.com", "Known", f"No{i}")
             for i in range(5)]
    sim = Simulator(known_customers=known, seed=7, rate=2.0)
    seen: Counter[str] = Counter()
    redeliveries = 0
    ids: set[str] = set()
    for _ in range(600):
        delivery = sim.next_delivery()
        seen[delivery.topic] += 1
        if delivery.redelivery:
            redeliveries += 1
            assert delivery.webhook_id in ids
        ids.add(delivery.webhook_id)
        headers = delivery.headers(SHOPIFY_SECRET, DEMO_DOMAIN)
        assert headers["X-Shopify-Topic"] == delivery.topic
        assert headers["X-Shopify-Shop-Domain"] == DEMO_DOMAIN
        assert verify_webhook(delivery.body, headers["X-Shopify-Hmac-Sha256"], [SHOPIFY_SECRET])
        assert not verify_webhook(delivery.body + b" ", headers["X-Shopify-Hmac-Sha256"],
                                  [SHOPIFY_SECRET])
        payload = json.loads(delivery.body)
        records = normalize(delivery.topic, payload)
        assert len(records) == 1, delivery.topic
        record = records[0]
        if isinstance(record, OrderRecord):
            assert not record.test
            assert record.currency == "USD"
            assert record.total_price == sum(
                (line.price * line.quantity for line in record.lines), Decimal("0")
            ) - record.total_discounts + record.total_tax + record.total_shipping
            assert (record.cancelled_at is not None) == (delivery.topic == "orders/cancelled")
            assert int(record.platform_id) > 2**53
        if isinstance(record, CartRecord):
            assert record.recovery_url and record.token
    assert set(seen) == set(SIM_TOPICS), seen
    assert 0 < redeliveries < 60
