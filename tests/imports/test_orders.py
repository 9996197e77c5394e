"""Imported orders count in every figure and are not news: no points, no flows, no events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.analytics.metrics import store_metrics
from app.analytics.periods import parse_period
from app.db import db
from app.events.models import StoredEvent
from app.flows.models import FlowRun
from app.loyalty.models import LedgerEntry
from app.profiles.models import Order, OrderLine, TimelineEvent
from tests.conftest import run_worker
from tests.factories import customer_payload, order_payload
from tests.flows.engine_support import email, live_flow
from tests.imports.support import count, customer, import_file, prepared, table_counts
from tests.loyalty.earning_support import deliver, enable, settle

ORDERS = (
    "Name,Email,Financial Status,Currency,Subtotal,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Refunded Amount\n"
    "#1001,ada@example.com,paid,USD,50.00,55.00,2025-03-05 10:00:00,2,Mug,12.50,\n"
    "#1001,,,,,,,1,Teapot,25.00,\n"
    "#1002,ada@example.com,partially_refunded,USD,20.00,20.00,2025-04-10 09:00:00,1,Cup,"
    "20.00,5.00\n"
    "#1003,bob@example.com,paid,USD,30.00,30.00,2025-04-20 12:00:00,1,Bowl,30.00,\n"
    "#1004,bob@example.com,cancelled,USD,40.00,40.00,2025-04-21 12:00:00,1,Bowl,40.00,\n"
    "#1005,carl@example.com,paid,EUR,10.00,10.00,2025-04-22 12:00:00,1,Bowl,10.00,\n"
)


def test_imported_orders_make_the_customers_figures(shop):
    run = import_file(shop, "orders", ORDERS)
    assert (run.total, run.created, run.status) == (4, 4, "completed")
    assert run.report["rejections"] == [
        {"line": 7, "reason": "currency EUR is not the store's (USD); convert it first"}]
    assert run.report["customers_created"] == 2
    ada = customer(shop, "ada@example.com")
    # 55 + (20 - 5 refunded)
    assert (ada.orders_count, ada.total_spent) == (2, Decimal("70.00"))
    assert ada.first_order_at == datetime(2025, 3, 5, 10, tzinfo=UTC)
    assert ada.last_order_at == datetime(2025, 4, 10, 9, tzinfo=UTC)
    bob = customer(shop, "bob@example.com")
    assert (bob.orders_count, bob.total_spent) == (1, Decimal("30.00"))  # #1004 cancelled
    order = db.session.execute(select(Order).where(
        Order.platform_order_id == "import:#1001")).scalar_one()
    assert (order.name, order.total_price, order.financial_status) == (
        "#1001", Decimal("55.00"), "paid")
    lines = db.session.execute(select(OrderLine.title, OrderLine.quantity).where(
        OrderLine.order_id == order.id).order_by(OrderLine.id)).all()
    assert [tuple(line) for line in lines] == [("Mug", 2), ("Teapot", 1)]
    # the profiles the orders created show as imported
    imported = db.session.execute(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.kind == "customer_imported")).scalar_one()
    assert imported == 2


def test_imported_orders_count_in_the_store_metrics(shop):
    import_file(shop, "orders", ORDERS)
    period = parse_period(ZoneInfo("UTC"), first="2025-04-01", last="2025-04-30")
    totals = store_metrics(db.session, shop, period).totals
    # April: #1002 (20 - 5) and #1003 (30); #1004 cancelled
    assert (totals.orders, totals.revenue) == (2, Decimal("45.00"))
    assert totals.customers == 2


def test_imports_award_no_points_and_start_no_flows(app, client, shop):
    # given a live loyalty program and live flows on sign-up and on orders
    enable(shop, points_per_unit="1")
    live_flow(db.session, shop, [email()], trigger="customer_created", name="Welcome")
    live_flow(db.session, shop, [email()], trigger="order_placed", name="Post-purchase")
    # when customers and orders are imported
    import_file(shop, "customers", "Email,Accepts Email Marketing\nada@example.com,yes\n"
                                   "zoe@example.com,yes\n")
    import_file(shop, "orders", ORDERS)
    settle(app)
    # then: no points, no flow runs, no domain events
    assert count(LedgerEntry) == 0
    assert count(FlowRun) == 0
    assert count(StoredEvent) == 0
    # while a live order through Shopify does earn and does start the flows (the setup works)
    deliver(client, "orders/paid", order_payload(
        customer=customer_payload(email="live@example.com"), email="live@example.com"))
    settle(app)
    assert count(StoredEvent) > 0
    assert count(LedgerEntry) > 0
    assert count(FlowRun) > 0


def test_reimporting_orders_is_idempotent_and_platform_orders_are_not_counted_twice(
        app, client, shop):
    import_file(shop, "orders", ORDERS)
    first = table_counts(shop)
    again = import_file(shop, "orders", ORDERS)
    assert (again.created, again.merged, again.unchanged) == (0, 0, 4)
    assert table_counts(shop) == first
    # an order Shopify already sent (same name) is refused, not imported twice
    live = order_payload(email="dan@example.com")
    live["name"] = "#2001"
    deliver(client, "orders/create", live)
    run_worker(app)
    db.session.rollback()
    report = prepared(shop, "orders", "Name,Email,Total,Created at\n"
                                      "#2001,dan@example.com,10,2025-01-01\n").report
    assert report["rejections"] == [{"line": 2, "reason": "order #2001 is already in Sticky "
                                                         "from the store itself: not imported "
                                                         "twice"}]
