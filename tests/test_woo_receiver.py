"""`POST /webhooks/woocommerce/<store id>` end to end: receiver → inbox → worker → mirror."""

from __future__ import annotations

from decimal import Decimal

import pytest
import responses
from sqlalchemy import func, select

from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Cart, Customer, Order
from app.queue import get_queue
from tests.conftest import run_worker
from tests.test_woo_support import (
    API,
    connect_store,
    customer,
    gmt,
    order,
    post_woo,
    woo_fixture,
)


@pytest.fixture
def woo(ctx):
    return connect_store(db.session)


def inbox_rows() -> list[InboxEntry]:
    db.session.expire_all()
    return list(db.session.execute(select(InboxEntry).order_by(InboxEntry.id)).scalars())


def the_order(order_id) -> Order:
    db.session.expire_all()
    return db.session.execute(
        select(Order).where(Order.platform_order_id == str(order_id))).scalar_one()


def test_creation_ping_is_answered_200_and_stores_nothing(client, woo):
    # WooCommerce's WC_Webhook::deliver_ping: form body, no signature, needs exactly 200.
    response = client.post(f"/webhooks/woocommerce/{woo.id}", data=b"webhook_id=512",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert inbox_rows() == []
    assert len(get_queue("ingest")) == 0


def test_bad_or_missing_signature_is_401(client, woo):
    payload = order()
    wrong = post_woo(client, woo.id, "order.created", payload, secret="not-the-secret")
    missing = client.post(f"/webhooks/woocommerce/{woo.id}", data=b'{"id": 1}',
                          headers={"X-WC-Webhook-Topic": "order.created"})
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert inbox_rows() == []


def test_signature_of_another_store_is_refused(client, woo, session):
    other = connect_store(session, url="https://other.example", secret_prefix="other")
    payload = order()
    # Signed with woo's own secret but sent to the other store's URL.
    response = post_woo(client, other.id, "order.created", payload)
    assert response.status_code == 401


def test_unknown_store_is_404_with_a_reason(client, woo):
    response = post_woo(client, woo.id + 999, "order.created", order())
    assert response.status_code == 404
    assert "no WooCommerce store" in response.get_json()["message"]


def test_order_is_stored_applied_and_redelivery_is_deduplicated(app, client, woo):
    payload = order(total="29.35", customer_id=0, email="john.doe@example.com")
    first = post_woo(client, woo.id, "order.created", payload, delivery_id="abc")
    again = post_woo(client, woo.id, "order.created", payload, delivery_id="def")
    assert first.status_code == again.status_code == 200
    assert again.get_json()["message"].startswith("duplicate")
    [row] = inbox_rows()
    assert row.topic == "order.created"
    assert row.delivery_key == f"order:{payload['id']}:{payload['date_modified_gmt']}"

    run_worker(app)

    stored = the_order(payload["id"])
    assert stored.total_price == Decimal("29.35")
    assert stored.financial_status == "paid"
    assert stored.checkout_token == f"wc-order:{payload['id']}"
    guest = db.session.get(Customer, stored.customer_id)
    assert (guest.email_normalized, guest.platform_customer_id) == ("john.doe@example.com", None)
    assert guest.orders_count == 1


def test_stale_order_update_after_a_newer_one_changes_nothing(app, client, woo):
    newer = order(status="completed", total="50.00", modified=30)
    older = order(order_id=newer["id"], status="processing", total="40.00", modified=10)
    post_woo(client, woo.id, "order.updated", newer)
    run_worker(app)
    post_woo(client, woo.id, "order.updated", older)
    run_worker(app)

    stored = the_order(newer["id"])
    assert (stored.total_price, stored.fulfillment_status) == (Decimal("50.00"), "fulfilled")
    assert [r.status for r in inbox_rows()] == ["processed", "processed"]


def test_guest_order_merges_into_the_customer_who_registers_later(app, client, woo):
    guest_order = order(customer_id=0, email="Ada@Example.com", total="80.00")
    post_woo(client, woo.id, "order.created", guest_order)
    run_worker(app)
    registered = customer(customer_id=77, email="ada@example.com", modified=60)
    post_woo(client, woo.id, "customer.created", registered)
    run_worker(app)

    db.session.expire_all()
    [profile] = db.session.execute(select(Customer)).scalars().all()
    assert profile.platform_customer_id == "77"
    assert (profile.orders_count, profile.total_spent) == (1, Decimal("80.00"))
    assert the_order(guest_order["id"]).customer_id == profile.id


def test_refund_lowers_total_spent(app, client, woo):
    buyer = customer(customer_id=25)
    placed = order(customer_id=25, total="100.00", modified=0)
    refunded = order(order_id=placed["id"], customer_id=25, total="100.00", modified=90,
                     refunds=[{"id": 726, "reason": "damaged", "total": "-10.00"}])
    post_woo(client, woo.id, "customer.created", buyer)
    post_woo(client, woo.id, "order.created", placed)
    run_worker(app)
    post_woo(client, woo.id, "order.updated", refunded)
    run_worker(app)

    db.session.expire_all()
    profile = db.session.execute(
        select(Customer).where(Customer.platform_customer_id == "25")).scalar_one()
    assert profile.total_spent == Decimal("90.00")
    stored = the_order(placed["id"])
    assert (stored.total_refunded, stored.financial_status) == (
        Decimal("10.00"), "partially_refunded")


def test_cancelled_and_failed_orders_leave_the_figures(app, client, woo):
    post_woo(client, woo.id, "customer.created", customer(customer_id=30, email="c@example.com"))
    kept = order(customer_id=30, email="c@example.com", total="20.00")
    cancelled = order(customer_id=30, email="c@example.com", total="30.00", status="cancelled")
    failed = order(customer_id=30, email="c@example.com", total="40.00", status="failed")
    for payload in (kept, cancelled, failed):
        post_woo(client, woo.id, "order.created", payload)
    run_worker(app)

    db.session.expire_all()
    profile = db.session.execute(select(Customer)).scalar_one()
    assert (profile.orders_count, profile.total_spent) == (1, Decimal("20.00"))
    assert the_order(cancelled["id"]).cancelled_at is not None
    assert the_order(failed["id"]).financial_status == "voided"


def test_customer_deleted_marks_the_profile_deleted(app, client, woo):
    post_woo(client, woo.id, "customer.created", customer(customer_id=41))
    post_woo(client, woo.id, "customer.deleted", {"id": 41})
    run_worker(app)
    db.session.expire_all()
    assert db.session.execute(select(Customer.deleted_at)).scalar_one() is not None


@responses.activate
def test_order_deleted_rereads_the_order_and_drops_it_from_the_figures(app, client, woo):
    post_woo(client, woo.id, "customer.created", customer(customer_id=52, email="d@example.com"))
    placed = order(customer_id=52, email="d@example.com", total="60.00")
    post_woo(client, woo.id, "order.created", placed)
    run_worker(app)
    trashed = order(order_id=placed["id"], customer_id=52, email="d@example.com",
                    total="60.00", status="trash", modified=120)
    responses.get(f"{API}/orders/{placed['id']}", json=trashed)

    response = post_woo(client, woo.id, "order.deleted", {"id": placed["id"]})
    assert response.status_code == 200
    run_worker(app)

    stored = the_order(placed["id"])
    assert stored.financial_status == "voided" and stored.cancelled_at is not None
    profile = db.session.execute(select(Customer)).scalar_one()
    assert (profile.orders_count, profile.total_spent) == (0, Decimal("0"))

    # order.restored brings it back (its payload is the full, newer order).
    restored = order(order_id=placed["id"], customer_id=52, email="d@example.com",
                     total="60.00", status="processing", modified=180)
    post_woo(client, woo.id, "order.restored", restored)
    run_worker(app)
    db.session.expire_all()
    assert db.session.execute(select(Customer.total_spent)).scalar_one() == Decimal("60.00")


@responses.activate
def test_order_deleted_for_good_is_voided_from_the_stored_copy(app, client, woo):
    placed = order(customer_id=0, email="e@example.com", total="15.00")
    post_woo(client, woo.id, "order.created", placed)
    run_worker(app)
    responses.get(f"{API}/orders/{placed['id']}", status=404,
                  json={"code": "woocommerce_rest_shop_order_invalid_id",
                        "message": "Invalid ID.", "data": {"status": 404}})
    post_woo(client, woo.id, "order.deleted", {"id": placed["id"]})
    run_worker(app)

    stored = the_order(placed["id"])
    assert stored.financial_status == "voided"
    assert db.session.execute(select(Customer.orders_count)).scalar_one() == 0


def test_cart_snapshot_opens_a_cart_that_the_matching_order_converts(app, client, woo):
    from connectors.woocommerce.carts import cart_snapshot  # the plugin contract's half

    snapshot = {
        "id": "c_8f2a61d0b7e94c3a", "customer_id": 0, "email": "ada@example.com",
        "email_consent": True, "currency": "USD", "subtotal": "40.00", "total": "45.50",
        "items": [{"key": "a5771bce", "product_id": 93, "variation_id": 0, "sku": "WOO-HOODIE",
                   "name": "Hoodie", "quantity": 2, "price": "20.00", "line_total": "40.00"}],
        "recovery_url": "https://store.example/?sticky_restore=c_8f2a61d0b7e94c3a&sig=0f3c",
        "source": "classic", "status": "open",
        "date_created_gmt": gmt(0), "date_modified_gmt": gmt(5),
    }
    assert cart_snapshot(snapshot)  # the contract function exists and reads this body
    post_woo(client, woo.id, "sticky_cart.updated", snapshot)
    run_worker(app)
    db.session.expire_all()
    cart = db.session.execute(select(Cart)).scalar_one()
    assert (cart.kind, cart.token, cart.status) == ("cart", "wc-cart:c_8f2a61d0b7e94c3a", "open")
    assert cart.total_price == Decimal("45.50")

    paid = order(email="ada@example.com", total="45.50", modified=20,
                 cart_key="c_8f2a61d0b7e94c3a")
    post_woo(client, woo.id, "order.created", paid)
    run_worker(app)

    db.session.expire_all()
    cart = db.session.execute(select(Cart)).scalar_one()
    assert cart.status == "converted"
    assert cart.converted_order_id == the_order(paid["id"]).id


def test_pending_order_is_a_checkout_until_it_is_paid(app, client, woo):
    pending = order(status="pending", email="f@example.com", total="12.00", modified=0)
    post_woo(client, woo.id, "order.created", pending)
    run_worker(app)
    db.session.expire_all()
    checkout = db.session.execute(select(Cart)).scalar_one()
    assert (checkout.kind, checkout.token, checkout.status) == (
        "checkout", f"wc-order:{pending['id']}", "open")
    assert db.session.execute(select(func.count()).select_from(Order)).scalar_one() == 0

    paid = order(order_id=pending["id"], status="processing", email="f@example.com",
                 total="12.00", modified=10)
    post_woo(client, woo.id, "order.updated", paid)
    run_worker(app)
    db.session.expire_all()
    assert db.session.execute(select(Cart.status)).scalar_one() == "converted"


def test_documented_order_with_refunds_reads_as_neutral_records(app, client, woo):
    listed = woo_fixture("orders_list")[1]  # the documented completed order with refunds
    post_woo(client, woo.id, "order.created", listed)
    run_worker(app)
    stored = the_order(listed["id"])
    assert stored.total_refunded == Decimal("19.00")  # refunds of -10.00 and -9.00
    assert stored.fulfillment_status == "fulfilled"


# --- input that must never be a 500 ------------------------------------------------------------

def test_store_id_past_a_64_bit_integer_is_404_with_a_reason(client, woo):
    response = post_woo(client, 99999999999999999999, "order.created", order())
    assert response.status_code == 404
    assert "99999999999999999999" in response.get_json()["message"]
    assert inbox_rows() == []


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("topic", ["order.created", "order.deleted", "sticky_cart.updated"])
def test_signed_body_nested_a_thousand_levels_is_stored_once_for_the_worker(client, woo, topic):
    """Signed, so it is the store's own delivery: kept (WooCommerce never redelivers, and 4xx
    answers count towards disabling the webhook), and the worker records why it cannot be read.
    """
    body = (b'{"id": ' + _deep(1000) + b', "date_modified_gmt": "2026-03-01T12:00:00"}')
    first = post_woo(client, woo.id, topic, None, body=body)
    again = post_woo(client, woo.id, topic, None, body=body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["message"].startswith("duplicate")
    [row] = inbox_rows()
    assert (row.topic, row.payload, row.status) == (topic, body, "pending")
    assert row.delivery_key.startswith("sha256:")
    assert len(get_queue("default")) == 0  # no order refresh for an id that is not one


def test_body_nested_past_the_parsers_limit_is_stored_too(client, woo):
    body = b'{"id": 1, "date_modified_gmt": "x", "meta_data": ' + _deep(5000) + b"}"
    assert post_woo(client, woo.id, "order.updated", None, body=body).status_code == 200
    [row] = inbox_rows()
    assert row.delivery_key.startswith("sha256:")


@pytest.mark.parametrize("field", ["id", "date_modified_gmt"])
def test_nul_character_in_the_fields_of_the_dedup_key_is_stored_under_a_hash(client, woo,
                                                                            field):
    payload = order(order_id=7001)
    payload[field] = "7001\x00" if field == "id" else "2026-03-01T12:00:00\x00"
    response = post_woo(client, woo.id, "order.updated", payload)
    assert response.status_code == 200
    [row] = inbox_rows()
    assert row.delivery_key.startswith("sha256:")


def test_topic_longer_than_the_inbox_column_is_400(client, woo):
    response = post_woo(client, woo.id, "order.created", order(),
                        headers={"X-WC-Webhook-Topic": "action.woocommerce_" + "x" * 60})
    assert response.status_code == 400
    assert "X-WC-Webhook-Topic" in response.get_json()["message"]
    assert inbox_rows() == []


@pytest.mark.parametrize("header", ["X-WC-Webhook-Topic", "X-WC-Webhook-Delivery-ID"])
def test_header_with_a_nul_character_is_400(client, woo, header):
    headers = ({"X-WC-Webhook-Topic": "order.deleted\x00"} if header == "X-WC-Webhook-Topic"
               else {"X-WC-Webhook-Delivery-ID": "d41d\x00"})
    response = post_woo(client, woo.id, "order.deleted", {"id": 7002}, headers=headers)
    assert response.status_code == 400
    assert header in response.get_json()["message"]
    assert inbox_rows() == []


# --- the secrets each process keeps -----------------------------------------------------------

def _replace_secret(session, topic: str, secret: str) -> None:
    from app.crypto import encrypt
    from app.woocommerce.models import WooWebhook

    hook = session.execute(select(WooWebhook).where(WooWebhook.topic == topic)).scalar_one()
    hook.secret_encrypted = encrypt(secret)
    session.commit()


def test_a_replaced_secret_takes_effect_at_once(client, woo, session):
    """The receiver keeps a store's secrets between deliveries; a webhook recreated with a
    new secret is honoured at once, and the old secret stops verifying at once."""
    assert post_woo(client, woo.id, "order.created", order()).status_code == 200  # kept now
    _replace_secret(session, "order.created", "the-new-secret")

    old = post_woo(client, woo.id, "order.created", order())
    new = post_woo(client, woo.id, "order.created", order(), secret="the-new-secret")
    assert (old.status_code, new.status_code) == (401, 200)
    assert len(inbox_rows()) == 2


def test_a_removed_store_is_404_although_its_secrets_were_kept(client, woo, session):
    assert post_woo(client, woo.id, "order.created", order()).status_code == 200
    session.delete(session.get(type(woo), woo.id))
    session.commit()
    response = post_woo(client, woo.id, "order.created", order())
    assert response.status_code == 404
    assert inbox_rows() == []
