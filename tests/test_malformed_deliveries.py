"""A correctly signed delivery of the wrong shape fails alone, with a readable reason, and
every other delivery of its store is applied: in the parse, the prefetch, the writes and the
batch's closing work, on both platforms (privacy requests: test_malformed_privacy.py).

Deliveries go through the real receivers, inbox and a real RQ worker. Payloads are the
published samples (tests/fixtures) with one field changed.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Cart, Customer, Order, OrderLine
from app.profiles.orders import Orders
from app.profiles.store import ProfileStore
from connectors.shopify.normalize import parse_time
from jobs.ingest import sweep_inbox
from tests.conftest import post_webhook, run_worker
from tests.factories import checkout_payload, customer_payload, next_id, order_payload, ts
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


def test_a_body_nested_past_the_parsers_limit_fails_as_not_json(app, client, shop):
    post_webhook(client, "orders/create", None, body=b"[" * 5000 + b"]" * 5000)
    post_valid_order(client)
    run_worker(app)
    rows = inbox()
    assert [r.status for r in rows] == ["failed", "processed"]
    assert rows[0].error == "body is not valid JSON (depth limit exceeded)"


def test_nul_characters_are_dropped_and_the_rest_is_kept(app, client, shop):
    """PostgreSQL cannot store NUL in text or JSON; it means nothing in a name, an email or
    a title, so the connector's records never carry it (both databases store the same)."""
    person = customer_payload(first_name="Ada\u0000", email="ada\u0000@example.com")
    order = order_payload(customer=person, email="ada\u0000@example.com", total="40.00")
    order["line_items"][0]["title"] = "Aviator\u0000 sunglasses"
    order["name"] = "#10\u000001"
    checkout = checkout_payload(token="chk-\u0000nul", email="ada@example.com")
    checkout["line_items"][0]["title"] = "Hat\u0000"
    for topic, payload in [("customers/create", person), ("orders/create", order),
                           ("checkouts/create", checkout)]:
        assert post_webhook(client, topic, payload).status_code == 200
    good = post_valid_order(client)

    run_worker(app)

    assert [r.status for r in inbox()] == ["processed"] * 4
    profile = db.session.execute(
        select(Customer).where(Customer.platform_customer_id == str(person["id"]))).scalar_one()
    assert (profile.first_name, profile.email) == ("Ada", "ada@example.com")
    stored = stored_order(order["id"])
    assert stored.name == "#1001"
    assert db.session.execute(select(OrderLine.title).where(
        OrderLine.order_id == stored.id)).scalar_one() == "Aviator sunglasses"
    cart = db.session.execute(select(Cart)).scalar_one()
    assert (cart.token, cart.line_items[0]["title"]) == ("chk-nul", "Hat")
    assert stored_order(good["id"]) is not None


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
    pytest.param("customer.deleted", {"id": "\u0000"}, "payload has no 'id'",
                 id="nul-id-of-a-deletion"),
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


def test_a_nul_in_the_fields_woocommerce_deliveries_are_keyed_on_is_accepted(app, client, woo):
    """The receiver keys a delivery on its id and date_modified_gmt; PostgreSQL refuses a
    NUL in that key, so such a key is replaced by the body's hash (no 500)."""
    order = woo_order(total="23.00")
    order["date_modified_gmt"] += "\u0000"
    assert post_woo(client, woo.id, "order.updated", order).status_code == 200
    deletion = {"id": "\u0000"}
    assert post_woo(client, woo.id, "customer.deleted", deletion,
                    delivery_id="x").status_code == 200
    run_worker(app)
    rows = inbox()
    assert [r.status for r in rows] == ["processed", "failed"]
    assert rows[1].error == "cannot read customer.deleted payload: payload has no 'id'"
    assert stored_order(order["id"]).total_price == Decimal("23.00")


# -- failures past the parse: prefetch, writes, closing work ----------------------------------

def test_a_delivery_whose_prefetch_fails_fails_alone(app, client, shop, monkeypatch):
    bad = order_payload(total="13.00")
    real_prefetch = ProfileStore.prefetch

    def explode_for_bad(self, records):
        if any(getattr(r, "platform_id", None) == str(bad["id"]) for r in records):
            raise KeyError("simulated prefetch bug")
        real_prefetch(self, records)

    monkeypatch.setattr(ProfileStore, "prefetch", explode_for_bad)
    first = post_valid_order(client, "11.00")
    post_webhook(client, "orders/create", bad)
    last = post_valid_order(client, "17.00")
    run_worker(app)

    rows = inbox()
    assert [r.status for r in rows] == ["processed", "failed", "processed"]
    assert rows[1].error == ("cannot apply orders/create delivery: "
                             "unexpected KeyError: 'simulated prefetch bug'")
    assert stored_order(first["id"]) and stored_order(last["id"])
    assert stored_order(bad["id"]) is None


