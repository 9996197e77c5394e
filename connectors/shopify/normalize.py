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

from connectors.fields import (
    address_fingerprint,
    count,
    describe,
    ident,
    iso_time,
    obj,
    objects,
    text,
)
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
# No real amount comes near 10^15 in any currency; larger ones are refused, not stored.
AMOUNT_DIGITS = 15

# Shopify's email-marketing consent states → the API contract's three values.
_CONSENT = {
    "subscribed": "subscribed",
    "pending": "not_subscribed",  # double opt-in not yet confirmed
    "not_subscribed": "not_subscribed",
    "unsubscribed": "unsubscribed",
    "redacted": "unsubscribed",
    "invalid": "unsubscribed",
}


def parse_time(value: Any, name: str = "a time", at: str = "") -> datetime | None:
    return iso_time(value, name, at) if value else None


def decimal(value: Any, name: str = "an amount", at: str = "") -> Decimal:
    """A finite amount below 10^15 from a decimal string or a JSON number; "" and null are 0.

    `at + name` names the field in an error (joined only then)."""
    if value.__class__ is not str:
        if value is None:
            return ZERO
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PayloadError(f"{at}{name} must be a decimal string or a number, "
                               f"got {describe(value)}")
        value = str(value)
    if not value:
        return ZERO
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise PayloadError(f"{at}{name} is not a decimal amount: {value[:40]!r}") from exc
    if not amount.is_finite() or (amount and amount.adjusted() >= AMOUNT_DIGITS):
        raise PayloadError(f"{at}{name} is out of range: {value[:40]!r}")
    return amount


def shop_money(obj: dict[str, Any], key: str, fallback_key: str | None = None) -> Decimal:
    """`obj[key]["shop_money"]["amount"]`, else `obj[fallback_key]`."""
    if not isinstance(obj, dict):
        raise PayloadError(f"expected an object holding {key}, got {describe(obj)}")
    money_set = obj.get(key)
    if money_set is not None:
        if not isinstance(money_set, dict):
            raise PayloadError(f"{key} must be an object, got {describe(money_set)}")
        money = money_set.get("shop_money")
        if money is not None:
            if not isinstance(money, dict):
                raise PayloadError(f"{key}.shop_money must be an object, got {describe(money)}")
            return decimal(money.get("amount"), ".shop_money.amount", key)
    return decimal(obj.get(fallback_key), fallback_key) if fallback_key else ZERO


def platform_id(value: Any, name: str = "id", at: str = "") -> str | None:
    return ident(value, name, at)


def _require_id(payload: dict[str, Any], key: str = "id") -> str:
    value = platform_id(payload.get(key), key)
    if value is None:
        raise PayloadError(f"payload has no {key!r}")
    return value


