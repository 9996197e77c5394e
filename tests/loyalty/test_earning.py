"""Earning points on orders, first orders and sign-ups: through Shopify webhooks, the profile
store, its domain events and the loyalty subscriber (real database and Redis)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import responses
from sqlalchemy import select

from app.db import db
from app.events.admin import rewind
from app.events.registry import registry
from app.loyalty import ledger
from app.loyalty.basis import award_basis
from app.loyalty.models import LoyaltyMember, Writeback
from app.loyalty.program import Program
from app.profiles.models import Order, TimelineEvent
from app.shops.models import Shop
from app.sync.backfill import run_backfill
from app.sync.reconcile import reconcile_shop
from connectors.woocommerce.normalize import order_records
from jobs.events import dispatch_shop
from tests.conftest import FIXTURES
from tests.factories import customer_payload, order_payload
from tests.loyalty.earning_support import (
    amounts,
    balance,
    customer,
    deliver,
    enable,
    entries,
    minutes_from_base,
    order_row,
    settle,
    summary,
)
from tests.test_backfill import DOMAIN, ShopifyBulkStub
from tests.test_reconcile import GraphQLStub

ADA = "ada@example.com"


def ada_order(order_id: int = 450789469, total: str = "100.00", **kwargs) -> dict:
    return order_payload(order_id=order_id, customer=customer_payload(customer_id=207119551,
                                                                      email=ADA),
                         email=ADA, total=total, **kwargs)


def test_a_paid_order_earns_on_the_money_paid_net_of_discounts(app, client, shop):
    # given 1 point per unit, shipping and tax excluded
    enable(shop, points_per_unit="1")
    payload = amounts(ada_order(), subtotal="100.00", discounts="20.00", shipping="10.00",
                      tax="10.50")
    # when the paid order arrives
    deliver(client, "orders/paid", payload)
    settle(app)
    # then 100 points: the merchandise after its 20.00 discount, nothing for shipping or tax
    ada = customer(shop, ADA)
    [award] = entries(shop)
    assert (award.kind, award.points, award.status, award.source) == ("earn", 100, "available",
                                                                      "order")
    assert award.key == "order:450789469:purchase"
    assert (award.rate, award.amount, award.program_version) == (Decimal("1"),
                                                                 Decimal("100.00"), 1)
    assert award.order_id == order_row(shop, 450789469).id
    assert award.reason == f"{payload['name']}: 100.00 USD at 1 point per USD"
    assert balance(shop, ada.id) == 100
    # the shopper's timeline says so (flows send the notice), and the platform is told
    fact = db.session.execute(select(TimelineEvent).where(
        TimelineEvent.kind == "points_earned")).scalar_one()
    assert (fact.customer_id, fact.ref, fact.data["points"]) == (ada.id, award.key, 100)
    assert db.session.get(Writeback, ada.id).due_at is not None


def test_shipping_and_tax_count_when_the_program_includes_them(app, client, shop):
    enable(shop, points_per_unit="1.5", include_shipping=True, include_tax=True)
    deliver(client, "orders/paid", amounts(ada_order(), subtotal="100.00", shipping="10.00",
                                           tax="10.50"))
    settle(app)
    [award] = entries(shop)
    # 120.50 × 1.5 = 180.75: fractions are dropped
    assert (award.points, award.amount, award.rate) == (180, Decimal("120.50"), Decimal("1.5"))
    assert "180" not in award.reason and "120.50 USD at 1.5 points per USD" in award.reason


def test_woocommerce_subtotals_are_before_coupons_so_the_coupon_comes_off():
    # given WooCommerce's published order with a 10% coupon on its two lines
    payload = json.loads((FIXTURES / "woocommerce" / "order.json").read_text())
    payload["line_items"][0]["total"], payload["line_items"][1]["total"] = "5.40", "10.80"
    payload["discount_total"], payload["total"] = "1.80", "27.55"
    [record] = order_records(payload)
    order = Order(subtotal=record.subtotal, total_discounts=record.total_discounts,
                  total_shipping=record.total_shipping, total_tax=record.total_tax,
                  total_price=record.total_price)
    # then the basis is what the lines cost after the coupon (18.00 - 1.80)
    assert record.subtotal == Decimal("18.00")
    assert award_basis(order, Program(), "woocommerce") == Decimal("16.20")
    assert award_basis(order, Program(include_shipping=True, include_tax=True),
                       "woocommerce") == Decimal("27.55")
    # while Shopify's subtotal already is after discounts
    shopify = Order(subtotal=Decimal("16.20"), total_discounts=Decimal("1.80"),
                    total_shipping=Decimal("0"), total_tax=Decimal("0"),
                    total_price=Decimal("16.20"))
    assert award_basis(shopify, Program(), "shopify") == Decimal("16.20")


def test_the_members_tier_multiplies_the_rate(app, client, shop, session):
    enable(shop, points_per_unit="2", tiers=[{"name": "Gold", "threshold": "500",
                                              "multiplier": "1.5"}])
    deliver(client, "customers/create", customer_payload(customer_id=207119551, email=ADA))
    settle(app)
    ada = customer(shop, ADA)
    ledger.ensure_member(db.session, shop.id, ada.id)
    db.session.get(LoyaltyMember, ada.id).tier = "Gold"
    db.session.commit()
    deliver(client, "orders/paid", ada_order(total="10.00"))
    settle(app)
    [award] = entries(shop)
    assert (award.points, award.rate) == (30, Decimal("3"))
    assert award.reason.endswith("at 3 points per USD, Gold tier ×1.5")


def churn(client, order_id: int, start: float) -> None:
    """orders/updated churning the order's status: paid → fulfilled → refunded → paid."""
    for step, (financial, fulfillment) in enumerate([("paid", None), ("paid", "fulfilled"),
                                                     ("refunded", "fulfilled"),
                                                     ("paid", "fulfilled")]):
        deliver(client, "orders/updated", ada_order(order_id, financial_status=financial,
                                                    fulfillment_status=fulfillment,
                                                    placed=start, updated=start + step + 1))


