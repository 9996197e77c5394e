"""Shopify webhook payloads → neutral records.

Shapes follow Shopify's published webhook samples (see tests/fixtures/shopify). Money comes
from the `*_set.shop_money` amounts, so multi-currency orders are recorded in the shop's
currency; the plain string fields are only a fallback for payloads that lack the sets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.records import (
    CartRecord,
    CustomerDeleted,
    CustomerRecord,
    LineRecord,
    MarketingConsentRecord,
    OrderRecord,
    PayloadError,
    Record,
    RefundRecord,
)

ZERO = Decimal("0")

# Shopify's email-marketing consent states → the API contract's three values.
_CONSENT = {
    "subscribed": "subscribed",
    "pending": "not_subscribed",  # double opt-in not yet confirmed
    "not_subscribed": "not_subscribed",
    "unsubscribed": "unsubscribed",
    "redacted": "unsubscribed",
    "invalid": "unsubscribed",
}


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise PayloadError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def decimal(value: Any) -> Decimal:
    if value in (None, ""):
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise PayloadError(f"not a decimal amount: {value!r}") from exc


def shop_money(obj: dict[str, Any], key: str, fallback_key: str | None = None) -> Decimal:
    """`obj[key]["shop_money"]["amount"]`, else `obj[fallback_key]`."""
    money_set = obj.get(key)
    if isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict):
        return decimal(money_set["shop_money"].get("amount"))
    return decimal(obj.get(fallback_key)) if fallback_key else ZERO


def platform_id(value: Any) -> str | None:
    if value in (None, "", 0):
        return None
    return str(value)


def _require_id(payload: dict[str, Any], key: str = "id") -> str:
    value = platform_id(payload.get(key))
    if value is None:
        raise PayloadError(f"payload has no {key!r}")
    return value


def customer(payload: dict[str, Any]) -> CustomerRecord:
    address = payload.get("default_address") or {}
    consent = payload.get("email_marketing_consent") or {}
    state = _CONSENT.get(str(consent.get("state") or "").lower()) if consent else None
    return CustomerRecord(
        platform_id=platform_id(payload.get("id")),
        email=payload.get("email"),
        first_name=payload.get("first_name"),
        last_name=payload.get("last_name"),
        phone=payload.get("phone") or address.get("phone"),
        city=address.get("city"),
        country_code=address.get("country_code"),
        tags=payload.get("tags"),
        account_state=payload.get("state"),
        email_marketing=state,
        email_marketing_updated_at=parse_time(consent.get("consent_updated_at")) if consent
        else None,
        created_at=parse_time(payload.get("created_at")),
        updated_at=parse_time(payload.get("updated_at")),
    )


def refund(payload: dict[str, Any], order_id: str | None = None) -> RefundRecord:
    """A refund (a `refunds/create` body, or an entry of an order's `refunds`) in shop money.

    Its amount is what its successful refund transactions returned to the shopper. The refund
    lines only say what was calculated as refundable: Shopify's published refunds/create sample
    lists 414.95 of lines against 75.00 + 10.00 actually refunded. The lines are read only when
    the payload carries no `transactions` at all; an empty list means nothing was returned (a
    restock-only refund).
    """
    transactions = payload.get("transactions")
    if transactions is None:
        amount = _calculated_refund(payload, "shop_money")
    elif isinstance(transactions, list):
        amount = _returned(payload, transactions)
    else:
        raise PayloadError("refund transactions is not a list")
    return RefundRecord(
        platform_id=_require_id(payload),
        order_platform_id=order_id or _require_id(payload, "order_id"),
        amount=amount,
        refunded_at=parse_time(payload.get("processed_at") or payload.get("created_at"))
        or datetime.now(UTC),
        note=payload.get("note"),
    )


def _calculated_refund(payload: dict[str, Any], money: str) -> Decimal:
    """Lines (subtotal + tax), refunded shipping and duties, minus order adjustments, in
    `money` ("shop_money" or "presentment_money").

    Shopify writes an adjustment as negative when it hands money back (a shipping refund of
    8.00 is `-8.00`) and positive when less was refunded than calculated. The plain string
    fields stand in for shop money only.
    """
    plain = money == "shop_money"

    def amount_of(obj: Any, key: str, fallback_key: str | None = None) -> Decimal:
        if not isinstance(obj, dict):
            raise PayloadError("refund line is not an object")
        money_set = obj.get(key)
        if isinstance(money_set, dict) and isinstance(money_set.get(money), dict):
            return decimal(money_set[money].get("amount"))
        return decimal(obj.get(fallback_key)) if plain and fallback_key else ZERO

    amount = ZERO
    for line in payload.get("refund_line_items") or []:
        amount += amount_of(line, "subtotal_set", "subtotal")
        amount += amount_of(line, "total_tax_set", "total_tax")
    for line in payload.get("refund_shipping_lines") or []:
        amount += amount_of(line, "subtotal_amount_set")
        amount += amount_of(line, "tax_amount_set")
    amount += amount_of(payload, "total_duties_set")
    for adjustment in payload.get("order_adjustments") or []:
        amount -= amount_of(adjustment, "amount_set", "amount")
        amount -= amount_of(adjustment, "tax_amount_set", "tax_amount")
    return amount


def _returned(payload: dict[str, Any], transactions: list[Any]) -> Decimal:
    """The sum of the successful `refund` transactions, in shop money.

    A REST transaction's `amount` is in its own `currency`: the presentment currency of a
    multi-currency order. Such an amount is converted at the rate the refund's own money sets
    imply (shop ÷ presentment); when they imply none, the calculated refund in shop money is
    the best figure there is.
    """
    returned = ZERO
    currencies: set[str] = set()
    for transaction in transactions:
        if not isinstance(transaction, dict):
            raise PayloadError("refund transaction is not an object")
        if (str(transaction.get("kind") or "").lower() != "refund"
                or str(transaction.get("status") or "").lower() != "success"):
            continue  # a failed or pending attempt returned nothing (yet)
        amount = decimal(transaction.get("amount"))
        if amount < 0:
            raise PayloadError(f"refund transaction amount is negative: {amount}")
        returned += amount
        if transaction.get("currency"):
            currencies.add(str(transaction["currency"]).upper())
    shop_currency = _currency_of(payload, "shop_money")
    if not currencies or shop_currency is None or currencies == {shop_currency}:
        return returned
    shop = _calculated_refund(payload, "shop_money")
    presentment = _calculated_refund(payload, "presentment_money")
    if currencies != {_currency_of(payload, "presentment_money")} or not presentment or not shop:
        return max(shop, ZERO)
    return (returned * shop / presentment).quantize(Decimal("0.01"))


def _currency_of(payload: dict[str, Any], money: str) -> str | None:
    """The currency code of the refund's `money` amounts (shop or presentment)."""
    candidates = []
    for key, set_key in (("refund_line_items", "subtotal_set"),
                         ("refund_shipping_lines", "subtotal_amount_set"),
                         ("order_adjustments", "amount_set")):
        candidates += [item.get(set_key) for item in payload.get(key) or []
                       if isinstance(item, dict)]
    candidates.append(payload.get("total_duties_set"))
    for money_set in candidates:
        if isinstance(money_set, dict) and isinstance(money_set.get(money), dict):
            code = money_set[money].get("currency_code")
            if code:
                return str(code).upper()
    return None


def _line(item: dict[str, Any]) -> LineRecord:
    return LineRecord(
        platform_id=platform_id(item.get("id")),
        title=item.get("title") or item.get("name"),
        quantity=int(item.get("quantity") or 0),
        price=shop_money(item, "price_set", "price"),
        total_discount=shop_money(item, "total_discount_set", "total_discount"),
        product_id=platform_id(item.get("product_id")),
        variant_id=platform_id(item.get("variant_id")),
        sku=item.get("sku") or None,
        variant_title=item.get("variant_title"),
    )


def order(payload: dict[str, Any]) -> OrderRecord:
    order_id = _require_id(payload)
    placed_at = parse_time(payload.get("processed_at") or payload.get("created_at"))
    if placed_at is None:
        raise PayloadError("order has neither processed_at nor created_at")
    total_price_set = payload.get("total_price_set") or {}
    currency = (
        (total_price_set.get("shop_money") or {}).get("currency_code")
        or payload.get("currency")
    )
    if not currency:
        raise PayloadError("order has no currency")
    embedded = payload.get("customer")
    return OrderRecord(
        platform_id=order_id,
        name=payload.get("name"),
        placed_at=placed_at,
        updated_at=parse_time(payload.get("updated_at")),
        currency=currency,
        presentment_currency=payload.get("presentment_currency"),
        email=payload.get("email") or payload.get("contact_email") or (embedded or {}).get("email"),
        customer=customer(embedded) if isinstance(embedded, dict) and embedded.get("id") else None,
        subtotal=shop_money(payload, "subtotal_price_set", "subtotal_price"),
        total_price=shop_money(payload, "total_price_set", "total_price"),
        total_tax=shop_money(payload, "total_tax_set", "total_tax"),
        total_discounts=shop_money(payload, "total_discounts_set", "total_discounts"),
        total_shipping=shop_money(payload, "total_shipping_price_set"),
        financial_status=payload.get("financial_status"),
        fulfillment_status=payload.get("fulfillment_status"),
        cancelled_at=parse_time(payload.get("cancelled_at")),
        closed_at=parse_time(payload.get("closed_at")),
        discount_codes=[d["code"] for d in payload.get("discount_codes") or [] if d.get("code")],
        source_name=payload.get("source_name"),
        landing_site=payload.get("landing_site"),
        checkout_token=payload.get("checkout_token"),
        cart_token=payload.get("cart_token"),
        test=bool(payload.get("test")),
        lines=[_line(item) for item in payload.get("line_items") or []],
        refunds=[refund(r, order_id) for r in payload.get("refunds") or []],
    )


def _cart_lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "title": item.get("title") or item.get("presentment_title"),
            "variant_title": item.get("variant_title"),
            "quantity": int(item.get("quantity") or 0),
            "price": str(shop_money(item, "price_set", "price")),
            "product_id": platform_id(item.get("product_id")),
            "variant_id": platform_id(item.get("variant_id")),
            "sku": item.get("sku") or None,
        }
        for item in items
    ]


