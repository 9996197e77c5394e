"""A correctly signed delivery of the wrong shape fails alone, with a readable reason naming
the field, and every other delivery of its store is applied, on both platforms.

Deliveries go through the real receivers, inbox and a real RQ worker. Payloads are the
published samples (tests/fixtures) with one field changed.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Order
from tests.conftest import post_webhook, run_worker
from tests.factories import customer_payload, order_payload
from tests.test_woo_support import connect_store, post_woo
from tests.test_woo_support import customer as woo_customer
from tests.test_woo_support import order as woo_order

SHOP = "sticky-test.myshopify.com"
DEEP = "__nested_a_thousand_levels__"
READABLE_STARTS = ("cannot read ", "cannot store ", "cannot apply ", "body is not valid JSON")


def assert_readable(reason: str | None) -> None:
    """What an operator can act on: one short line saying what failed and why."""
    assert reason, "a failed delivery must say why"
    assert reason.startswith(READABLE_STARTS), reason
    assert len(reason) <= 500 and reason.isprintable(), reason
    for tell in ("Traceback", 'File "', "[SQL:", "[parameters:", "sqlalchemy", "psycopg"):
        assert tell not in reason, reason


def body(payload) -> bytes:
    """JSON of `payload`, with every DEEP placeholder nested 1,000 levels deep (json.dumps
    itself cannot write that deep)."""
    return json.dumps(payload).replace(f'"{DEEP}"', "[" * 1000 + "1" + "]" * 1000).encode()


def inbox() -> list:
    db.session.rollback()  # a fresh read: the worker committed since
    rows = db.session.execute(
        select(InboxEntry.id, InboxEntry.topic, InboxEntry.status, InboxEntry.error,
               InboxEntry.attempts).order_by(InboxEntry.id)).all()
    db.session.rollback()  # and hold no lock (SQLite) while the test drives a worker
    return rows


def stored_order(platform_id) -> Order | None:
    db.session.rollback()
    return db.session.execute(
        select(Order).where(Order.platform_order_id == str(platform_id))).scalar_one_or_none()


def post_valid_order(client, total: str = "25.00") -> dict:
    good = order_payload(email=f"after-{uuid.uuid4().hex[:8]}@example.com", total=total)
    assert post_webhook(client, "orders/create", good).status_code == 200
    return good


def shopify_sample(topic: str) -> dict:
    return {"orders/create": order_payload, "customers/create": customer_payload}[topic]()


# -- wrong types, Shopify --------------------------------------------------------------------

SHOPIFY_SHAPES = [
    pytest.param("orders/create", {"line_items": "two hats"},
                 "line_items must be a list of objects, got a string", id="line_items-string"),
    pytest.param("orders/create", {"line_items": [1, 2]},
                 "line_items[0] must be an object, got a whole number", id="list-of-numbers"),
    pytest.param("orders/create", {"total_price_set": 12.5},
                 "total_price_set must be an object, got a decimal number",
                 id="total_price_set-number"),
    pytest.param("orders/create", {"email": 42, "contact_email": None},
                 "email must be a string, got a whole number", id="order-email-number"),
    pytest.param("customers/create", {"email": 42},
                 "email must be a string, got a whole number", id="customer-email-number"),
    pytest.param("customers/create", {"default_address": 7},
                 "default_address must be an object, got a whole number",
                 id="default_address-number"),
    pytest.param("orders/create", {"customer": {"id": 5, "default_address": "Ottawa"}},
                 "customer.default_address must be an object, got a string",
                 id="embedded-default_address-string"),
    pytest.param("orders/create", {"customer": {"id": DEEP}},
                 "customer.id must be a whole number or a string, got a list",
                 id="deep-customer-id"),
]


@pytest.mark.parametrize(("topic", "change", "reason"), SHOPIFY_SHAPES)
def test_a_malformed_shopify_delivery_fails_alone_with_its_reason(app, client, shop, topic,
                                                                  change, reason):
    bad = shopify_sample(topic)
    bad.update(change)
    assert post_webhook(client, topic, None, body=body(bad)).status_code == 200
    good = post_valid_order(client)

    run_worker(app)

    rows = inbox()
    assert [(r.topic, r.status) for r in rows] == [(topic, "failed"), ("orders/create",
                                                                       "processed")]
    assert rows[0].error == f"cannot read {topic} payload: {reason}"
    assert stored_order(good["id"]).total_price == Decimal("25.00")


def test_deep_nesting_in_a_field_nothing_reads_changes_nothing(app, client, shop):
    payload = order_payload(total="31.00")
    payload["note_attributes"] = DEEP
    payload["line_items"][0]["properties"] = DEEP
    post_webhook(client, "orders/create", None, body=body(payload))
    run_worker(app)
    assert [r.status for r in inbox()] == ["processed"]
    assert stored_order(payload["id"]).total_price == Decimal("31.00")


def test_inbox_status_lists_the_failed_delivery_with_its_reason(app, client, shop):
    bad = order_payload()
    bad["line_items"] = "two hats"
    post_webhook(client, "orders/create", bad)
    run_worker(app)
    db.session.rollback()
    result = app.test_cli_runner().invoke(args=["inbox", "status", "--failed"])
    assert result.exit_code == 0
    assert ("orders/create at" in result.output and "cannot read orders/create payload: "
            "line_items must be a list of objects, got a string" in result.output)


# -- wrong types, WooCommerce -----------------------------------------------------------------

@pytest.fixture
def woo(ctx):
    return connect_store(db.session)


WOO_SHAPES = [
    pytest.param("order.created", {"line_items": "two hats"},
                 "line_items must be a list of objects, got a string", id="line_items-string"),
    pytest.param("order.created", {"line_items": [1]},
                 "line_items[0] must be an object, got a whole number", id="list-of-numbers"),
    pytest.param("order.created", {"billing": 7},
                 "billing must be an object, got a whole number", id="billing-number"),
    pytest.param("customer.created", {"email": 42},
                 "email must be a string, got a whole number", id="email-number"),
    pytest.param("order.created", {"id": DEEP},
                 "a WooCommerce id must be a whole number, got a list", id="deep-id"),
    pytest.param("order.created", {"line_items": [{"name": DEEP, "quantity": 1}]},
                 "line_items[0].name must be a string, got a list", id="deep-line-name"),
]


@pytest.mark.parametrize(("topic", "change", "reason"), WOO_SHAPES)
def test_a_malformed_woocommerce_delivery_fails_alone_with_its_reason(app, client, woo, topic,
                                                                      change, reason):
    bad = woo_order() if topic == "order.created" else woo_customer()
    bad.update(change)
    assert post_woo(client, woo.id, topic, None, body=body(bad)).status_code == 200
    good = woo_order(total="19.00", email="after@example.com")
    assert post_woo(client, woo.id, "order.created", good).status_code == 200

    run_worker(app)

    rows = inbox()
    assert [(r.topic, r.status) for r in rows] == [(topic, "failed"), ("order.created",
                                                                       "processed")]
    assert rows[0].error == f"cannot read {topic} payload: {reason}"
    assert stored_order(good["id"]).total_price == Decimal("19.00")
