"""What an order is worth in points: the money it is awarded on, and how much of that money
is still kept after its refunds.

**The basis of a purchase award** is the merchandise paid for net of discounts, plus shipping
when `include_shipping`, plus tax when `include_tax`, never more than the order's total. The
neutral order row holds each platform's own figures (connectors/*/normalize.py), which differ:

- Shopify's `subtotal` is `subtotal_price` (REST) / `subtotalPriceSet` (GraphQL): the line
  items **after** every discount, before shipping, duties and tax. It is the merchandise net.
- WooCommerce's `subtotal` is the sum of the line items' `subtotal`: **before** coupons (each
  line's `total` is after). `total_discounts` is the order's `discount_total`, without tax.
  The merchandise net is their difference.

`total_shipping` and `total_tax` are the platforms' shipping and tax totals on both.

**What is kept after refunds** is in proportion to the money refunded: an order of 200.00
refunded 50.00 keeps three quarters of its basis. The cumulative amount refunded at a refund
is read from the `refunds` rows (in the order they were made), so each refund's reversal is
exact whatever order the refunds arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.program import Program
from app.profiles.models import Order, Refund

ZERO = Decimal("0")
# Order states in which money was taken (as `app.profiles.timeline.PAID_STATES`).
PAID_STATES = frozenset({"paid", "partially_refunded", "refunded", "partially_paid"})


def merchandise_net(order: Order, platform: str) -> Decimal:
    """The order's merchandise after discounts, before shipping and tax (see the module)."""
    if platform == "woocommerce":
        return order.subtotal - order.total_discounts
    return order.subtotal


def award_basis(order: Order, program: Program, platform: str) -> Decimal:
    """The money a purchase award is computed on (never below zero, never above the total)."""
    basis = merchandise_net(order, platform)
    if program.include_shipping:
        basis += order.total_shipping
    if program.include_tax:
        basis += order.total_tax
    return max(ZERO, min(basis, order.total_price))


def load_order(session: Session, shop_id: int, order_id: object) -> Order | None:
    """The order of this shop named by an event's `data["order_id"]` (None if it is not one
    of the shop's orders, or no longer names a shopper)."""
    if isinstance(order_id, bool) or not isinstance(order_id, int):
        return None
    order = session.execute(select(Order).where(Order.id == order_id,
                                                Order.shop_id == shop_id)).scalar_one_or_none()
    if order is None or order.customer_id is None:
        return None
    return order


def earns(order: Order) -> bool:
    """Whether the order can earn points at all: a real order that was paid and stands."""
    return (not order.test and order.cancelled_at is None
            and order.financial_status in PAID_STATES)


@dataclass(frozen=True, slots=True)
class Refunded:
    """How much of an order was refunded as of one of its refunds."""

    refund_id: str  # the platform's refund id the reversal is keyed by
    amount: Decimal  # cumulative, capped at the order's total

    def kept(self, order: Order) -> Decimal:
        """The share of the order's money still kept (0..1)."""
        if order.total_price <= 0:
            return ZERO
        return max(ZERO, 1 - self.amount / order.total_price)

    def full(self, order: Order) -> bool:
        return self.amount >= order.total_price


def refunds_through(session: Session, order: Order,
                    platform_refund_id: str | None = None) -> Refunded | None:
    """The cumulative refund of `order` up to and including `platform_refund_id` (refunds in
    the order they were made), or through its latest refund when None. None when the order
    has no such refund."""
    rows = session.execute(
        select(Refund.platform_refund_id, Refund.amount)
        .where(Refund.shop_id == order.shop_id,
               Refund.platform_order_id == order.platform_order_id)
        .order_by(Refund.refunded_at, Refund.id)).all()
    total = ZERO
    for refund_id, amount in rows:
        total += amount
        if refund_id == platform_refund_id:
            return Refunded(refund_id, min(total, order.total_price))
    if platform_refund_id is None and rows:
        return Refunded(rows[-1][0], min(total, order.total_price))
    return None
