"""Shopify Admin GraphQL nodes → neutral records (connectors/records.py).

GraphQL shapes differ from the webhook (REST) payloads that connectors/shopify/normalize.py
reads: ids are global ids (`gid://shopify/Order/1`), money is `totalPriceSet.shopMoney`,
enums are upper case, tags are a list. This module maps them onto the SAME neutral values the
webhook path produces (numeric id strings, REST's lower-case statuses, comma-joined tags), so
a record read by backfill or reconciliation and one delivered by webhook compare equal.

The node shapes are the ones the queries below ask for (ORDER_FIELDS, CUSTOMER_FIELDS,
LINE_ITEM_FIELDS); bulk export (connectors/shopify/bulk.py) and paginated reads
(connectors/shopify/reconcile.py) share them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.fields import address_fingerprint
from connectors.records import CustomerRecord, LineRecord, OrderRecord, PayloadError, RefundRecord
from connectors.shopify.admin import gid_tail
from connectors.shopify.normalize import _CONSENT, decimal, parse_time

ZERO = Decimal("0")

MONEY = "shopMoney { amount currencyCode }"
ADDRESS = "address1 address2 city zip countryCodeV2"

CUSTOMER_FIELDS = """
    id
    firstName
    lastName
    state
    tags
    createdAt
    updatedAt
    defaultEmailAddress { emailAddress marketingState marketingUpdatedAt }
    defaultPhoneNumber { phoneNumber }
    defaultAddress { city countryCodeV2 phone }
"""

ORDER_FIELDS = f"""
    id
    name
    email
    createdAt
    processedAt
    updatedAt
    cancelledAt
    closedAt
    test
    currencyCode
    presentmentCurrencyCode
    displayFinancialStatus
    displayFulfillmentStatus
    sourceName
    discountCodes
    customer {{ id defaultEmailAddress {{ emailAddress }} firstName lastName }}
    totalPriceSet {{ {MONEY} }}
    subtotalPriceSet {{ {MONEY} }}
    totalTaxSet {{ {MONEY} }}
    totalDiscountsSet {{ {MONEY} }}
    totalShippingPriceSet {{ {MONEY} }}
    refunds {{ id createdAt note totalRefundedSet {{ {MONEY} }} }}
    shippingAddress {{ {ADDRESS} }}
    billingAddress {{ {ADDRESS} }}
"""

LINE_ITEM_FIELDS = f"""
    id
    title
    quantity
    sku
    variantTitle
    originalUnitPriceSet {{ {MONEY} }}
    totalDiscountSet {{ {MONEY} }}
    product {{ id }}
    variant {{ id }}