def checkout(payload: dict[str, Any]) -> CartRecord:
    token = payload.get("token")
    if not token:
        raise PayloadError("checkout has no token")
    embedded = payload.get("customer")
    return CartRecord(
        kind="checkout",
        token=str(token),
        cart_token=payload.get("cart_token"),
        email=payload.get("email") or (embedded or {}).get("email"),
        customer=customer(embedded) if isinstance(embedded, dict) and embedded.get("id") else None,
        currency=payload.get("currency"),
        total_price=decimal(payload.get("total_price")),
        line_items=_cart_lines(payload.get("line_items") or []),
        recovery_url=payload.get("abandoned_checkout_url"),
        created_at=parse_time(payload.get("created_at")),
        updated_at=parse_time(payload.get("updated_at")),
        completed_at=parse_time(payload.get("completed_at")),
    )


def cart(payload: dict[str, Any]) -> CartRecord:
    token = payload.get("token") or payload.get("id")
    if not token:
        raise PayloadError("cart has no token")
    lines = payload.get("line_items") or []
    total = sum((shop_money(item, "line_price_set", "line_price") for item in lines), ZERO)
    return CartRecord(
        kind="cart",
        token=str(token),
        cart_token=str(token),
        total_price=total,
        line_items=_cart_lines(lines),
        created_at=parse_time(payload.get("created_at")),
        updated_at=parse_time(payload.get("updated_at")),
    )