def customer(payload: dict[str, Any], at: str = "") -> CustomerRecord:
    """A customer resource; `at` is where it sits in the payload ("customer." in an order)."""
    address = obj(payload.get("default_address"), "default_address", at)
    consent = obj(payload.get("email_marketing_consent"), "email_marketing_consent", at)
    state = _CONSENT.get((text(consent.get("state"), "email_marketing_consent.state", at)
                          or "").lower()) if consent else None
    return CustomerRecord(
        platform_id=platform_id(payload.get("id"), "id", at),
        email=text(payload.get("email"), "email", at),
        first_name=text(payload.get("first_name"), "first_name", at),
        last_name=text(payload.get("last_name"), "last_name", at),
        phone=text(payload.get("phone"), "phone", at)
        or text(address.get("phone"), "default_address.phone", at),
        city=text(address.get("city"), "default_address.city", at),
        country_code=text(address.get("country_code"), "default_address.country_code", at),
        tags=text(payload.get("tags"), "tags", at),
        account_state=text(payload.get("state"), "state", at),
        email_marketing=state,
        email_marketing_updated_at=parse_time(
            consent.get("consent_updated_at"), "email_marketing_consent.consent_updated_at", at)
        if consent else None,
        created_at=parse_time(payload.get("created_at"), "created_at", at),
        updated_at=parse_time(payload.get("updated_at"), "updated_at", at),
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


def _line(item: dict[str, Any], at: str) -> LineRecord:
    return LineRecord(
        platform_id=platform_id(item.get("id"), "id", at),
        title=text(item.get("title"), "title", at) or text(item.get("name"), "name", at),
        quantity=count(item.get("quantity"), "quantity", at),
        price=shop_money(item, "price_set", "price"),
        total_discount=shop_money(item, "total_discount_set", "total_discount"),
        product_id=platform_id(item.get("product_id"), "product_id", at),
        variant_id=platform_id(item.get("variant_id"), "variant_id", at),
        sku=text(item.get("sku"), "sku", at),
        variant_title=text(item.get("variant_title"), "variant_title", at),
    )


def order(payload: dict[str, Any]) -> OrderRecord:
    order_id = _require_id(payload)
    placed_at = parse_time(payload.get("processed_at") or payload.get("created_at"),
                           "processed_at")
    if placed_at is None:
        raise PayloadError("order has neither processed_at nor created_at")
    total_price_set = obj(payload.get("total_price_set"), "total_price_set")
    currency = (
        text(obj(total_price_set.get("shop_money"), "total_price_set.shop_money")
             .get("currency_code"), "total_price_set.shop_money.currency_code")
        or text(payload.get("currency"), "currency")
    )
    if not currency:
        raise PayloadError("order has no currency")
    embedded = obj(payload.get("customer"), "customer")
    return OrderRecord(
        platform_id=order_id,
        name=text(payload.get("name"), "name"),
        placed_at=placed_at,
        updated_at=parse_time(payload.get("updated_at"), "updated_at"),
        currency=currency,
        presentment_currency=text(payload.get("presentment_currency"), "presentment_currency"),
        email=text(payload.get("email"), "email") or text(payload.get("contact_email"),
                                                          "contact_email")
        or text(embedded.get("email"), "customer.email"),
        customer=customer(embedded, "customer.") if embedded.get("id") else None,
        subtotal=shop_money(payload, "subtotal_price_set", "subtotal_price"),
        total_price=shop_money(payload, "total_price_set", "total_price"),
        total_tax=shop_money(payload, "total_tax_set", "total_tax"),
        total_discounts=shop_money(payload, "total_discounts_set", "total_discounts"),
        total_shipping=shop_money(payload, "total_shipping_price_set"),
        financial_status=text(payload.get("financial_status"), "financial_status"),
        fulfillment_status=text(payload.get("fulfillment_status"), "fulfillment_status"),
        cancelled_at=parse_time(payload.get("cancelled_at"), "cancelled_at"),
        closed_at=parse_time(payload.get("closed_at"), "closed_at"),
        discount_codes=[code for n, d in enumerate(objects(payload.get("discount_codes"),
                                                           "discount_codes"))
                        if (code := text(d.get("code"), f"discount_codes[{n}].code"))],
        source_name=text(payload.get("source_name"), "source_name"),
        landing_site=text(payload.get("landing_site"), "landing_site"),
        checkout_token=text(payload.get("checkout_token"), "checkout_token"),
        cart_token=text(payload.get("cart_token"), "cart_token"),
        test=bool(payload.get("test")),
        lines=[_line(item, f"line_items[{n}].")
               for n, item in enumerate(objects(payload.get("line_items"), "line_items"))],
        refunds=[refund(r, order_id) for r in objects(payload.get("refunds"), "refunds")],
        shipping_address_hash=_address_hash(payload.get("shipping_address")),
        billing_address_hash=_address_hash(payload.get("billing_address")),
    )


def _address_hash(address: Any) -> str | None:
    return address_fingerprint(address, street=("address1", "address2"), postcode="zip",
                               country="country_code")


def _cart_lines(items: Any) -> list[dict[str, Any]]:
    return [
        {
            "title": text(item.get("title"), "title", at)
            or text(item.get("presentment_title"), "presentment_title", at),
            "variant_title": text(item.get("variant_title"), "variant_title", at),
            "quantity": count(item.get("quantity"), "quantity", at),
            "price": str(shop_money(item, "price_set", "price")),
            "product_id": platform_id(item.get("product_id"), "product_id", at),
            "variant_id": platform_id(item.get("variant_id"), "variant_id", at),
            "sku": text(item.get("sku"), "sku", at),
        }
        for n, item in enumerate(objects(items, "line_items"))
        for at in (f"line_items[{n}].",)
    ]


def checkout(payload: dict[str, Any]) -> CartRecord:
    token = platform_id(payload.get("token"), "token")
    if not token:
        raise PayloadError("checkout has no token")
    embedded = obj(payload.get("customer"), "customer")
    return CartRecord(
        kind="checkout",
        token=token,
        cart_token=text(payload.get("cart_token"), "cart_token"),
        email=text(payload.get("email"), "email") or text(embedded.get("email"),
                                                          "customer.email"),
        customer=customer(embedded, "customer.") if embedded.get("id") else None,
        currency=text(payload.get("currency"), "currency"),
        total_price=decimal(payload.get("total_price"), "total_price"),
        line_items=_cart_lines(payload.get("line_items")),
        recovery_url=text(payload.get("abandoned_checkout_url"), "abandoned_checkout_url"),
        created_at=parse_time(payload.get("created_at"), "created_at"),
        updated_at=parse_time(payload.get("updated_at"), "updated_at"),
        completed_at=parse_time(payload.get("completed_at"), "completed_at"),
    )


def cart(payload: dict[str, Any]) -> CartRecord:
    token = platform_id(payload.get("token"), "token") or platform_id(payload.get("id"))
    if not token:
        raise PayloadError("cart has no token")
    lines = objects(payload.get("line_items"), "line_items")
    total = sum((shop_money(item, "line_price_set", "line_price") for item in lines), ZERO)
    return CartRecord(
        kind="cart",
        token=token,
        cart_token=token,
        total_price=total,
        line_items=_cart_lines(lines),
        created_at=parse_time(payload.get("created_at"), "created_at"),
        updated_at=parse_time(payload.get("updated_at"), "updated_at"),
    )


def marketing_consent(payload: dict[str, Any]) -> MarketingConsentRecord:
    consent = obj(payload.get("email_marketing_consent"), "email_marketing_consent")
    given = text(consent.get("state"), "email_marketing_consent.state")
    state = _CONSENT.get((given or "").lower())
    if state is None:
        raise PayloadError(f"unknown email marketing state: {(given or '')[:40]!r}")
    return MarketingConsentRecord(
        customer_platform_id=platform_id(payload.get("customer_id"), "customer_id"),
        email=text(payload.get("email_address"), "email_address"),
        email_marketing=state,
        updated_at=parse_time(consent.get("consent_updated_at"),
                              "email_marketing_consent.consent_updated_at"),
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