"""

# Webhooks (REST) say `fulfillment_status`: null | "fulfilled" | "partial" | "restocked".
_FULFILLMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial",
                "RESTOCKED": "restocked"}


def _money(node: dict[str, Any], key: str) -> Decimal:
    money_set = node.get(key)
    if not isinstance(money_set, dict):
        return ZERO
    return decimal((money_set.get("shopMoney") or {}).get("amount"))


def _currency(node: dict[str, Any], key: str) -> str | None:
    money_set = node.get(key)
    if not isinstance(money_set, dict):
        return None
    return (money_set.get("shopMoney") or {}).get("currencyCode")


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


def _tags(value: Any) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(t) for t in value) or None
    return value or None


def _require_gid(node: dict[str, Any], kind: str) -> str:
    pid = gid_tail(node.get("id"))
    if pid is None:
        raise PayloadError(f"{kind} node has no id")
    return pid


def customer(node: dict[str, Any]) -> CustomerRecord:
    """A Customer node (CUSTOMER_FIELDS). Also accepts the older `email`/`phone` fields."""
    email_address = node.get("defaultEmailAddress") or {}
    address = node.get("defaultAddress") or {}
    phone = (node.get("defaultPhoneNumber") or {}).get("phoneNumber") or node.get("phone")
    state = email_address.get("marketingState")
    return CustomerRecord(
        platform_id=_require_gid(node, "Customer"),
        email=email_address.get("emailAddress") or node.get("email"),
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
        phone=phone or address.get("phone"),
        city=address.get("city"),
        country_code=address.get("countryCodeV2") or address.get("countryCode"),
        tags=_tags(node.get("tags")),
        account_state=_lower(node.get("state")),
        email_marketing=_CONSENT.get(str(state).lower()) if state else None,
        email_marketing_updated_at=parse_time(email_address.get("marketingUpdatedAt")),
        created_at=parse_time(node.get("createdAt")),
        updated_at=parse_time(node.get("updatedAt")),
    )


def _embedded_customer(node: dict[str, Any] | None) -> CustomerRecord | None:
    # An order's customer carries no updatedAt on purpose: the profile store then only fills
    # what it does not know, exactly as for a customer embedded in an order webhook.
    if not isinstance(node, dict) or not node.get("id"):
        return None
    return CustomerRecord(
        platform_id=gid_tail(node["id"]),
        email=(node.get("defaultEmailAddress") or {}).get("emailAddress") or node.get("email"),
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
    )


def line_item(node: dict[str, Any]) -> LineRecord:
    """A LineItem node (LINE_ITEM_FIELDS), whether nested or a bulk child row."""
    return LineRecord(
        platform_id=gid_tail(node.get("id")),
        title=node.get("title") or node.get("name"),
        quantity=int(node.get("quantity") or 0),
        price=_money(node, "originalUnitPriceSet"),
        total_discount=_money(node, "totalDiscountSet"),
        product_id=gid_tail((node.get("product") or {}).get("id")),
        variant_id=gid_tail((node.get("variant") or {}).get("id")),
        sku=node.get("sku") or None,
        variant_title=node.get("variantTitle"),
    )


def _refund(node: dict[str, Any], order_id: str) -> RefundRecord:
    """A Refund node. `totalRefundedSet` is "the total amount across all transactions for the
    refund": what the webhook path reads from the successful refund transactions
    (normalize.refund), so both record the same amount."""
    refunded_at = parse_time(node.get("createdAt"))
    if refunded_at is None:
        raise PayloadError("refund node has no createdAt")
    return RefundRecord(
        platform_id=_require_gid(node, "Refund"),
        order_platform_id=order_id,
        amount=_money(node, "totalRefundedSet"),
        refunded_at=refunded_at,
        note=node.get("note"),
    )


def order(node: dict[str, Any], lines: list[dict[str, Any]] | None = None) -> OrderRecord:
    """An Order node (ORDER_FIELDS) with its LineItem nodes.

    `lines` are the line item nodes (bulk child rows joined by `__parentId`); when None, a
    nested `lineItems` connection on the node is read instead.
    """
    order_id = _require_gid(node, "Order")
    placed_at = parse_time(node.get("processedAt") or node.get("createdAt"))
    if placed_at is None:
        raise PayloadError("order has neither processedAt nor createdAt")
    currency = _currency(node, "totalPriceSet") or node.get("currencyCode")
    if not currency:
        raise PayloadError("order has no currency")
    if lines is None:
        lines = connection_nodes(node.get("lineItems"))
    embedded = _embedded_customer(node.get("customer"))
    return OrderRecord(
        platform_id=order_id,
        name=node.get("name"),
        placed_at=placed_at,
        updated_at=parse_time(node.get("updatedAt")),
        currency=currency,
        presentment_currency=node.get("presentmentCurrencyCode"),
        email=node.get("email") or (embedded.email if embedded else None),
        customer=embedded,
        subtotal=_money(node, "subtotalPriceSet"),
        total_price=_money(node, "totalPriceSet"),
        total_tax=_money(node, "totalTaxSet"),
        total_discounts=_money(node, "totalDiscountsSet"),
        total_shipping=_money(node, "totalShippingPriceSet"),
        financial_status=_lower(node.get("displayFinancialStatus")),
        fulfillment_status=_FULFILLMENT.get(str(node.get("displayFulfillmentStatus") or "")),
        cancelled_at=parse_time(node.get("cancelledAt")),
        closed_at=parse_time(node.get("closedAt")),
        discount_codes=[str(c) for c in node.get("discountCodes") or [] if c],
        source_name=node.get("sourceName"),
        test=bool(node.get("test")),
        lines=[line_item(n) for n in lines],
        refunds=[_refund(r, order_id) for r in node.get("refunds") or []],
        shipping_address_hash=_address_hash(node.get("shippingAddress")),
        billing_address_hash=_address_hash(node.get("billingAddress")),
    )


def _address_hash(address: Any) -> str | None:
    return address_fingerprint(address, street=("address1", "address2"), postcode="zip",
                               country="countryCodeV2")


def connection_nodes(connection: Any) -> list[dict[str, Any]]:
    """The nodes of a GraphQL connection, written either as `nodes` or `edges { node }`."""
    if not isinstance(connection, dict):
        return []
    if isinstance(connection.get("nodes"), list):
        return connection["nodes"]
    return [edge["node"] for edge in connection.get("edges") or [] if edge.get("node")]


def kind_of(gid: str | None) -> str | None:
    """`gid://shopify/LineItem/1` → `LineItem`."""
    if not gid or not str(gid).startswith("gid://"):
        return None
    parts = str(gid).split("/")
    return parts[3] if len(parts) > 4 else None
