"""WooCommerce webhook payloads: the REST API documentation's examples
(`tests/fixtures/woocommerce`, see sources.json there), varied, and their signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.payloads import sample

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1001)


def woo_fixture(name: str) -> Any:
    return sample("woocommerce", name)


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


def wc_sign(body: bytes, secret: str) -> str:
    """`X-WC-Webhook-Signature`: base64(HMAC-SHA256(body, webhook secret))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
