"""The profile store: one profile per shopper, with the orders, refunds and carts behind it.

Platform ids are strings (Shopify's exceed 2^53). Money is `Numeric` in the shop's currency.
Per-customer figures are derived from stored orders by `app.profiles.figures` and never
edited on their own.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

Money = Numeric(18, 4)
JsonType = JSON().with_variant(JSONB(), "postgresql")

# email_marketing values, as in the API contract.
SUBSCRIBED, UNSUBSCRIBED, NOT_SUBSCRIBED = "subscribed", "unsubscribed", "not_subscribed"


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_customer_id"),
        Index("ix_customers_shop_email", "shop_id", "email_normalized"),
        # INCLUDE: the KPIs' retention reads them by index-only scans (migration 0025).
        Index("ix_customers_shop_last_order", "shop_id", "last_order_at",
              postgresql_include=["id", "first_order_at"]),
        # The customer list sorted by total spent, any page (migration 0014: its cost to
        # ingest is stated there). Partial: the list never shows deleted profiles.
        Index("ix_customers_shop_total_spent", "shop_id", "total_spent", "id",
              postgresql_where=text("deleted_at IS NULL"),
              sqlite_where=text("deleted_at IS NULL")),
        # New customers of a date range (the dashboard, /api/metrics): migration 0015;
        # INCLUDE, for index-only scans of them: 0025.
        Index("ix_customers_shop_first_order", "shop_id", "first_order_at",
              postgresql_include=["id", "last_order_at", "orders_count"],
              postgresql_where=text("first_order_at IS NOT NULL"),
              sqlite_where=text("first_order_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # NULL for a guest known only from orders or checkouts (identity by email).
    platform_customer_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    email_normalized: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(255))
    country_code: Mapped[str | None] = mapped_column(String(2))
    tags: Mapped[str | None] = mapped_column(Text)
    account_state: Mapped[str | None] = mapped_column(String(32))
    email_marketing: Mapped[str] = mapped_column(String(16), default=NOT_SUBSCRIBED)
    email_marketing_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    platform_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    platform_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Derived from orders (see service.refresh_customer_figures).
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    total_spent: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    average_order_value: Mapped[Decimal | None] = mapped_column(Money)
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Filled by the loyalty and analytics modules.
    points_balance: Mapped[int] = mapped_column(Integer, default=0)
    tier: Mapped[str | None] = mapped_column(String(64))
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    # RFM scores 1-5 (app/analytics/rfm.py); null without a counted order. rfm_scored_at:
    # when they were last written (a refresh rewrites only the scores that change; the
    # store's `rfm_cutoffs.computed_at` says when all were last checked).
    rfm_recency: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_frequency: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_monetary: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    predicted_clv: Mapped[Decimal | None] = mapped_column(Money)
    # Predictions (app.predictions): null until the shop has a fitted model.
    expected_orders_30: Mapped[float | None] = mapped_column(Float)
    expected_orders_90: Mapped[float | None] = mapped_column(Float)
    expected_orders_365: Mapped[float | None] = mapped_column(Float)
    next_order_expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    predicted_spend_tier: Mapped[str | None] = mapped_column(String(16))
    predictions_scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# `app.profiles.figures.counted_order` as SQL text: the predicate of the partial indexes
# (PostgreSQL uses them for the statements that say the same).
COUNTED_ORDER = text("cancelled_at IS NULL AND (financial_status IS NULL OR "
                     "financial_status <> 'voided') AND test IS false")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        Index("ix_orders_customer", "customer_id", "placed_at"),
        Index("ix_orders_shop_placed", "shop_id", "placed_at"),
        # The store's KPIs (app.analytics): a range's counted orders, and a customer's
        # previous or first counted order, by index-only scans (migration 0025).
        Index("ix_orders_counted_placed", "shop_id", "placed_at",
              postgresql_where=COUNTED_ORDER, sqlite_where=COUNTED_ORDER,
              postgresql_include=["customer_id", "total_price", "total_refunded"]),
        Index("ix_orders_counted_customer", "shop_id", "customer_id", "placed_at",
              postgresql_where=COUNTED_ORDER, sqlite_where=COUNTED_ORDER,
              postgresql_include=["total_price", "total_refunded"]),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    platform_order_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))
    presentment_currency: Mapped[str | None] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total_tax: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total_discounts: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total_shipping: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    # Sum of this order's rows in `refunds`; kept in step by the service.
    total_refunded: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    financial_status: Mapped[str | None] = mapped_column(String(32))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    discount_codes: Mapped[list[str] | None] = mapped_column(JsonType)
    source_name: Mapped[str | None] = mapped_column(String(64))
    landing_site: Mapped[str | None] = mapped_column(Text)
    checkout_token: Mapped[str | None] = mapped_column(String(128))
    cart_token: Mapped[str | None] = mapped_column(String(128))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    # SHA-256 fingerprints of the normalized addresses (connectors.fields.address_fingerprint),
    # not the addresses: referral fraud checks compare them (migration 0016d).
    shipping_address_hash: Mapped[str | None] = mapped_column(String(64))
    billing_address_hash: Mapped[str | None] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    platform_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    platform_line_id: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    variant_title: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    total_discount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class Refund(Base):
    """A refund, keyed by the platform's order id so it can arrive before its order."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_refund_id"),
        Index("ix_refunds_order", "shop_id", "platform_order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_refund_id: Mapped[str] = mapped_column(String(64))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    note: Mapped[str | None] = mapped_column(Text)
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


CART_OPEN, CART_CONVERTED, CART_ABANDONED = "open", "converted", "abandoned"


class Cart(Base):
    """A storefront cart or a checkout. A checkout names its cart by `cart_token`."""

    __tablename__ = "carts"
    __table_args__ = (
        UniqueConstraint("shop_id", "kind", "token"),
        Index("ix_carts_status", "shop_id", "status", "platform_updated_at"),
        Index("ix_carts_cart_token", "shop_id", "cart_token"),
        # Checkouts by when they started, with what the dashboard counts of them (migration
        # 0012d): its checkout figures read this index only, not the wide cart rows.
        Index("ix_carts_started", "shop_id", "kind", "platform_created_at",
              postgresql_include=["status", "abandoned_at"]),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "cart" | "checkout"
    token: Mapped[str] = mapped_column(String(128))
    cart_token: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))
    currency: Mapped[str | None] = mapped_column(String(3))
    total_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    line_items: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonType)
    recovery_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=CART_OPEN)
    converted_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL")
    )
    platform_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    platform_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimelineEvent(Base):
    """What happened to a shopper, newest first in the panel. `ref` makes each one unique."""

    __tablename__ = "timeline_events"
    # The unique key also serves "a customer's timeline, newest first" (by its customer_id
    # prefix; one shopper's rows are few): no second per-customer index to write on insert.
    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "ref"),
        # A store's newest rows first (the dashboard's latest activity); as wide as an id.
        Index("ix_timeline_events_shop_occurred", "shop_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key on shop_id: the customer's key already ties the row to its shop (and
    # removes it with the shop); a second per-row check was most of the cost of an insert.
    shop_id: Mapped[int] = mapped_column(BigId)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    ref: Mapped[str] = mapped_column(String(160))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