def graphql_order(order_id: int, updated_at: str) -> dict:
    page = json.loads((FIXTURES / "shopify" / "graphql" / "orders_changed_page2.json")
                      .read_text())
    node = page["data"]["orders"]["nodes"][0]
    node.update(id=f"gid://shopify/Order/{order_id}", email=ADA, updatedAt=updated_at,
                displayFinancialStatus="PAID", displayFulfillmentStatus="FULFILLED",
                refunds=[])
    node["customer"].update(id="gid://shopify/Customer/207119551",
                            defaultEmailAddress={"emailAddress": ADA})
    for key in ("totalPriceSet", "subtotalPriceSet"):
        node[key]["shopMoney"]["amount"] = "100.0"
    node["totalTaxSet"]["shopMoney"]["amount"] = "0.0"
    return page


def test_one_order_earns_once_through_redeliveries_churn_reconciliation_and_backfill(
        app, client, shop, tmp_path, monkeypatch):
    enable(shop, points_per_unit="1")
    start = minutes_from_base()
    paid = ada_order(placed=start, updated=start)
    # the same paid order, delivered five times (one a redelivery of the same delivery id)
    for n in range(5):
        deliver(client, "orders/paid", paid, webhook_id="dup" if n < 2 else None)
    settle(app)
    # then its status churns
    churn(client, 450789469, start)
    settle(app)
    updated_at = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # reconciliation reads it again from the Admin API
    db.session.get(Shop, shop.id).last_synced_at = datetime.now(UTC) - timedelta(hours=1)
    db.session.commit()
    with responses.RequestsMock() as rsps:
        GraphQLStub(rsps, {
            "ChangedCustomers": [{"data": {"customers": {
                "pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}}}],
            "ChangedOrders": [graphql_order(450789469, updated_at)],
        })
        assert reconcile_shop(db.session, shop.id).records == 1
    settle(app)
    # and a backfill imports it once more
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_POLL_SECONDS", 0)
    bulk_order = copy.deepcopy(graphql_order(450789469, updated_at)["data"]["orders"]
                               ["nodes"][0])
    lines = bulk_order.pop("lineItems")["nodes"]
    files = {"customers": tmp_path / "customers.jsonl", "orders": tmp_path / "orders.jsonl"}
    files["customers"].write_text("")
    files["orders"].write_text("\n".join(json.dumps(row) for row in [
        bulk_order, *({**line, "__parentId": bulk_order["id"]} for line in lines)]) + "\n")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = ShopifyBulkStub(rsps, DOMAIN, files=files)
        stub.serve("customers")
        stub.serve("orders")
        run_backfill(db.session, shop.id)
    settle(app)
    # and the program's own replay hands it every event of the store again
    db.session.rollback()
    assert rewind(db.session, registry(app), "loyalty", shop.id) > 0
    dispatch_shop(shop.id)
    settle(app)

    # exactly one award, of the order's 100 points; nothing taken back by the churn
    ada = customer(shop, ADA)
    assert summary(shop) == [("earn", 100, "available")]
    assert balance(shop, ada.id) == 100
    assert db.session.execute(select(TimelineEvent.ref).where(
        TimelineEvent.kind == "points_earned")).scalars().all() == ["order:450789469:purchase"]


def test_a_disabled_program_awards_nothing(app, client, shop):
    enable(shop, enabled=False, signup_points=50)
    deliver(client, "customers/create", customer_payload(customer_id=207119551, email=ADA))
    deliver(client, "orders/paid", ada_order())
    settle(app)
    assert entries(shop) == []


def test_test_orders_cancelled_orders_and_another_stores_orders_earn_nothing(
        app, client, shop, other_shop):
    enable(shop)
    trial = ada_order(1001)
    trial["test"] = True
    deliver(client, "orders/paid", trial)
    deliver(client, "orders/paid", ada_order(1002, cancelled=True))
    # the other store has no program: its order earns nothing there, and nothing here
    deliver(client, "orders/paid", ada_order(1003), shop_domain="other-store.myshopify.com")
    settle(app)
    assert entries(shop) == [] and entries(other_shop) == []
    # the real order still earns
    deliver(client, "orders/paid", ada_order(1004))
    settle(app)
    assert summary(shop) == [("earn", 100, "available")]


def test_points_are_awarded_on_fulfilment_when_the_program_says_so(app, client, shop):
    enable(shop, award_on="fulfilled")
    deliver(client, "orders/paid", ada_order(updated=1))
    settle(app)
    assert entries(shop) == []
    deliver(client, "orders/fulfilled", ada_order(updated=2, fulfillment_status="fulfilled"))
    settle(app)
    assert summary(shop) == [("earn", 100, "available")]


def test_the_first_order_bonus_comes_once_and_the_sign_up_bonus_only_for_an_account(
        app, client, shop):
    enable(shop, first_order_points=25, signup_points=50)
    # a guest's profile is not a sign-up
    deliver(client, "orders/paid", order_payload(order_id=2001, email="guest@example.com",
                                                 total="10.00"))
    deliver(client, "customers/create", customer_payload(customer_id=207119551, email=ADA))
    deliver(client, "orders/paid", ada_order(2002, total="40.00", placed=1, updated=1))
    deliver(client, "orders/paid", ada_order(2003, total="30.00", placed=2, updated=2))
    settle(app)
    guest = customer(shop, "guest@example.com")
    assert sorted((e.key, e.points) for e in entries(shop, guest.id)) == [
        (f"first_order:{guest.id}", 25), ("order:2001:purchase", 10)]
    ada = customer(shop, ADA)
    assert sorted((e.key, e.points) for e in entries(shop, ada.id)) == [
        (f"first_order:{ada.id}", 25), ("order:2002:purchase", 40),
        ("order:2003:purchase", 30), ("signup:207119551", 50)]
    bonus = next(e for e in entries(shop, ada.id) if e.key.startswith("first_order"))
    assert bonus.order_id == order_row(shop, 2002).id
    assert balance(shop, ada.id) == 145


@pytest.fixture
def history_files(tmp_path):
    return {"customers": FIXTURES / "shopify" / "bulk" / "customers.jsonl",
            "orders": FIXTURES / "shopify" / "bulk" / "orders.jsonl"}


def test_a_stores_history_imported_at_install_earns_nothing(app, client, shop, history_files,
                                                            monkeypatch):
    # given a generous program, enabled before the store's past is imported
    enable(shop, signup_points=50, first_order_points=25)
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_POLL_SECONDS", 0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = ShopifyBulkStub(rsps, DOMAIN, files=history_files)
        stub.serve("customers")
        stub.serve("orders")
        run_backfill(db.session, shop.id)
    settle(app)
    # then the past is mirrored (paid orders, registered customers) and earned nothing
    assert db.session.execute(select(Order.id).where(Order.shop_id == shop.id)).first()
    assert entries(shop) == []
    # while an order after the install earns
    deliver(client, "orders/paid", order_payload(customer=customer_payload(
        customer_id=7001, email=ADA), email=ADA, total="20.00",
        placed=minutes_from_base(), updated=minutes_from_base()))
    settle(app)
    assert [e.points for e in entries(shop)] == [20]  # a customer since 2024: no first order