def marketing_consent(payload: dict[str, Any]) -> MarketingConsentRecord:
    consent = payload.get("email_marketing_consent") or {}
    state = _CONSENT.get(str(consent.get("state") or "").lower())
    if state is None:
        raise PayloadError(f"unknown email marketing state: {consent.get('state')!r}")
    return MarketingConsentRecord(
        customer_platform_id=platform_id(payload.get("customer_id")),
        email=payload.get("email_address"),
        email_marketing=state,
        updated_at=parse_time(consent.get("consent_updated_at")),
    )


def _one(fn: Callable[[dict[str, Any]], Record]) -> Callable[[dict[str, Any]], list[Record]]:
    return lambda payload: [fn(payload)]


# Topic → normalizer. A topic missing here is acknowledged and ignored.
TOPICS: dict[str, Callable[[dict[str, Any]], list[Record]]] = {
    "orders/create": _one(order),
    "orders/updated": _one(order),
    "orders/paid": _one(order),
    "orders/cancelled": _one(order),
    "orders/fulfilled": _one(order),
    "orders/edited": lambda payload: [],  # the orders/updated that follows carries the totals
    "refunds/create": _one(refund),
    "checkouts/create": _one(checkout),
    "checkouts/update": _one(checkout),
    "carts/create": _one(cart),
    "carts/update": _one(cart),
    "customers/create": _one(customer),
    "customers/update": _one(customer),
    "customers/delete": lambda payload: [CustomerDeleted(_require_id(payload))],
    "customers_email_marketing_consent/update": _one(marketing_consent),
}


def normalize(topic: str, payload: Any) -> list[Record]:
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    handler = TOPICS.get(topic)
    if handler is None:
        return []
    return handler(payload)
