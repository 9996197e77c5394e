"""The Shopify connector from plain values: a shop domain and its Admin API token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import responses

from connectors.records import CustomerRecord, OrderRecord
from connectors.shopify.admin import AdminClient
from connectors.shopify.reconcile import ShopifyReconcileSource
from tests.connectors.payloads import shopify_graphql

DOMAIN = "plain-values.myshopify.com"
ENDPOINT = f"https://{DOMAIN}/admin/api/2026-10/graphql.json"


@responses.activate
def test_reconcile_reads_what_changed_with_the_token_it_was_given():
    answers = {
        "ChangedCustomers": [shopify_graphql("customers_changed")],
        "ChangedOrders": [shopify_graphql("orders_changed_page1"),
                          shopify_graphql("orders_changed_page2")],
        "OrderLines": [shopify_graphql("order_lines_page2")],
    }

    def answer(request):
        name = json.loads(request.body)["query"].split("(")[0].split()[-1]
        return 200, {}, json.dumps(answers[name].pop(0))

    responses.add_callback(responses.POST, ENDPOINT, callback=answer)
    client = AdminClient(DOMAIN, "shpat_plain_token", api_version="2026-10",
                         sleep=lambda _seconds: None)

    batches = list(ShopifyReconcileSource(client).changed_since(
        datetime(2026, 11, 20, 8, 50, tzinfo=UTC)))

    customers, *order_batches = batches
    assert [(r.platform_id, r.first_name) for r in customers
            if isinstance(r, CustomerRecord)] == [("7002", "Grace B.")]
    orders = {r.platform_id: r for batch in order_batches for r in batch
              if isinstance(r, OrderRecord)}
    assert sorted(orders) == ["9002", "9005"]
    assert (orders["9005"].total_price, len(orders["9005"].lines)) == (Decimal("60.0"), 12)
    assert {call.request.headers["X-Shopify-Access-Token"]
            for call in responses.calls} == {"shpat_plain_token"}
    assert all(not answers[name] for name in answers)
