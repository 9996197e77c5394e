"""One customer's profile as the panel page and `GET /api/customers/<id>` show it: the
profile, its orders with lines and refunds, carts, timeline, and the merchant's notes and
tags. Read in a handful of queries, each scoped to the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.customers.models import CustomerNote, CustomerTag
from app.profiles.models import (
    CART_CONVERTED,
    Cart,
    Customer,
    Order,
    OrderLine,
    Refund,
    TimelineEvent,
)

MAX_ORDERS = 250
MAX_TIMELINE = 200
MAX_CARTS = 50
MAX_NOTES = 500


@dataclass
class OrderDetail:
    order: Order
    lines: list[OrderLine] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)

    @property
    def counted(self) -> bool:
        """Whether the order counts towards the figures (not cancelled, not voided)."""
        return self.order.cancelled_at is None and self.order.financial_status != "voided"

    @property
    def refund_state(self) -> str | None:
        """"refunded", "partially_refunded" or None, from the stored refunds (a refund's
        webhook may arrive before the order's new financial status does)."""
        order = self.order
        refunded = order.total_refunded or 0
        if order.financial_status == "refunded" or (refunded and refunded >= order.total_price):
            return "refunded"
        if order.financial_status == "partially_refunded" or refunded > 0:
            return "partially_refunded"
        return None


@dataclass
class Profile:
    customer: Customer
    orders: list[OrderDetail]
    carts: list[Cart]
    timeline: list[TimelineEvent]
    notes: list[CustomerNote]
    tags: list[CustomerTag]

    @property
    def open_carts(self) -> list[Cart]:
        """Carts and checkouts that did not become an order (open or abandoned)."""
        return [cart for cart in self.carts if cart.status != CART_CONVERTED]


def get_customer(session: Session, shop_id: int, customer_id: int) -> Customer | None:
    """The store's profile with this id, or None (another store's id is None too)."""
    return session.execute(select(Customer).where(
        Customer.id == customer_id, Customer.shop_id == shop_id)).scalar_one_or_none()


def load_profile(session: Session, customer: Customer) -> Profile:
    shop_id = customer.shop_id
    orders = [OrderDetail(order) for order in session.execute(
        select(Order).where(Order.shop_id == shop_id, Order.customer_id == customer.id)
        .order_by(Order.placed_at.desc(), Order.id.desc()).limit(MAX_ORDERS)).scalars()]
    by_id = {detail.order.id: detail for detail in orders}
    by_platform_id = {detail.order.platform_order_id: detail for detail in orders}
    if orders:
        for line in session.execute(
            select(OrderLine).where(OrderLine.shop_id == shop_id,
                                    OrderLine.order_id.in_(by_id)).order_by(OrderLine.id)
        ).scalars():
            by_id[line.order_id].lines.append(line)
        for refund in session.execute(
            select(Refund).where(Refund.shop_id == shop_id,
                                 Refund.platform_order_id.in_(by_platform_id))
            .order_by(Refund.refunded_at, Refund.id)
        ).scalars():
            by_platform_id[refund.platform_order_id].refunds.append(refund)
    carts = list(session.execute(
        select(Cart).where(Cart.shop_id == shop_id, Cart.customer_id == customer.id)
        .order_by(Cart.platform_updated_at.desc().nulls_last(), Cart.id.desc())
        .limit(MAX_CARTS)).scalars())
    timeline = list(session.execute(
        select(TimelineEvent).where(TimelineEvent.shop_id == shop_id,
                                    TimelineEvent.customer_id == customer.id)
        .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc())
        .limit(MAX_TIMELINE)).scalars())
    notes = list(session.execute(
        select(CustomerNote).where(CustomerNote.shop_id == shop_id,
                                   CustomerNote.customer_id == customer.id)
        .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
        .limit(MAX_NOTES)).scalars())
    tags = list(session.execute(
        select(CustomerTag).where(CustomerTag.shop_id == shop_id,
                                  CustomerTag.customer_id == customer.id)
        .order_by(CustomerTag.tag_normalized)).scalars())
    return Profile(customer, orders, carts, timeline, notes, tags)
