"""The demo: its seeded history is consistent, its simulated webhooks are valid, and the link
it prints opens its panel signed in, once."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select

from app.accounts.models import Account, AccountShop
from app.db import db
from app.demo import DEMO_DOMAIN, SIM_TOPICS, SimCustomer, Simulator, demo_shop_id, run_demo
from app.demo.account import DEMO_EMAIL, demo_sign_in_url
from app.demo.flows import DEMO_SENDER
from app.demo.runner import _print_banner
from app.demo.store import DEMO_NAME
from app.events.models import StoredEvent
from app.loyalty.models import LedgerEntry
from app.profiles.figures import counted_order
from app.profiles.models import Cart, Customer, Order, Refund, TimelineEvent
from app.settings.service import read_settings
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
    # its flows can send (to the outbox): the store has a sender address
    assert read_settings(s, shop).sender_email == DEMO_SENDER
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
    # The history is from before the install: on the timeline, but never published, so the
    # loyalty program (switched on for the demo) awards nothing for it.
    assert s.execute(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.shop_id == shop.id)).scalar_one() > 100
    assert s.execute(select(func.count()).select_from(StoredEvent).where(
        StoredEvent.shop_id == shop.id)).scalar_one() == 0
    assert s.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 0

    before = _counts(s, shop.id)
    s.rollback()
    run_demo(ctx, customers=60, seed_only=True)
    assert _counts(s, shop.id) == before
    # and the demo account exists once, linked to the demo store, ready for sign-in links
    [(email, linked_shop)] = s.execute(
        select(Account.email, AccountShop.shop_id).join(
            AccountShop, AccountShop.account_id == Account.id)).all()
    assert (email, linked_shop) == (DEMO_EMAIL, shop.id)


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


def test_the_demo_prints_a_single_use_link_that_opens_its_panel_signed_in(ctx, capsys):
    # given the demo store, served at a base URL of the runner's choosing
    shop_id = demo_shop_id(ctx)
    base = "http://127.0.0.1:5123"

    # when the runner prints its banner
    link = demo_sign_in_url(shop_id, base)
    _print_banner(base, 2.0, "sk_demo", link)

    # then the panel link leads, with how to get another, before the other addresses
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0] == f"Sticky demo is running at {base}"
    assert lines[1].startswith(f"Open the panel, signed in on {DEMO_DOMAIN}")
    assert "works once, within 15 minutes" in lines[1]
    assert lines[2] == link and link.startswith(f"{base}/admin/sign-in/")
    assert lines[3] == (f"Another link: APP_URL={base} ./dev flask accounts sign-in-link "
                        f"{DEMO_EMAIL}")
    assert lines[4] == f"health:    curl {base}/healthz"
    # and the link opens the demo store's dashboard, signed in as the demo account
    client = ctx.test_client()
    opened = client.get(link.removeprefix(base))
    assert opened.status_code == 302 and opened.headers["Location"] == "/admin"
    dashboard = client.get("/admin")
    assert dashboard.status_code == 200
    assert DEMO_NAME in dashboard.get_data(as_text=True)
    # once: the same link is refused afterwards
    assert ctx.test_client().get(link.removeprefix(base)).status_code == 410
    # and a second banner makes a new link for the same single account
    s = db.session
    s.rollback()  # the requests above ran in this test's app context, and its session
    assert demo_sign_in_url(shop_id, base) != link
    [account] = s.execute(select(Account)).scalars().all()
    assert account.email == DEMO_EMAIL
    assert s.execute(select(AccountShop.shop_id)).scalars().all() == [shop_id]
