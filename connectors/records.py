"""Platform-neutral records: what a connector hands to the profile store.

Money is `Decimal` in the shop's currency; times are aware UTC datetimes; platform ids are
strings. A connector fills what its platform knows and leaves the rest as None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class CustomerRecord:
    platform_id: str | None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    city: str | None = None
    country_code: str | None = None
    tags: str | None = None
    account_state: str | None = None
    # "subscribed" | "unsubscribed" | "not_subscribed", or None when the payload does not say.
    email_marketing: str | None = None
    email_marketing_updated_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class LineRecord:
    platform_id: str | None
    title: str | None
    quantity: int
    price: Decimal
    total_discount: Decimal = Decimal("0")
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    variant_title: str | None = None


@dataclass(slots=True)
class RefundRecord:
    platform_id: str
    order_platform_id: str
    amount: Decimal
    refunded_at: datetime
    note: str | None = None


@dataclass(slots=True)
class OrderRecord:
    platform_id: str
    placed_at: datetime
    updated_at: datetime | None
    currency: str
    total_price: Decimal
    customer: CustomerRecord | None = None
    email: str | None = None
    name: str | None = None
    presentment_currency: str | None = None
    subtotal: Decimal = Decimal("0")
    total_tax: Decimal = Decimal("0")
    total_discounts: Decimal = Decimal("0")
    total_shipping: Decimal = Decimal("0")
    # Neutral: pending, authorized, paid, partially_paid, partially_refunded, refunded, voided.
    financial_status: str | None = None
    fulfillment_status: str | None = None
    cancelled_at: datetime | None = None
    closed_at: datetime | None = None
    discount_codes: list[str] = field(default_factory=list)
    source_name: str | None = None
    landing_site: str | None = None
    checkout_token: str | None = None
    cart_token: str | None = None
    test: bool = False
    lines: list[LineRecord] = field(default_factory=list)
    refunds: list[RefundRecord] = field(default_factory=list)
    # Fingerprints of the addresses (connectors.fields.address_fingerprint), never the
    # addresses: the loyalty program compares them to catch self-referrals.
    shipping_address_hash: str | None = None
    billing_address_hash: str | None = None


@dataclass(slots=True)
class CartRecord:
    kind: str  # "cart" or "checkout"
    token: str
    created_at: datetime | None
    updated_at: datetime | None
    cart_token: str | None = None
    email: str | None = None
    customer: CustomerRecord | None = None
    currency: str | None = None
    total_price: Decimal = Decimal("0")
    line_items: list[dict[str, Any]] = field(default_factory=list)
    recovery_url: str | None = None
    completed_at: datetime | None = None


@dataclass(slots=True)
class CustomerDeleted:
    platform_id: str


@dataclass(slots=True)
class MarketingConsentRecord:
    customer_platform_id: str | None
    email: str | None
    email_marketing: str
    updated_at: datetime | None


Record = (
    CustomerRecord | OrderRecord | RefundRecord | CartRecord | CustomerDeleted
    | MarketingConsentRecord
)


class PayloadError(ValueError):
    """A payload that is well-formed JSON but cannot be understood; never retried."""
