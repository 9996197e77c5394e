"""The companion plugin's cart snapshot → the profile store (contract: WOO_CART_CONTRACT)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.db import db
from app.profiles.abandoned import mark_abandoned_carts
from app.profiles.models import Cart, Customer
from app.profiles.store import ProfileStore
from app.shops.models import Shop
from connectors.records import CustomerRecord, LineRecord, OrderRecord, PayloadError
from connectors.woocommerce.carts import (
    CART_KEY_META,
    TOKEN_PREFIX,
    TOPIC,
    cart_snapshot,
    delivery_key,
)

# Shaped exactly like the contract's example body, as the plugin builds it.
SNAPSHOT: dict[str, Any] = {
    "id": "c_8f2a61d0b7e94c3a",
    "customer_id": 0,
    "email": "ada@example.com",
    "email_consent": True,
    "currency": "USD",
    "subtotal": "40.00",
    "total": "45.50",
    "items": [{"key": "a5771bce93e200c36f7cd9dfd0e5deaa", "product_id": 93, "variation_id": 0,
               "sku": "WOO-HOODIE", "name": "Hoodie", "quantity": 2, "price": "20.00",
               "line_total": "40.00"}],
    "recovery_url": "https://store.example/?sticky_restore=c_8f2a61d0b7e94c3a&sig=0f3c",
    "source": "classic",
    "status": "open",
    "date_created_gmt": "2026-03-01T12:00:00",
    "date_modified_gmt": "2026-03-01T12:05:00",
}


def snapshot(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(SNAPSHOT)
    payload.update(changes)
    return payload


@pytest.fixture
def woo_shop(ctx):
    shop = Shop(platform="woocommerce", domain="store.example", currency="USD",
                api_base_url="https://store.example")
    db.session.add(shop)
    db.session.commit()
    return shop


def apply(shop_id: int, payload: dict[str, Any]) -> None:
    records = cart_snapshot(payload)
    store = ProfileStore(db.session, shop_id)
    store.prefetch(records)
    for record in records:
        store.apply(record)
    store.finish()
    db.session.commit()


def carts(shop_id: int) -> list[Cart]:
    db.session.expire_all()
    return list(db.session.scalars(select(Cart).where(Cart.shop_id == shop_id)))


def test_contract_names_are_the_published_ones():
    assert TOPIC == "sticky_cart.updated"
    assert CART_KEY_META == "_sticky_cart_key"
    assert TOKEN_PREFIX == "wc-cart:"


def test_consented_guest_snapshot_becomes_an_open_cart_with_a_guest_profile(woo_shop):
    # given a guest who ticked the consent box
    # when the snapshot is applied
    apply(woo_shop.id, snapshot())

    # then the cart is open, prefixed, priced in Decimal and linked to a guest profile
    (cart,) = carts(woo_shop.id)
    assert (cart.kind, cart.token, cart.cart_token) == (
        "cart", "wc-cart:c_8f2a61d0b7e94c3a", "wc-cart:c_8f2a61d0b7e94c3a")
    assert cart.status == "open"
    assert cart.total_price == Decimal("45.50")
    assert cart.currency == "USD"
    assert cart.email == "ada@example.com"
    assert cart.recovery_url.startswith("https://store.example/?sticky_restore=")
    assert cart.platform_updated_at == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    assert cart.platform_created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert cart.line_items == [{
        "title": "Hoodie", "variant_title": None, "quantity": 2, "price": "20.00",
        "line_total": "40.00", "product_id": "93", "variant_id": None, "sku": "WOO-HOODIE"}]
    guest = db.session.get(Customer, cart.customer_id)
    assert guest.email_normalized == "ada@example.com"
    assert guest.platform_customer_id is None


def test_guest_email_without_consent_is_dropped(woo_shop):
    # given a guest whose email reached the plugin but who did not consent
    apply(woo_shop.id, snapshot(email_consent=False))

    # then the cart is kept anonymous and no profile is created
    (cart,) = carts(woo_shop.id)
    assert cart.email is None
    assert cart.customer_id is None
    assert db.session.scalar(select(Customer.id)) is None


def test_signed_in_customer_is_identified_by_wordpress_user_id(woo_shop):
    # given a logged-in shopper (WP user 42) who never saw the consent box
    apply(woo_shop.id, snapshot(customer_id=42, email_consent=False,
                                email="grace@example.com"))

    # then the cart belongs to the profile with platform id "42"
    (cart,) = carts(woo_shop.id)
    customer = db.session.get(Customer, cart.customer_id)
    assert customer.platform_customer_id == "42"
    assert customer.email == "grace@example.com"
    assert cart.email == "grace@example.com"


def test_later_snapshot_replaces_contents_and_older_one_is_ignored(woo_shop):
    # given a cart snapshotted at 12:05
    apply(woo_shop.id, snapshot())
    # when a newer snapshot (12:09, one hoodie) and then a late, older one (12:01) arrive
    newer = snapshot(total="25.50", date_modified_gmt="2026-03-01T12:09:00")
    newer["items"][0].update(quantity=1, line_total="20.00")
    apply(woo_shop.id, newer)
    apply(woo_shop.id, snapshot(total="99.00", date_modified_gmt="2026-03-01T12:01:00"))

    # then the cart shows the newest contents
    (cart,) = carts(woo_shop.id)
    assert cart.total_price == Decimal("25.50")
    assert cart.line_items[0]["quantity"] == 1


def test_emptied_cart_keeps_no_lines_and_is_never_resurrected_by_a_stale_snapshot(woo_shop):
    # given an open cart
    apply(woo_shop.id, snapshot())
    # when the shopper empties it, and a stale open snapshot arrives afterwards
    apply(woo_shop.id, snapshot(status="emptied", items=[], total="0.00",
                                date_modified_gmt="2026-03-01T12:10:00"))
    apply(woo_shop.id, snapshot(date_modified_gmt="2026-03-01T12:07:00"))

    # then the cart has no lines and no value
    (cart,) = carts(woo_shop.id)
    assert cart.line_items == []
    assert cart.total_price == Decimal("0")


def test_emptied_status_wins_over_leftover_items_in_the_body(woo_shop):
    # given an "emptied" snapshot that still lists items (a plugin built before the clear)
    (record,) = cart_snapshot(snapshot(status="emptied"))

    # then the record carries nothing to recover
    assert record.line_items == []
    assert record.total_price == Decimal("0")


def test_order_with_the_cart_key_converts_the_snapshot_cart(woo_shop):
    # given an open plugin cart
    apply(woo_shop.id, snapshot())
    # when the order placed from it arrives (the order normalizer maps _sticky_cart_key)
    order = OrderRecord(
        platform_id="727", placed_at=datetime(2026, 3, 1, 12, 20, tzinfo=UTC),
        updated_at=datetime(2026, 3, 1, 12, 20, tzinfo=UTC), currency="USD",
        total_price=Decimal("45.50"), email="ada@example.com",
        customer=CustomerRecord(platform_id=None, email="ada@example.com"),
        checkout_token="wc-order:727", cart_token=TOKEN_PREFIX + SNAPSHOT["id"],
        lines=[LineRecord(platform_id="1", title="Hoodie", quantity=2, price=Decimal("20"))],
    )
    store = ProfileStore(db.session, woo_shop.id)
    store.prefetch([order])
    store.apply(order)
    store.finish()
    db.session.commit()

    # then the cart is converted and never counted as abandoned
    (cart,) = carts(woo_shop.id)
    assert cart.status == "converted"
    assert cart.converted_order_id is not None
    assert mark_abandoned_carts(db.session, woo_shop.id,
                                datetime(2026, 3, 2, tzinfo=UTC)) == []


@pytest.mark.parametrize("payload, reason", [
    ([SNAPSHOT], "JSON object"),
    (snapshot(id=None), "'id'"),
    (snapshot(id=""), "cart key"),
    (snapshot(id="x" * 200), "cart key"),
    (snapshot(customer_id="admin"), "customer_id"),
    (snapshot(customer_id=-3), "customer_id"),
    (snapshot(total="lots"), "total"),
    (snapshot(total=45.5), "decimal string"),
    (snapshot(items={"a": 1}), "items must be a list"),
    (snapshot(items=[{"quantity": "two", "price": "1"}]), "quantity"),
    (snapshot(items=[{"quantity": 1, "price": "-1"}]), "item price"),
    (snapshot(status="deleted"), "status"),
    (snapshot(email="not-an-email"), "email"),
    (snapshot(currency="dollars"), "currency"),
    (snapshot(recovery_url="javascript:alert(1)"), "recovery_url"),
    (snapshot(date_modified_gmt="yesterday"), "date_modified_gmt"),
])
def test_malformed_snapshots_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(PayloadError, match=reason):
        cart_snapshot(payload)


def test_delivery_key_names_store_cart_and_modification_time():
    # a redelivery of the same body is the same key; a newer snapshot or another store is not
    key = delivery_key(7, snapshot())
    assert key == "7:sticky_cart:c_8f2a61d0b7e94c3a:2026-03-01T12:05:00"
    assert delivery_key(7, snapshot()) == key
    assert delivery_key(7, snapshot(date_modified_gmt="2026-03-01T12:06:00")) != key
    assert delivery_key(8, snapshot()) != key


def test_delivery_key_fits_the_inbox_column_and_needs_a_modification_time():
    long_key = delivery_key(7, snapshot(id="k" * 110))
    assert len(long_key) <= 128
    assert long_key != delivery_key(7, snapshot(id="k" * 111))
    with pytest.raises(PayloadError, match="date_modified_gmt"):
        delivery_key(7, snapshot(date_modified_gmt=None))
