"""Helpers for the WooCommerce tests (no tests here): payloads from WooCommerce's REST API
documentation examples (tests/fixtures/woocommerce, see sources.json), a connected store, and
signed deliveries."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from app.crypto import encrypt
from app.db import db
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook
from connectors.woocommerce.webhooks import TOPICS
from tests.conftest import FIXTURES

STORE = "https://store.example"
API = STORE + "/wp-json/wc/v3"
CK = "ck_2b3b0ae2a9e0a35cd6e2b9f3b1a1f0e5a5c2d901"
CS = "cs_7f52b0d2c3a4e5f60718293a4b5c6d7e8f901234"
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1001)


def woo_fixture(name: str) -> Any:
    return copy.deepcopy(json.loads((FIXTURES / "woocommerce" / f"{name}.json").read_text()))


def gmt(minutes: float = 0) -> str:
    """A WooCommerce *_gmt time: naive ISO 8601, UTC."""
    return (BASE + timedelta(minutes=minutes)).replace(tzinfo=None).isoformat()


def next_id() -> int:
    return next(_ids)


def order(*, order_id: int | None = None, status: str = "processing", total: str = "29.35",
          customer_id: int = 0, email: str = "john.doe@example.com", modified: float = 0,
          created: float = 0, refunds: list[dict] | None = None,
          cart_key: str | None = None) -> dict[str, Any]:
    """The documented order (727), varied."""
    payload = woo_fixture("order")
    order_id = order_id or next_id()
    payload.update(id=order_id, number=str(order_id), status=status, total=total,
                   customer_id=customer_id, date_created_gmt=gmt(created),
                   date_modified_gmt=gmt(modified), refunds=refunds or [])
    payload["billing"]["email"] = email
    payload["date_paid_gmt"] = gmt(created) if status in ("processing", "completed") else None
    if cart_key:
        payload["meta_data"].append({"id": 99001, "key": "_sticky_cart_key", "value": cart_key})
    return payload


def customer(*, customer_id: int | None = None, email: str = "john.doe@example.com",
             modified: float = 0, first_name: str = "John") -> dict[str, Any]:
    """The documented customer (25), varied."""
    payload = woo_fixture("customer")
    payload.update(id=customer_id or next_id(), email=email, first_name=first_name,
                   date_created_gmt=gmt(modified), date_modified_gmt=gmt(modified))
    payload["billing"]["email"] = email
    return payload


def connect_store(session, *, url: str = STORE, secret_prefix: str = "whsec") -> Shop:
    """A connected, active Woo store with one Sticky webhook per topic (remote ids 500+)."""
    domain = re.sub(r"^https?://", "", url)
    shop = Shop(platform="woocommerce", domain=domain, name=domain, currency="USD",
                status="active", api_base_url=url, consumer_key_encrypted=encrypt(CK),
                consumer_secret_encrypted=encrypt(CS))
    session.add(shop)
    session.flush()
    for n, topic in enumerate(TOPICS):
        session.add(WooWebhook(shop_id=shop.id, topic=topic, remote_id=str(500 + n),
                               secret_encrypted=encrypt(f"{secret_prefix}{n}"),
                               status="active"))
    session.commit()
    return shop


def secret_for(topic: str, secret_prefix: str = "whsec") -> tuple[str, str]:
    """(remote webhook id, secret) that connect_store gave this topic."""
    n = TOPICS.index(topic)
    return str(500 + n), f"{secret_prefix}{n}"


def wc_sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_woo(client, shop_id: int, topic: str, payload: Any, *, secret: str | None = None,
             webhook_id: str | None = None, delivery_id: str = "d41d8cd98f00b204",
             body: bytes | None = None):
    raw = body if body is not None else json.dumps(payload).encode()
    hook_id, hook_secret = secret_for(topic)
    resource, _, event = topic.partition(".")
    return client.post(f"/webhooks/woocommerce/{shop_id}", data=raw, headers={
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.8.0 Hookshot (WordPress/6.8)",
        "X-WC-Webhook-Source": STORE + "/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": wc_sign(raw, secret or hook_secret),
        "X-WC-Webhook-ID": webhook_id or hook_id,
        "X-WC-Webhook-Delivery-ID": delivery_id,
    })


def commit_and_close() -> None:
    db.session.commit()
    db.session.close()
