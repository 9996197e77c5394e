"""Cart snapshots from Sticky's companion WordPress plugin → neutral cart records.

WooCommerce has no cart webhook. The plugin (`plugin/sticky-for-woocommerce/`) snapshots the
shopper's cart and delivers it as a custom webhook topic; this module is the Python half of
that contract (see the plugin's readme and the connector README). The names below are also
declared in the plugin's PHP; `tests/test_woo_plugin.py` checks the two sides agree.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from connectors.records import CartRecord, CustomerRecord, PayloadError, Record
from connectors.woocommerce.dates import parse_gmt

# The custom webhook topic the plugin registers (resource "sticky_cart", event "updated").
TOPIC = "sticky_cart.updated"
RESOURCE = "sticky_cart"
EVENT = "updated"
# Order meta the plugin writes at checkout; the order normalizer turns it into a cart_token.
CART_KEY_META = "_sticky_cart_key"
# Prefix of every plugin cart's token in the profile store, so it never collides with the
# checkout-draft fallback ("wc-order:<id>") or another platform's tokens.
TOKEN_PREFIX = "wc-cart:"  # noqa: S105 - a cart token namespace, not a secret

STATUS_OPEN = "open"
STATUS_EMPTIED = "emptied"
_STATUSES = (STATUS_OPEN, STATUS_EMPTIED)
# Longest cart key accepted: the token column is 128 characters including the prefix.
_MAX_KEY_LENGTH = 128 - len(TOKEN_PREFIX)
_DELIVERY_KEY_LENGTH = 128  # the inbox's delivery_key column


def cart_token(cart_key: str) -> str:
    """The profile store's token for a plugin cart key (also the order's `cart_token`)."""
    return TOKEN_PREFIX + cart_key


def cart_snapshot(payload: Any) -> list[Record]:
    """One `sticky_cart.updated` body → `[CartRecord]`; PayloadError when it is malformed.

    The email is kept only when the shopper consented to its capture (`email_consent`) or is
    a signed-in customer (`customer_id` != 0), whose address the store already holds. An
    emptied cart becomes the same cart with no lines and a zero total, so a later abandoned
    check has nothing to recover and a stale snapshot cannot resurrect the old contents.
    """
    if not isinstance(payload, dict):
        raise PayloadError("cart snapshot must be a JSON object")
    key = _cart_key(payload)
    customer_id = _customer_id(payload.get("customer_id"))
    consent = payload.get("email_consent") is True
    status = payload.get("status") or STATUS_OPEN
    if status not in _STATUSES:
        raise PayloadError(f"cart status must be one of {_STATUSES}, not {status!r}")

    email = _email(payload.get("email")) if (consent or customer_id) else None
    if status == STATUS_EMPTIED:
        lines: list[dict[str, Any]] = []
        total = Decimal("0")
    else:
        lines = _lines(payload.get("items"))
        total = _decimal(payload.get("total"), "total")
    token = cart_token(key)
    return [
        CartRecord(
            kind="cart",
            token=token,
            cart_token=token,
            email=email,
            customer=(CustomerRecord(platform_id=str(customer_id), email=email)
                      if customer_id else None),
            currency=_currency(payload.get("currency")),
            total_price=total,
            line_items=lines,
            recovery_url=_recovery_url(payload.get("recovery_url")),
            created_at=parse_gmt(payload.get("date_created_gmt"), "date_created_gmt"),
            updated_at=parse_gmt(payload.get("date_modified_gmt"), "date_modified_gmt"),
        )
    ]


def delivery_key(store_id: int | str, payload: Any) -> str:
    """The inbox dedup key of one snapshot delivery: store, cart key and modification time.

    A redelivery of the same snapshot gets the same key; a newer snapshot of the same cart a
    new one (the plugin keeps `date_modified_gmt` strictly increasing per cart). Keys longer
    than the inbox column are replaced by their SHA-256, which keeps them unique.
    """
    if not isinstance(payload, dict):
        raise PayloadError("cart snapshot must be a JSON object")
    modified = payload.get("date_modified_gmt")
    if not isinstance(modified, str) or not modified:
        raise PayloadError("cart snapshot has no date_modified_gmt")
    key = f"{store_id}:{RESOURCE}:{_cart_key(payload)}:{modified}"
    if len(key) > _DELIVERY_KEY_LENGTH:
        key = f"{RESOURCE}:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


# -- field parsers: each raises PayloadError naming the field --------------------------


def _cart_key(payload: dict[str, Any]) -> str:
    key = payload.get("id")
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise PayloadError("cart snapshot has no 'id' (the plugin's cart key)")
    key = str(key).strip()
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isprintable():
        raise PayloadError(f"cart key must be 1-{_MAX_KEY_LENGTH} printable characters")
    return key


def _whole_number(value: Any, what: str) -> int:
    """A non-negative integer, given as a number or a digit string."""
    if isinstance(value, bool):
        raise PayloadError(f"{what} must be a whole number")
    try:
        number = int(str(value))
    except ValueError as exc:
        raise PayloadError(f"{what} must be a whole number, not {value!r}") from exc
    if number < 0:
        raise PayloadError(f"{what} must not be negative: {number}")
    return number


def _customer_id(value: Any) -> int:
    """The WordPress user id; 0 (or nothing) for a guest."""
    return 0 if value in (None, "") else _whole_number(value, "customer_id")


def _email(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError("email must be a string or null")
    email = value.strip()
    local, _, domain = email.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise PayloadError(f"not an email address: {value!r}")
    return email


def _currency(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise PayloadError(f"currency must be an ISO 4217 code, not {value!r}")
    return value.upper()


def _decimal(value: Any, name: str) -> Decimal:
    if value in (None, ""):
        return Decimal("0")
    if isinstance(value, bool | float):
        # Money travels as decimal strings; a float has already lost cents somewhere.
        raise PayloadError(f"{name} must be a decimal string, not {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise PayloadError(f"{name} is not a decimal amount: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise PayloadError(f"{name} must be a non-negative amount: {value!r}")
    return amount


def _product_id(value: Any) -> str | None:
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        raise PayloadError(f"product ids must be whole numbers, not {value!r}")
    return str(value)


def _lines(items: Any) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise PayloadError("items must be a list")
    lines = []
    for item in items:
        if not isinstance(item, dict):
            raise PayloadError("each cart item must be an object")
        # Same keys as the Shopify connector's cart lines, so the panel and flows render
        # either platform's carts alike.
        lines.append({
            "title": item.get("name") or None,
            "variant_title": None,
            "quantity": _whole_number(item.get("quantity"), "item quantity"),
            "price": str(_decimal(item.get("price"), "item price")),
            "line_total": str(_decimal(item.get("line_total"), "item line_total")),
            "product_id": _product_id(item.get("product_id")),
            "variant_id": _product_id(item.get("variation_id")),
            "sku": item.get("sku") or None,
        })
    return lines


def _recovery_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError("recovery_url must be a string")
    parts = urlsplit(value)
    # It ends up as a link in an email: only web URLs, never javascript: or data:.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PayloadError(f"recovery_url must be an http(s) URL, not {value!r}")
    return value