def test_a_delivery_that_breaks_the_batch_closing_work_is_found_and_failed_alone(
        app, client, shop, monkeypatch):
    """Refund totals, figures and events run once per batch; when they fail, the batch is
    redone one delivery per transaction so only the culprit fails."""
    same_shopper = customer_payload(email="regular@example.com")
    bad = order_payload(customer=same_shopper, email="regular@example.com", total="13.00")
    real_refresh = Orders.refresh_refund_totals

    def explode_for_bad(self):
        if str(bad["id"]) in self._touched_orders:
            raise ValueError("simulated closing bug")
        real_refresh(self)

    monkeypatch.setattr(Orders, "refresh_refund_totals", explode_for_bad)
    for total in ("11.00", None, "17.00"):
        payload = bad if total is None else order_payload(
            customer=same_shopper, email="regular@example.com", total=total)
        post_webhook(client, "orders/create", payload)
    run_worker(app)

    rows = inbox()
    assert [r.status for r in rows] == ["processed", "failed", "processed"]
    assert rows[1].error == ("cannot apply orders/create delivery: "
                             "unexpected ValueError: simulated closing bug")
    assert stored_order(bad["id"]) is None
    profile = db.session.execute(select(Customer)).scalar_one()
    assert (profile.orders_count, profile.total_spent) == (2, Decimal("28.00"))


def test_figures_that_overflow_fail_the_order_that_overflows_them(app, client, shop):
    """A real closing-work failure: on PostgreSQL the customer's total_spent column cannot
    hold two orders this large (SQLite's NUMERIC has no such limit)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite's NUMERIC does not overflow")
    whale = customer_payload(email="whale@example.com")
    first, second = (order_payload(customer=whale, email="whale@example.com",
                                   total="60000000000000.00") for _ in range(2))
    post_webhook(client, "orders/create", first)
    post_webhook(client, "orders/create", second)
    good = post_valid_order(client)
    run_worker(app)

    rows = inbox()
    assert [r.status for r in rows] == ["processed", "failed", "processed"]
    assert rows[1].error == ("cannot store orders/create delivery: the database refused it: "
                             "numeric field overflow")
    assert stored_order(first["id"]) and stored_order(good["id"])


def test_an_older_version_is_applied_when_the_newer_one_fails(app, client, shop, monkeypatch):
    order_id = next_id()
    older = order_payload(order_id=order_id, total="10.00", updated=1)
    newer = order_payload(order_id=order_id, total="20.00", updated=2)
    newer_at = parse_time(ts(2))
    real_apply = ProfileStore._apply_order

    def explode_for_newer(self, record):
        if record.updated_at == newer_at:
            raise ValueError("simulated bug")
        real_apply(self, record)

    monkeypatch.setattr(ProfileStore, "_apply_order", explode_for_newer)
    post_webhook(client, "orders/create", older)
    post_webhook(client, "orders/updated", newer)
    run_worker(app)

    assert [r.status for r in inbox()] == ["processed", "failed"]
    assert stored_order(order_id).total_price == Decimal("10.00")


@pytest.mark.parametrize("owner, stage", [(ProfileStore, "_apply_order"),
                                          (Orders, "refresh_refund_totals")])
def test_a_lost_database_connection_leaves_the_delivery_pending(app, client, shop,
                                                                monkeypatch, owner, stage):
    """Not the delivery's fault: it stays pending (no reason, no attempt) for the retry."""
    def connection_lost(*args, **kwargs):
        raise OperationalError("INSERT INTO orders ...", {}, ConnectionError(
            "server closed the connection unexpectedly"), connection_invalidated=True)

    monkeypatch.setattr(owner, stage, connection_lost)
    payload = order_payload(total="12.00")
    post_webhook(client, "orders/create", payload)
    run_worker(app)
    [row] = inbox()
    assert (row.status, row.error, row.attempts) == ("pending", None, 0)

    monkeypatch.undo()
    sweep_inbox(older_than_seconds=0)
    run_worker(app)
    assert [r.status for r in inbox()] == ["processed"]
    assert stored_order(payload["id"]).total_price == Decimal("12.00")
