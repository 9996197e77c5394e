"""The WooCommerce connector from plain values: a store URL and its REST keys."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from connectors.http import ClientError
from connectors.records import CustomerRecord, OrderRecord, RefundRecord
from connectors.sources import Page
from connectors.woocommerce.backfill import WooBackfillSource
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.reconcile import WooReconcileSource
from connectors.woocommerce.webhooks import (
    create_webhook,
    delete_webhook,
    delivery_url,
    webhooks_delivering_to,
)
from tests.connectors.payloads import woo

STORE = "https://store.example"
API = f"{STORE}/wp-json/wc/v3"
CK, CS = "ck_plain_key", "cs_plain_secret"
ONE_PAGE = {"X-WP-Total": "2", "X-WP-TotalPages": "1"}


def client() -> WooClient:
    return WooClient(STORE, CK, CS)


@responses.activate
def test_backfill_pages_customers_then_orders_with_the_keys_it_was_given():
    responses.get(f"{API}/customers", json=woo("customers_list"), headers=ONE_PAGE)
    orders = woo("orders_list")
    for order in orders:
        order["refunds"] = []  # refunds are read separately; see the reconcile test
    responses.get(f"{API}/orders", json=orders, headers=ONE_PAGE)

    pages = list(WooBackfillSource(client(), now=datetime(2017, 3, 23, tzinfo=UTC)).pages(None))

    assert all(isinstance(page, Page) for page in pages)
    assert [(p.cursor, p.units) for p in pages] == [("customers:1", 2), ("orders:1", 2)]
    customers, orders_page = pages
    assert sorted(r.platform_id for r in customers.records
                  if isinstance(r, CustomerRecord)) == ["25", "26"]
    assert sorted(r.platform_id for r in orders_page.records
                  if isinstance(r, OrderRecord)) == ["723", "727"]
    basic = "Basic " + base64.b64encode(f"{CK}:{CS}".encode()).decode()
    assert {call.request.headers["Authorization"] for call in responses.calls} == {basic}


@responses.activate
def test_backfill_resumes_after_the_page_its_cursor_names():
    empty = {"X-WP-Total": "100", "X-WP-TotalPages": "1"}  # page 2 of 1: nothing more
    responses.get(f"{API}/customers", json=[], headers=empty)
    responses.get(f"{API}/orders", json=[], headers=empty)

    assert list(WooBackfillSource(client()).pages("customers:1")) == []

    asked = [(call.request.url.split("?")[0], call.request.params["page"])
             for call in responses.calls]
    assert asked == [(f"{API}/customers", "2"), (f"{API}/orders", "1")]
    with pytest.raises(ValueError, match="not a WooCommerce backfill cursor"):
        next(WooBackfillSource(client()).pages("refunds:3"))


@responses.activate
def test_reconcile_reads_changed_orders_with_their_dated_refunds():
    order = woo("order")  # 727
    order["refunds"] = [{"id": 726, "reason": "", "total": "-10.00"}]  # undated, as Woo lists it
    responses.get(f"{API}/orders", match=[responses.matchers.query_param_matcher(
        {"orderby": "id", "order": "asc", "modified_after": "2017-03-22T16:26:00",
         "dates_are_gmt": "true", "status": "any", "per_page": "100", "page": "1"})],
        json=[order], headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"})
    responses.get(f"{API}/orders", json=[], headers={"X-WP-Total": "0", "X-WP-TotalPages": "0"})
    responses.get(f"{API}/orders/727/refunds", json=woo("refunds_list")[:1],
                  headers={"X-WP-TotalPages": "1"})
    responses.get(f"{API}/customers", json=[], headers={"X-WP-TotalPages": "0"})

    since = datetime(2017, 3, 22, 16, 28, tzinfo=UTC)
    records = [r for batch in WooReconcileSource(client()).changed_since(since) for r in batch]

    refund = next(r for r in records if isinstance(r, RefundRecord))
    assert (refund.platform_id, refund.order_platform_id, refund.amount) == (
        "726", "727", Decimal("10.00"))
    assert [r.platform_id for r in records if isinstance(r, OrderRecord)] == ["727"]


@responses.activate
def test_webhook_calls_list_create_and_delete_on_the_store():
    url = delivery_url("https://sticky.example/", 7)
    listed = woo("webhooks_list")
    listed[0]["delivery_url"] = url
    responses.get(f"{API}/webhooks", json=listed + ["not a webhook"], headers=ONE_PAGE)
    responses.post(f"{API}/webhooks", json=woo("webhook_create"), status=201)
    responses.delete(f"{API}/webhooks/143", json={})
    responses.delete(f"{API}/webhooks/999", status=404,
                     json={"code": "woocommerce_rest_invalid_id"})
    responses.post(f"{API}/webhooks", status=400, json={"code": "rest_invalid_param"})

    found = webhooks_delivering_to(client(), url)
    created = create_webhook(client(), "order.updated", url)
    delete_webhook(client(), "143")
    delete_webhook(client(), "999")  # already gone: fine

    assert url == "https://sticky.example/webhooks/woocommerce/7"
    assert {k: (h.topic, h.status) for k, h in found.items()} == {
        "143": ("customer.created", "active")}
    sent = json.loads(responses.calls[1].request.body)
    assert sent == {"name": "Sticky: order.updated", "topic": "order.updated",
                    "delivery_url": url, "secret": created.secret, "status": "active"}
    assert created.id == "142" and len(created.secret) == 40
    with pytest.raises(ClientError):
        create_webhook(client(), "sticky_cart.updated", url)  # the plugin is not active
