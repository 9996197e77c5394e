"""Orders a WooCommerce store no longer has, as records the profile store can apply."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.profiles.models import Customer, Order, OrderLine
from connectors.records import CustomerRecord, LineRecord, OrderRecord, Record


def tombstone(session: Session, shop_id: int, order_id: str) -> list[Record]:
    """An order deleted for good (404): its stored copy, voided, so it leaves the figures.
    Nothing when Sticky never stored it."""
    order = session.execute(
        select(Order).where(Order.shop_id == shop_id, Order.platform_order_id == order_id)
    ).scalar_one_or_none()
    if order is None:
        return []
    buyer = None
    if order.customer_id is not None:
        platform_id = session.execute(
            select(Customer.platform_customer_id).where(Customer.shop_id == shop_id,
                                                        Customer.id == order.customer_id)
        ).scalar()
        buyer = CustomerRecord(platform_id=platform_id, email=order.email)
    lines = session.execute(
        select(OrderLine).where(OrderLine.shop_id == shop_id, OrderLine.order_id == order.id)
    ).scalars().all()
    now = datetime.now(UTC)
    return [OrderRecord(
        platform_id=order.platform_order_id, placed_at=order.placed_at, updated_at=now,
        currency=order.currency, total_price=order.total_price, customer=buyer,
        email=order.email, name=order.name, subtotal=order.subtotal, total_tax=order.total_tax,
        total_discounts=order.total_discounts, total_shipping=order.total_shipping,
        financial_status="voided", fulfillment_status=order.fulfillment_status,
        cancelled_at=order.cancelled_at or now, closed_at=order.closed_at,
        discount_codes=list(order.discount_codes or []), source_name=order.source_name,
        checkout_token=order.checkout_token, cart_token=order.cart_token,
        shipping_address_hash=order.shipping_address_hash,
        billing_address_hash=order.billing_address_hash,
        lines=[LineRecord(platform_id=line.platform_line_id, title=line.title,
                          quantity=line.quantity, price=line.price,
                          total_discount=line.total_discount, product_id=line.product_id,
                          variant_id=line.variant_id, sku=line.sku,
                          variant_title=line.variant_title) for line in lines],
    )]
