"""What a flow email's templates see: the shop, the shopper, the run's checkout or order,
its discount code, the survey links and the loyalty facts; missing facts are empty."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.db import db
from app.email import tokens
from app.flows import variables
from app.flows.models import FlowRunStep
from app.profiles.models import Cart, Order, OrderLine
from tests.flows.sending_support import NOW, customer, flow, run

STEP = {"id": "e1", "type": "email", "subject": "s", "html": "h"}


def _checkout(shop, cust, token="ck-1"):
    db.session.add(Cart(
        shop_id=shop.id, customer_id=cust.id, kind="checkout", token=token,
        email=cust.email, currency="EUR", total_price=Decimal("59.9000"),
        recovery_url=f"https://sticky-test.myshopify.com/checkouts/{token}/recover?key=k",
        line_items=[{"title": "Mug", "variant_title": "Blue", "quantity": 2, "price": "19.95",
                     "product_id": "11", "image_url": "https://cdn.example/mug.jpg"},
                    {"title": "Tea", "quantity": 1, "price": "20"}]))
    db.session.flush()


def test_an_abandoned_checkout_email_sees_the_checkouts_items_and_recovery_link(shop):
    ada = customer(shop)
    _checkout(shop, ada)
    f = flow(shop)
    r = run(shop, f, ada, context={"checkout_token": "ck-1",
                                   "event": {"total_price": "59.90", "currency": "EUR"}})
    v = variables.build(db.session, r, STEP, 42)
    assert v["checkout"] == {
        "items": [{"title": "Mug", "variant_title": "Blue", "quantity": 2, "price": "19.95",
                   "image_url": "https://cdn.example/mug.jpg", "product_id": "11"},
                  {"title": "Tea", "variant_title": None, "quantity": 1, "price": "20.00",
                   "image_url": None, "product_id": None}],
        "total": "59.90", "currency": "EUR",
        "recovery_url": "https://sticky-test.myshopify.com/checkouts/ck-1/recover?key=k"}
    assert v["event"] == {"total_price": "59.90", "currency": "EUR"}
    assert v["customer"]["full_name"] == "Ada L" and v["customer"]["total_spent"] == "42.50"
    assert v["shop"]["url"] == "https://sticky-test.myshopify.com"
    assert tokens.load("unsubscribe", v["unsubscribe_url"].rsplit("/", 1)[1]) == 42
    assert v["preferences_url"] == v["unsubscribe_url"]
    assert v["order"] is None and v["discount"] is None and v["survey"] is None


def test_the_runs_latest_discount_code_and_order(shop):
    ada = customer(shop)
    order = Order(shop_id=shop.id, customer_id=ada.id, platform_order_id="1001",
                  name="#1001", currency="USD", total_price=Decimal("30"),
                  placed_at=datetime(2026, 12, 1, tzinfo=UTC))
    db.session.add(order)
    db.session.flush()
    db.session.add(OrderLine(shop_id=shop.id, order_id=order.id, product_id="7",
                             title="Kettle", quantity=1, price=Decimal("30")))
    f = flow(shop)
    r = run(shop, f, ada, context={"event": {"order_id": order.id}})
    for i, code in enumerate(("OLD-CODE", "NEW-CODE")):
        db.session.add(FlowRunStep(
            shop_id=shop.id, run_id=r.id, step_id=f"d{i}", step_type="discount",
            status="done", at=NOW.replace(hour=10 + i),
            detail={"code": code, "kind": "percentage", "value": "10",
                    "expires_at": "2026-12-14T00:00:00Z"}))
    db.session.flush()
    v = variables.build(db.session, r, STEP, 1)
    assert v["discount"] == {"code": "NEW-CODE", "kind": "percentage", "value": "10",
                             "expires_at": "2026-12-14T00:00:00Z"}
    assert v["order"]["name"] == "#1001" and v["order"]["total"] == "30.00"
    assert [i["title"] for i in v["order"]["items"]] == ["Kettle"]


def test_survey_links_and_loyalty_facts(shop):
    ada = customer(shop)
    ada.points_balance, ada.tier = 120, "Gold"
    f = flow(shop)
    r = run(shop, f, ada, context={"event": {"points": 50, "reward": "5 EUR off"}})
    v = variables.build(db.session, r, {**STEP, "survey": "nps"}, 9)
    assert v["survey"]["question"] == "nps"
    assert [s["score"] for s in v["survey"]["scores"]] == list(range(11))
    assert v["loyalty"] == {"points_balance": 120, "tier": "Gold", "points": 50,
                            "expiring_points": None, "expires_at": None,
                            "reward": "5 EUR off"}


def test_a_preview_uses_the_shoppers_latest_checkout_and_works_without_a_shopper(shop):
    ada = customer(shop)
    _checkout(shop, ada, token="ck-latest")
    v = variables.for_customer(db.session, shop, ada.id, STEP, None)
    assert v["checkout"]["recovery_url"].endswith("ck-latest/recover?key=k")
    bare = variables.for_customer(db.session, shop, None, STEP, None)
    assert bare["customer"]["first_name"] is None and bare["checkout"] is None
    assert bare["recommendations"] == [] and bare["shop"]["name"]
