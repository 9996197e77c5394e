"""Reconciliation repairs what webhooks missed (Shopify stubbed at the HTTP edge)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from sqlalchemy import func, select

from app.db import db
from app.profiles.models import Customer, Order, OrderLine
from app.profiles.store import ProfileStore
from app.queue import get_queue
from app.shops.models import Shop
from app.sync.reconcile import reconcile_shop
from connectors.shopify import graphql_records as gql
from connectors.shopify.admin import AdminUnavailable

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
ENDPOINT = "https://sticky-test.myshopify.com/admin/api/2026-10/graphql.json"
WATERMARK = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def graphql_fixture(name: str) -> dict:
    return json.loads((FIXTURES / "graphql" / f"{name}.json").read_text())


@pytest.fixture
def mirrored(shop):
    """The mirror as webhooks left it at WATERMARK: the bulk sample's customers and orders."""
    customers = [gql.customer(json.loads(line))
                 for line in (FIXTURES / "bulk" / "customers.jsonl").read_text().splitlines()]
    rows = [json.loads(line)
            for line in (FIXTURES / "bulk" / "orders.jsonl").read_text().splitlines()]
    orders = [gql.order(row, [r for r in rows if r.get("__parentId") == row["id"]])
              for row in rows if "__parentId" not in row]
    store = ProfileStore(db.session, shop.id)
    store.prefetch(customers + orders)
    for record in customers + orders:
        store.apply(record)
    store.finish()
    db.session.get(Shop, shop.id).last_synced_at = WATERMARK
    db.session.commit()
    return shop


class GraphQLStub:
    """Answers by operation name; records each request's variables."""

    def __init__(self, rsps, answers: dict[str, list]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict]] = []
        rsps.add_callback(responses.POST, ENDPOINT, callback=self)

    def __call__(self, request):
        body = json.loads(request.body)
        name = body["query"].split("(")[0].split()[-1]
        self.requests.append((name, body.get("variables") or {}))
        answer = self.answers[name].pop(0)
        if isinstance(answer, int):
            return answer, {}, "upstream error"
        return 200, {}, json.dumps(answer)


def one(model, shop, **where):
    db.session.expire_all()
    query = select(model).where(model.shop_id == shop.id)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db.session.execute(query).scalar_one()


def test_reconciliation_repairs_a_dropped_order_and_a_missed_customer_update(mirrored):
    shop = mirrored
    assert db.session.execute(select(func.count()).select_from(Order).where(
        Order.platform_order_id == "9005")).scalar_one() == 0
    with responses.RequestsMock() as rsps:
        stub = GraphQLStub(rsps, {
            "ChangedCustomers": [graphql_fixture("customers_changed")],
            "ChangedOrders": [graphql_fixture("orders_changed_page1"),
                              graphql_fixture("orders_changed_page2")],
            "OrderLines": [graphql_fixture("order_lines_page2")],
        })
        # when
        before = datetime.now(UTC)
        result = reconcile_shop(db.session, shop.id)

    # then: it asked for what changed since the watermark minus the overlap, by cursor
    assert [name for name, _ in stub.requests] == [
        "ChangedCustomers", "ChangedOrders", "OrderLines", "ChangedOrders"]
    assert stub.requests[0][1]["query"] == "updated_at:>'2026-11-20T08:50:00Z'"
    assert stub.requests[3][1]["after"] == "b3JkZXI6OTAwNQ=="
    assert stub.requests[2][1]["after"] == "bGluZToxMA=="
    # the order the mirror never received is there, with all 12 line items
    missed = one(Order, shop, platform_order_id="9005")
    assert missed.total_price == Decimal("60.00")
    assert db.session.execute(select(func.count()).select_from(OrderLine).where(
        OrderLine.order_id == missed.id)).scalar_one() == 12
    # the customer update it missed is applied, and the later refund counted
    grace = one(Customer, shop, platform_customer_id="7002")
    assert (grace.email, grace.first_name, grace.email_marketing) == (
        "grace.hopper@example.com", "Grace B.", "subscribed")
    assert one(Order, shop, platform_order_id="9002").financial_status == "refunded"
    assert grace.total_spent == Decimal("0.00")
    ada = one(Customer, shop, platform_customer_id="7001")
    assert (ada.orders_count, ada.total_spent) == (2, Decimal("180.00"))
    # and the watermark moved to when the pass began
    assert result.records == 3 and result.since == datetime(2026, 11, 20, 8, 50, tzinfo=UTC)
    watermark = db.session.get(Shop, shop.id).last_synced_at
    assert before <= watermark <= datetime.now(UTC)


def test_a_failed_pass_keeps_the_watermark_and_the_next_pass_repairs(mirrored):
    shop = mirrored
    with responses.RequestsMock() as rsps:
        GraphQLStub(rsps, {
            "ChangedCustomers": [graphql_fixture("customers_changed")],
            "ChangedOrders": [503, 503, 503, 503, 503],
        })
        with pytest.raises(AdminUnavailable):
            reconcile_shop(db.session, shop.id)
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).last_synced_at == WATERMARK
    # the applied customer batch stays (it is correct data); the next pass reads the same window
    with responses.RequestsMock() as rsps:
        stub = GraphQLStub(rsps, {
            "ChangedCustomers": [graphql_fixture("customers_changed")],
            "ChangedOrders": [graphql_fixture("orders_changed_page1"),
                              graphql_fixture("orders_changed_page2")],
            "OrderLines": [graphql_fixture("order_lines_page2")],
        })
        reconcile_shop(db.session, shop.id)
    assert stub.requests[0][1]["query"] == "updated_at:>'2026-11-20T08:50:00Z'"
    assert one(Order, shop, platform_order_id="9005").total_price == Decimal("60.00")
    assert db.session.get(Shop, shop.id).last_synced_at > WATERMARK


def test_reconcile_all_is_periodic_and_enqueues_each_active_shop(app, shop, other_shop):
    from jobs.sync import reconcile_all
    from jobs.worker import PERIODIC_JOBS

    assert ("jobs.sync.reconcile_all", 15 * 60) in PERIODIC_JOBS
    db.session.get(Shop, other_shop.id).status = "uninstalled"
    db.session.commit()
    summary = reconcile_all()
    assert summary["reconcile"] == [shop.id]
    jobs = get_queue("default").get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("jobs.sync.reconcile_shop", [shop.id])]


def test_reconcile_of_an_uninstalled_shop_reads_nothing(shop):
    db.session.get(Shop, shop.id).status = "uninstalled"
    db.session.commit()
    with responses.RequestsMock() as rsps:  # any request would fail the test
        result = reconcile_shop(db.session, shop.id)
        assert len(rsps.calls) == 0
    assert result.skipped == "not an active store"
