"""WooCommerce REST/webhook payloads → neutral records.

Shapes follow WooCommerce's REST API v3 documentation (tests/fixtures/woocommerce). A webhook
body for an order or customer is exactly the REST resource; a `*.deleted` body is only `{"id"}`.

Rules worth knowing:
- Money is read from the payload's decimal strings (never the float `price` of a line).
- Times come from the `*_gmt` fields, which are naive UTC.
- Guests (`customer_id: 0`) are identified by their billing email; the profile store claims or
  merges that profile when the same email registers.
- Status → neutral: `processing`/`completed` are paid (completed is also fulfilled);
  `refunded` refunded; `cancelled` sets `cancelled_at` (Woo records no cancel time, so the last
  modification is used); `failed` is voided (payment failed; nothing was bought); `on-hold` is
  `authorized` when the gateway left a transaction id (an authorisation awaiting capture),
  otherwise `pending` (bank transfer or cheque awaiting the money): either way the shopper
  placed the order, so it counts like Shopify's pending orders. `trash` (an order moved to the
  bin: `order.deleted`) is voided with `cancelled_at`, so it drops out of every figure.
- `pending` (awaiting payment: the shopper left at the payment step) and `checkout-draft`
  (the block checkout's in-progress order) are not orders: they become an open checkout
  `CartRecord` with token `wc-order:<id>`; every order carries that token as `checkout_token`,
  so the checkout converts when the order is paid (WOO_CART_CONTRACT).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.fields import address_fingerprint, count, describe, ident, obj, objects, text
from connectors.records import (
    CartRecord,
    CustomerDeleted,
    CustomerRecord,
    LineRecord,
    OrderRecord,
    PayloadError,
    Record,
    RefundRecord,
)
from connectors.woocommerce.carts import CART_KEY_META, cart_snapshot, cart_token
from connectors.woocommerce.dates import parse_gmt

ZERO = Decimal("0")
# No real amount comes near 10^15 in any currency; larger ones are refused, not stored.
AMOUNT_DIGITS = 15
CHECKOUT_TOKEN_PREFIX = "wc-order:"  # noqa: S105 - a token prefix, not a secret
CART_STATUSES = frozenset({"pending", "checkout-draft"})
ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
CUSTOMER_TOPICS = frozenset({"customer.created", "customer.updated"})
_PAID = {"processing": "paid", "completed": "paid", "refunded": "refunded"}


def money(value: Any, name: str = "amount") -> Decimal:
    if value in (None, ""):
        return ZERO
    if isinstance(value, bool | float) or not isinstance(value, int | str):
        raise PayloadError(f"{name} must be a decimal string, got {describe(value)}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise PayloadError(f"{name} is not a decimal amount: {str(value)[:40]!r}") from exc
    if not amount.is_finite() or (amount and amount.adjusted() >= AMOUNT_DIGITS):
        raise PayloadError(f"{name} is out of range: {str(value)[:40]!r}")
    return amount


def _id(value: Any) -> str | None:
    """A WooCommerce id as a string; 0 / empty means "none" (e.g. a guest's customer_id)."""
    if value in (None, "", 0, "0") or isinstance(value, bool):
        return None
    if not isinstance(value, int | str):
        raise PayloadError(f"a WooCommerce id must be a whole number, got {describe(value)}")
    digits = str(value).strip()
    if not digits.isdigit():
        raise PayloadError(f"not a WooCommerce id: {digits[:40]!r}")
    return digits


def _require_id(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise PayloadError("payload must be a JSON object")
    value = _id(payload.get("id"))
    if value is None:
        raise PayloadError("payload has no 'id'")
    return value


def _country(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 2 else None


def customer(payload: dict[str, Any]) -> CustomerRecord:
    """A `customers` resource. Woo leaves date_modified null until the first edit."""
    customer_id = _require_id(payload)
    billing = obj(payload.get("billing"), "billing")
    created = parse_gmt(payload.get("date_created_gmt"), "date_created_gmt")
    return CustomerRecord(
        platform_id=customer_id,
        email=text(payload.get("email"), "email") or text(billing.get("email"), "billing.email"),
        first_name=text(payload.get("first_name"), "first_name")
        or text(billing.get("first_name"), "billing.first_name"),
        last_name=text(payload.get("last_name"), "last_name")
        or text(billing.get("last_name"), "billing.last_name"),
        phone=text(billing.get("phone"), "billing.phone"),
        city=text(billing.get("city"), "billing.city"),
        country_code=_country(billing.get("country")),
        created_at=created,
        updated_at=parse_gmt(payload.get("date_modified_gmt"), "date_modified_gmt") or created,
    )


def _buyer(payload: dict[str, Any]) -> CustomerRecord:
    """Who placed an order: a registered customer's id, else a guest keyed on billing email.

    Undated on purpose: the profile store then only fills what the customer topics left empty.
    """
    billing = obj(payload.get("billing"), "billing")
    return CustomerRecord(
        platform_id=_id(payload.get("customer_id")),
        email=text(billing.get("email"), "billing.email"),
        first_name=text(billing.get("first_name"), "billing.first_name"),
        last_name=text(billing.get("last_name"), "billing.last_name"),
        phone=text(billing.get("phone"), "billing.phone"),
        city=text(billing.get("city"), "billing.city"),
        country_code=_country(billing.get("country")),
    )


def _meta(payload: dict[str, Any], key: str) -> Any:
    meta_data = payload.get("meta_data") or []
    if not isinstance(meta_data, list):
        raise PayloadError(f"meta_data must be a list, got {describe(meta_data)}")
    for item in meta_data:
        if isinstance(item, dict) and item.get("key") == key:
            return item.get("value")
    return None


def _plugin_cart_token(payload: dict[str, Any]) -> str | None:
    key = _meta(payload, CART_KEY_META)
    return cart_token(str(key)) if isinstance(key, str | int) and str(key).strip() else None


def checkout_token(order_id: str) -> str:
    return CHECKOUT_TOKEN_PREFIX + order_id


def _line(item: dict[str, Any], at: str) -> LineRecord:
    quantity = count(item.get("quantity"), "quantity", at)
    subtotal = money(item.get("subtotal"), "line subtotal")
    total = money(item.get("total"), "line total")
    unit = (subtotal / quantity).quantize(Decimal("0.0001")) if quantity else subtotal
    return LineRecord(
        platform_id=_id(item.get("id")),
        title=text(item.get("name"), "name", at),
        quantity=quantity,
        price=unit,
        total_discount=max(ZERO, subtotal - total),
        product_id=_id(item.get("product_id")),
        variant_id=_id(item.get("variation_id")),
        sku=text(item.get("sku"), "sku", at),
    )


def _financial_status(status: str, payload: dict[str, Any]) -> str:
    if status in _PAID:
        if status != "refunded" and payload.get("refunds"):
            return "partially_refunded"
        return _PAID[status]
    if status in ("failed", "trash"):
        return "voided"
    if status == "cancelled":
        return "paid" if payload.get("date_paid_gmt") else "voided"
    if status == "on-hold":
        return "authorized" if payload.get("transaction_id") else "pending"
    # A status added by a plugin (e.g. "shipped"): trust the payment date.
    return "paid" if payload.get("date_paid_gmt") else "pending"


def order_refund(item: dict[str, Any], order_id: str, when: datetime) -> RefundRecord:
    """An entry of an order's `refunds` array: {id, reason, total: "-10.00"} (no date)."""
    return RefundRecord(
        platform_id=_require_id(item),
        order_platform_id=order_id,
        amount=abs(money(item.get("total"), "refund total")),
        refunded_at=when,
        # Older WooCommerce versions name the reason "refund".
        note=item.get("reason") or item.get("refund") or None,
    )


def refund(payload: dict[str, Any], order_id: str | int) -> RefundRecord:
    """A resource of `/orders/<id>/refunds` (dated, positive `amount`)."""
    return RefundRecord(
        platform_id=_require_id(payload),
        order_platform_id=str(order_id),
        amount=abs(money(payload.get("amount"), "refund amount")),
        refunded_at=parse_gmt(payload.get("date_created_gmt"), "date_created_gmt")
        or datetime.now(UTC),
        note=payload.get("reason") or None,
    )


def _cart_lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The same keys as the plugin's cart snapshot lines, so carts render alike.
    return [
        {
            "title": text(item.get("name"), "name", at),
            "variant_title": None,
            "quantity": count(item.get("quantity"), "quantity", at),
            "price": str(_line(item, at).price),
            "line_total": str(money(item.get("total"), "line total")),
            "product_id": _id(item.get("product_id")),
            "variant_id": _id(item.get("variation_id")),
            "sku": text(item.get("sku"), "sku", at),
        }
        for n, item in enumerate(items)
        for at in (f"line_items[{n}].",)
    ]


def order_records(payload: Any) -> list[Record]:
    """An `orders` resource → `[OrderRecord]`, or `[CartRecord]` while it is only a checkout."""
    order_id = _require_id(payload)
    status = (text(payload.get("status"), "status") or "").strip().lower()
    if not status:
        raise PayloadError(f"order {order_id} has no status")
    created = parse_gmt(payload.get("date_created_gmt"), "date_created_gmt")
    modified = parse_gmt(payload.get("date_modified_gmt"), "date_modified_gmt") or created
    currency = payload.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise PayloadError(f"order {order_id} has no ISO currency")
    buyer = _buyer(payload)
    lines = objects(payload.get("line_items"), "line_items")
    if status in CART_STATUSES:
        return [CartRecord(
            kind="checkout",
            token=checkout_token(order_id),
            cart_token=_plugin_cart_token(payload),
            email=buyer.email,
            customer=buyer if buyer.platform_id else None,
            currency=currency.upper(),
            total_price=money(payload.get("total"), "total"),
            line_items=_cart_lines(lines),
            recovery_url=text(payload.get("payment_url"), "payment_url"),
            created_at=created,
            updated_at=modified,
        )]
    if created is None:
        raise PayloadError(f"order {order_id} has no date_created_gmt")
    cancelled_at = modified if status in ("cancelled", "trash") else None
    line_records = [_line(item, f"line_items[{n}].") for n, item in enumerate(lines)]
    refund_time = modified or created
    return [OrderRecord(
        platform_id=order_id,
        name="#" + (ident(payload.get("number"), "number") or order_id),
        placed_at=created,
        updated_at=modified,
        currency=currency.upper(),
        total_price=money(payload.get("total"), "total"),
        customer=buyer if (buyer.platform_id or buyer.email) else None,
        email=buyer.email,
        subtotal=sum((money(i.get("subtotal"), "line subtotal") for i in lines), ZERO),
        total_tax=money(payload.get("total_tax"), "total_tax"),
        total_discounts=money(payload.get("discount_total"), "discount_total"),
        total_shipping=money(payload.get("shipping_total"), "shipping_total"),
        financial_status=_financial_status(status, payload),
        fulfillment_status="fulfilled" if status == "completed" else None,
        cancelled_at=cancelled_at,
        closed_at=parse_gmt(payload.get("date_completed_gmt"), "date_completed_gmt"),
        discount_codes=[code for n, c in enumerate(objects(payload.get("coupon_lines"),
                                                           "coupon_lines"))
                        if (code := text(c.get("code"), f"coupon_lines[{n}].code"))],
        source_name=text(payload.get("created_via"), "created_via"),
        checkout_token=checkout_token(order_id),
        cart_token=_plugin_cart_token(payload),
        lines=line_records,
        refunds=[order_refund(r, order_id, refund_time)
                 for r in objects(payload.get("refunds"), "refunds")],
        shipping_address_hash=_address_hash(payload.get("shipping")),
        billing_address_hash=_address_hash(payload.get("billing")),
    )]


def _address_hash(address: Any) -> str | None:
    return address_fingerprint(address, street=("address_1", "address_2"), postcode="postcode",
                               country="country")


def normalize(topic: str, payload: Any) -> list[Record]:
    """One webhook delivery (topic = `X-WC-Webhook-Topic`) → neutral records.

    `order.deleted` yields nothing here: its body is only the id, so the order is re-read from
    the store by `jobs.woocommerce.refresh_orders` (the receiver enqueues it). Topics Sticky
    does not use are acknowledged and change nothing.
    """
    if topic in ORDER_TOPICS:
        return order_records(payload)
    if topic in CUSTOMER_TOPICS:
        return [customer(payload)]
    if topic == "customer.deleted":
        return [CustomerDeleted(platform_id=_require_id(payload))]
    if topic == "sticky_cart.updated":
        return cart_snapshot(payload)
    return []
