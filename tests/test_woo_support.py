"""Helpers for the WooCommerce tests (no tests here): payloads from WooCommerce's REST API
documentation examples (built in `benchmarks/payloads/woocommerce.py`, which the benchmarks
share), a connected store, and signed deliveries."""

from __future__ import annotations

import json
import re
from typing import Any

from app.crypto import encrypt
from app.db import db
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook
from benchmarks.payloads.woocommerce import (  # noqa: F401 - re-exported for the tests
    BASE,
    customer,
    gmt,
    next_id,
    order,
    wc_sign,
    woo_fixture,
)
from connectors.woocommerce.webhooks import TOPICS

STORE = "https://store.example"
API = STORE + "/wp-json/wc/v3"
CK = "ck_2b3b0ae2a9e0a35cd6e2b9f3b1a1f0e5a5c2d901"
CS = "cs_7f52b0d2c3a4e5f60718293a4b5c6d7e8f901234"


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


def post_woo(client, shop_id: int, topic: str, payload: Any, *, secret: str | None = None,
             webhook_id: str | None = None, delivery_id: str = "d41d8cd98f00b204",
             body: bytes | None = None, headers: dict[str, str] | None = None):
    """Deliver like WooCommerce, signed with the secret of `topic`'s webhook. `headers`
    overrides any header sent, after signing: the signature covers the body only."""
    raw = body if body is not None else json.dumps(payload).encode()
    hook_id, hook_secret = secret_for(topic)
    resource, _, event = topic.partition(".")
    sent = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.8.0 Hookshot (WordPress/6.8)",
        "X-WC-Webhook-Source": STORE + "/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": wc_sign(raw, secret or hook_secret),
        "X-WC-Webhook-ID": webhook_id or hook_id,
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }
    sent.update(headers or {})
    return client.post(f"/webhooks/woocommerce/{shop_id}", data=raw, headers=sent)


def commit_and_close() -> None:
    db.session.commit()
    db.session.close()
