"""WooCommerce webhook signatures and delivery identity.

`X-WC-Webhook-Signature` is base64(HMAC-SHA256(raw body, webhook secret)) (WC_Webhook::
generate_signature). Checked on the raw bytes, constant-time, against each candidate secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

import orjson

_PING = re.compile(rb"^webhook_id=\d+$")
_MAX_KEY = 128  # the inbox's delivery_key column


def compute_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, header: str | None, secrets: Iterable[str | None]) -> bool:
    """True when `header` is the signature of `body` under one of `secrets` (empty ones skipped)."""
    if not header:
        return False
    given = header.strip().encode()
    matched = False
    for secret in secrets:
        if secret and hmac.compare_digest(compute_signature(body, secret).encode(), given):
            matched = True
    return matched


def is_ping(body: bytes) -> bool:
    """WooCommerce's unsigned ping on webhook creation: a form body `webhook_id=<id>`."""
    return bool(_PING.match(body.strip()))


def delivery_key(store_id: int, topic: str, body: bytes, delivery_id: str | None) -> str:
    """The inbox dedup key for one delivery.

    `X-WC-Webhook-Delivery-ID` is not unique (it hashes the webhook id and the second), so a
    resource's delivery is identified by resource + id + `date_modified_gmt`: a redelivery of
    the same state collapses, a newer state is new. `*.deleted` bodies carry only the id.
    """
    payload: Any = None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    if topic == "sticky_cart.updated" and isinstance(payload, dict):
        from connectors.woocommerce.carts import delivery_key as cart_key

        try:
            return cart_key(store_id, payload)
        except ValueError:
            pass
    key = None
    # Only a number or a string names a resource: anything else (a list nested a thousand
    # levels deep, say) falls back to the body's hash and is left for the worker to refuse.
    resource_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(resource_id, int | str) and not isinstance(resource_id, bool) \
            and resource_id != "":
        resource = topic.split(".", 1)[0]
        modified = payload.get("date_modified_gmt")
        if topic.endswith(".deleted"):
            key = f"{topic}:{resource_id}:{(delivery_id or '').strip()}"
        elif isinstance(modified, str) and modified:
            key = f"{resource}:{resource_id}:{modified}"
    # A key the inbox column cannot hold (too long, or a NUL that PostgreSQL refuses in any
    # text) is replaced by the body's hash.
    if key is None or len(key) > _MAX_KEY or not key.isprintable():
        key = "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
    return key
