"""A refund is what it returned, and an order's refunds never exceed what was paid.

Shopify's published refunds/create sample lists 414.95 of refunded lines but returns 75.00 +
10.00 through its two successful refund transactions; its orders/create sample was paid
404.95. Webhooks, the history backfill (Bulk Operations JSONL) and reconciliation (paginated
GraphQL) must all leave that order at 85.00 refunded and the shopper at 319.95 spent.
Shopify is stubbed only at the HTTP edge.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses
from sqlalchemy import select

from app.db import db
from app.profiles.models import Customer, Order, Refund
from app.shops.models import Shop
from app.shops.service import connect_shopify_by_token
from app.sync.backfill import run_backfill
from app.sync.reconcile import reconcile_shop
from connectors.records import PayloadError
from connectors.shopify.normalize import refund as normalize_refund
from tests.conftest import post_webhook, run_worker, shopify_fixture
from tests.factories import next_id, order_payload, refund_payload, ts
from tests.test_backfill import API_VERSION, ShopifyBulkStub
from tests.test_woo_support import connect_store, customer, order, post_woo

PAID = Decimal("404.95")  # the orders/create sample's total_price_set.shop_money
RETURNED = Decimal("75.00") + Decimal("10.00")  # the refunds/create sample's transactions
SAMPLE_LINES = Decimal("414.95")  # what the refunds/create sample's lines add up to


def live_sample_order() -> dict:
    """The published orders/create sample as a live order (the sample is voided, cancelled
    and a test; tests/fixtures/shopify/README.md)."""
    payload = shopify_fixture("orders/create")
    payload.update(cancelled_at=None, cancel_reason=None, financial_status="paid",
                   test=False)
    return payload


def deliver(app, client, *deliveries, shop_domain: str = "sticky-test.myshopify.com"):
    for topic, payload in deliveries:
        response = post_webhook(client, topic, payload, shop_domain=shop_domain)
        assert response.status_code == 200, response.get_data(as_text=True)
    run_worker(app)


def mirrored(shop_id: int, order_id) -> tuple[list[Decimal], Decimal, Decimal, Decimal]:
    """(refund amounts, order total, order total_refunded, buyer's total_spent)."""
    db.session.close()
    stored = db.session.execute(select(Order).where(
        Order.shop_id == shop_id, Order.platform_order_id == str(order_id))).scalar_one()
    amounts = sorted(db.session.execute(select(Refund.amount).where(
        Refund.shop_id == shop_id, Refund.platform_order_id == str(order_id))).scalars())
    buyer = db.session.get(Customer, stored.customer_id)
    return amounts, stored.total_price, stored.total_refunded, buyer.total_spent


# -- the normalizer ------------------------------------------------------------------


def test_published_refund_is_worth_its_successful_refund_transactions():
    record = normalize_refund(shopify_fixture("refunds/create"))
    assert record.amount == RETURNED
    assert record.order_platform_id == "820982911946154508"


def test_only_successful_refund_transactions_count():
    payload = shopify_fixture("refunds/create")
    sample = payload["transactions"][0]
    payload["transactions"] += [
        dict(sample, id=1, status="failure", amount="300.00"),
        dict(sample, id=2, status="pending", amount="40.00"),
        dict(sample, id=3, status="error", amount="12.00"),
        dict(sample, id=4, kind="sale", amount="404.95"),
        dict(sample, id=5, kind="void", amount="404.95"),
    ]
    assert normalize_refund(payload).amount == RETURNED


def test_a_refund_without_transactions_falls_back_to_its_lines():
    payload = shopify_fixture("refunds/create")
    del payload["transactions"]
    assert normalize_refund(payload).amount == SAMPLE_LINES


def test_a_refund_with_an_empty_transaction_list_returned_nothing():
    # A restock-only refund: lines are listed, no money moved.
    payload = shopify_fixture("refunds/create")
    payload["transactions"] = []
    assert normalize_refund(payload).amount == Decimal("0")


def test_transactions_in_the_presentment_currency_are_converted_to_shop_money():
    # A CAD shopper in a USD shop: the refund's own sets say 100.00 CAD is 80.00 USD.
    payload = refund_payload(order_id=1, amount="80.00")
    line = payload["refund_line_items"][0]
    line["subtotal_set"]["presentment_money"] = {"amount": "100.00", "currency_code": "CAD"}
    line["total_tax_set"]["presentment_money"] = {"amount": "0.00", "currency_code": "CAD"}
    payload["total_duties_set"]["presentment_money"]["currency_code"] = "CAD"
    payload["transactions"][0].update(amount="50.00", currency="CAD")
    assert normalize_refund(payload).amount == Decimal("40.00")


def test_a_transaction_in_the_shop_currency_is_taken_as_it_is():
    payload = refund_payload(order_id=1, amount="80.00")
    payload["transactions"][0].update(amount="50.00", currency="USD")
    assert normalize_refund(payload).amount == Decimal("50.00")


@pytest.mark.parametrize("transactions", [
    "75.00",
    [75],
    [{"kind": "refund", "status": "success", "amount": "-75.00"}],
    [{"kind": "refund", "status": "success", "amount": "lots"}],
])
def test_malformed_refund_transactions_are_refused(transactions):
    payload = shopify_fixture("refunds/create")
    payload["transactions"] = transactions
    with pytest.raises(PayloadError):
        normalize_refund(payload)


# -- webhooks through the profile store ---------------------------------------------


def test_published_samples_leave_the_order_total_less_what_was_returned(app, client, shop):
    deliver(app, client, ("orders/create", live_sample_order()),
            ("refunds/create", shopify_fixture("refunds/create")))

    amounts, total, refunded, spent = mirrored(shop.id, "820982911946154508")
    assert amounts == [RETURNED]
    assert (total, refunded) == (PAID, RETURNED)
    assert spent == PAID - RETURNED == Decimal("319.95")
    john = db.session.execute(select(Customer).where(Customer.shop_id == shop.id)).scalar_one()
    assert (john.orders_count, john.average_order_value) == (1, Decimal("319.95"))


def test_refunds_embedded_in_orders_updated_count_once_by_their_transactions(app, client,
                                                                             shop):
    updated = live_sample_order()
    updated.update(financial_status="partially_refunded",
                   refunds=[shopify_fixture("refunds/create")])
    deliver(app, client, ("orders/create", live_sample_order()), ("orders/updated", updated))
    assert mirrored(shop.id, "820982911946154508")[1:] == (PAID, RETURNED, PAID - RETURNED)

    # its own refunds/create, delivered late, is the same refund: nothing is counted twice
    deliver(app, client, ("refunds/create", shopify_fixture("refunds/create")))
    assert mirrored(shop.id, "820982911946154508") == (
        [RETURNED], PAID, RETURNED, PAID - RETURNED)


def test_refunds_beyond_what_was_paid_are_capped_at_the_order_total(app, client, shop):
    order_id = next_id()
    buyer = {"id": next_id(), "email": "over@example.com", "first_name": "O",
             "last_name": "R"}
    deliver(app, client,
            ("refunds/create", refund_payload(order_id=order_id, amount="150.00")),
            ("orders/create", order_payload(order_id=order_id, customer=buyer,
                                            total="100.00")))
    assert mirrored(shop.id, order_id)[1:] == (Decimal("100.00"), Decimal("100.00"),
                                               Decimal("0.00"))

    deliver(app, client, ("refunds/create", refund_payload(order_id=order_id, amount="30.00")))
    amounts, total, refunded, spent = mirrored(shop.id, order_id)
    assert amounts == [Decimal("30.00"), Decimal("150.00")]  # stored as the platform said
    assert (refunded, spent) == (Decimal("100.00"), Decimal("0.00"))


def test_an_order_edited_below_its_refunds_is_capped_again(app, client, shop):
    order_id = next_id()
    deliver(app, client,
            ("orders/create", order_payload(order_id=order_id, total="100.00", updated=0)),
            ("refunds/create", refund_payload(order_id=order_id, amount="60.00")))
    assert mirrored(shop.id, order_id)[2:] == (Decimal("60.00"), Decimal("40.00"))

    deliver(app, client, ("orders/updated", order_payload(order_id=order_id, total="50.00",
                                                          updated=30)))
    assert mirrored(shop.id, order_id)[1:] == (Decimal("50.00"), Decimal("50.00"),
                                               Decimal("0.00"))


def test_a_pending_refund_counts_once_its_transaction_succeeds(app, client, shop):
    order_id = next_id()
    refund_id = next_id()
    pending = refund_payload(order_id=order_id, refund_id=refund_id, amount="30.00",
                             status="pending")
    deliver(app, client,
            ("orders/create", order_payload(order_id=order_id, total="100.00", updated=0)),
            ("refunds/create", pending))
    assert mirrored(shop.id, order_id)[2:] == (Decimal("0.00"), Decimal("100.00"))

    succeeded = refund_payload(order_id=order_id, refund_id=refund_id, amount="30.00")
    deliver(app, client, ("orders/updated", order_payload(
        order_id=order_id, total="100.00", updated=90, financial_status="partially_refunded",
        refunds=[succeeded])))
    assert mirrored(shop.id, order_id)[2:] == (Decimal("30.00"), Decimal("70.00"))

    # an older copy of the refund, still pending, arriving late changes nothing
    deliver(app, client, ("refunds/create", pending))
    assert mirrored(shop.id, order_id) == (
        [Decimal("30.00")], Decimal("100.00"), Decimal("30.00"), Decimal("70.00"))


def test_woocommerce_refunds_beyond_the_order_total_are_capped(app, client, ctx):
    woo = connect_store(db.session)
    placed = order(customer_id=25, total="100.00", modified=0)
    refunded = order(order_id=placed["id"], customer_id=25, total="100.00", modified=90,
                     status="refunded",
                     refunds=[{"id": 726, "reason": "damaged", "total": "-70.00"},
                              {"id": 727, "reason": "", "total": "-50.00"}])
    post_woo(client, woo.id, "customer.created", customer(customer_id=25))
    post_woo(client, woo.id, "order.created", placed)
    run_worker(app)
    post_woo(client, woo.id, "order.updated", refunded)
    run_worker(app)

    amounts, total, refunded_total, spent = mirrored(woo.id, placed["id"])
    assert amounts == [Decimal("50.00"), Decimal("70.00")]
    assert (total, refunded_total, spent) == (Decimal("100.00"), Decimal("100.00"),
                                              Decimal("0.00"))


# -- the same order through webhooks, backfill and reconciliation ---------------------


def _gql_money(amount) -> dict:
    return {"shopMoney": {"amount": str(amount), "currencyCode": "USD"}}


def sample_as_graphql(*, updated_at: str) -> tuple[dict, list[dict], dict]:
    """The published order and refund as the Admin GraphQL API describes them: the Order
    node (ORDER_FIELDS), its LineItem nodes, and the Customer node. A refund's
    `totalRefundedSet` is "the total amount across all transactions for the refund"."""
    rest = live_sample_order()
    rest_refund = shopify_fixture("refunds/create")
    buyer = rest["customer"]
    node = {
        "id": f"gid://shopify/Order/{rest['id']}", "name": rest["name"],
        "email": rest["email"], "createdAt": rest["created_at"],
        "processedAt": rest["processed_at"], "updatedAt": updated_at, "cancelledAt": None,
        "closedAt": None, "test": False, "currencyCode": rest["currency"],
        "presentmentCurrencyCode": rest["presentment_currency"],
        "displayFinancialStatus": "PARTIALLY_REFUNDED", "displayFulfillmentStatus": None,
        "sourceName": rest["source_name"], "discountCodes": [],
        "customer": {"id": f"gid://shopify/Customer/{buyer['id']}",
                     "defaultEmailAddress": {"emailAddress": buyer["email"]},
                     "firstName": buyer["first_name"], "lastName": buyer["last_name"]},
        "totalPriceSet": _gql_money(rest["total_price_set"]["shop_money"]["amount"]),
        "subtotalPriceSet": _gql_money(rest["subtotal_price_set"]["shop_money"]["amount"]),
        "totalTaxSet": _gql_money(rest["total_tax_set"]["shop_money"]["amount"]),
        "totalDiscountsSet": _gql_money(rest["total_discounts_set"]["shop_money"]["amount"]),
        "totalShippingPriceSet": _gql_money(
            rest["total_shipping_price_set"]["shop_money"]["amount"]),
        "refunds": [{"id": rest_refund["admin_graphql_api_id"],
                     "createdAt": rest_refund["created_at"], "note": rest_refund["note"],
                     "totalRefundedSet": _gql_money("85.00")}],
    }
    lines = [{"id": item["admin_graphql_api_id"], "title": item["title"],
              "quantity": item["quantity"], "sku": item["sku"],
              "variantTitle": item["variant_title"],
              "originalUnitPriceSet": _gql_money(item["price_set"]["shop_money"]["amount"]),
              "totalDiscountSet": _gql_money(
                  item["total_discount_set"]["shop_money"]["amount"]),
              "product": {"id": f"gid://shopify/Product/{item['product_id']}"},
              "variant": None}
             for item in rest["line_items"]]
    customer_node = {
        "id": f"gid://shopify/Customer/{buyer['id']}", "firstName": buyer["first_name"],
        "lastName": buyer["last_name"], "state": "DISABLED", "tags": [],
        "createdAt": "2021-12-01T00:00:00Z", "updatedAt": "2021-12-01T00:00:00Z",
        "defaultEmailAddress": {"emailAddress": buyer["email"],
                                "marketingState": "NOT_SUBSCRIBED",
                                "marketingUpdatedAt": None},
        "defaultPhoneNumber": None, "defaultAddress": None,
    }
    return node, lines, customer_node


def through_webhooks(app, client, shop) -> tuple:
    deliver(app, client, ("orders/create", live_sample_order()),
            ("refunds/create", shopify_fixture("refunds/create")), shop_domain=shop.domain)
    return mirrored(shop.id, "820982911946154508")


def through_backfill(app, shop, tmp_path, monkeypatch) -> tuple:
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_POLL_SECONDS", 0)
    node, lines, customer_node = sample_as_graphql(updated_at=ts(0))
    files = {"customers": tmp_path / "customers.jsonl", "orders": tmp_path / "orders.jsonl"}
    files["customers"].write_text(json.dumps(customer_node) + "\n")
    files["orders"].write_text("".join(
        json.dumps(row) + "\n"
        for row in [node, *({**line, "__parentId": node["id"]} for line in lines)]))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = ShopifyBulkStub(rsps, shop.domain, files=files)
        stub.serve("customers")
        stub.serve("orders")
        assert run_backfill(db.session, shop.id).status == "completed"
    return mirrored(shop.id, "820982911946154508")


def through_reconciliation(app, client, shop) -> tuple:
    """The order arrived by webhook; its refunds/create was lost and reconciliation finds
    the refund on the changed order."""
    deliver(app, client, ("orders/create", live_sample_order()), shop_domain=shop.domain)
    assert mirrored(shop.id, "820982911946154508")[2] == Decimal("0")
    node, lines, _ = sample_as_graphql(updated_at="2026-11-20T09:20:00Z")
    node["lineItems"] = {"pageInfo": {"hasNextPage": False, "endCursor": "bGluZTo1"},
                         "nodes": lines}
    pages = {
        "ChangedCustomers": {"data": {"customers": {
            "pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}}},
        "ChangedOrders": {"data": {"orders": {
            "pageInfo": {"hasNextPage": False, "endCursor": "b3JkZXI6MQ=="},
            "nodes": [node]}}},
    }

    def answer(request):
        name = json.loads(request.body)["query"].split("(")[0].split()[-1]
        return 200, {}, json.dumps(pages[name])

    with responses.RequestsMock() as rsps:
        rsps.add_callback(
            responses.POST, f"https://{shop.domain}/admin/api/{API_VERSION}/graphql.json",
            callback=answer)
        reconcile_shop(db.session, shop.id)
    return mirrored(shop.id, "820982911946154508")


def test_webhook_backfill_and_reconciliation_agree_on_the_same_order(app, client, shop,
                                                                     other_shop, tmp_path,
                                                                     monkeypatch):
    third = connect_shopify_by_token(db.session, "third-store.myshopify.com", "shpat_third")
    db.session.commit()

    webhook = through_webhooks(app, client, db.session.get(Shop, shop.id))
    backfill = through_backfill(app, db.session.get(Shop, other_shop.id), tmp_path,
                                monkeypatch)
    reconciled = through_reconciliation(app, client, db.session.get(Shop, third.id))

    expected = ([RETURNED], PAID, RETURNED, PAID - RETURNED)
    assert webhook == backfill == reconciled == expected

    # the refund's own webhook, arriving after reconciliation found it, counts nothing twice
    deliver(app, client, ("refunds/create", shopify_fixture("refunds/create")),
            shop_domain=third.domain)
    assert mirrored(third.id, "820982911946154508") == expected
