"""Earning points: on orders (when paid or when fulfilled, as the program says), a bonus on a
shopper's first order, and a bonus for signing up.

- **Purchase award** (key `order:<platform order id>:purchase`): `points_for(basis, rate)`
  where the basis is the money paid net of discounts (`app.loyalty.basis`) and the rate is the
  program's points per unit × the member's tier multiplier. The entry records the rate, the
  basis, the program version and the order, which is all a later refund needs.
- **First-order bonus** (key `first_order:<customer id>`: once per shopper): on the
  shopper's first counted order; it belongs to that order and goes back if the order is
  fully refunded or cancelled.
- **Sign-up bonus** (key `signup:<platform customer id>`): when a registered customer is
  created (a guest profile is not a sign-up; its registration later is).

With `pending_days` the order's points are "pending" until the return window is over
(`available_at`), when `app.loyalty.release` makes them spendable. A program that is not
enabled awards nothing. Test orders, cancelled orders and orders never paid earn nothing, and
the facts a history import brings are never published, so a store's past earns nothing.

Every award is also a `points_earned` fact on the shopper's timeline (flows send notices).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent
from app.loyalty import ledger, notices, writeback
from app.loyalty.basis import award_basis, earns, load_order, refunds_through
from app.loyalty.handling import on
from app.loyalty.models import AVAILABLE, EARN, PENDING, PENDING_STATUS, LoyaltyMember
from app.loyalty.program import Program, points_for, read_program
from app.loyalty.reversals import first_order_key, purchase_key, take_back
from app.money import format_money
from app.profiles.figures import counted_order
from app.profiles.models import Customer, Order
from app.shops.models import Shop

RATE_QUANTUM = Decimal("0.000001")  # loyalty_ledger.rate keeps 6 decimals


def earning_rate(program: Program, tier: str | None) -> Decimal:
    """Points per unit of currency for a member of `tier`, as the entry will record it."""
    rate = (program.points_per_unit * program.multiplier(tier)).quantize(
        RATE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return rate.normalize() if rate else Decimal("0")


def _points_word(rate: Decimal) -> str:
    return "point" if rate == 1 else "points"


def _award(session: Session, shop_id: int, entry: ledger.NewEntry, occurred_at: datetime,
           *, pending_days: int = 0) -> int | None:
    """Append an award, pending for `pending_days` (the return window) when there is one; on
    a new entry, tell the platform and the timeline."""
    if pending_days:
        entry.kind, entry.status = PENDING, PENDING_STATUS
        entry.available_at = occurred_at + timedelta(days=pending_days)
    new_id = ledger.append(session, shop_id, entry)
    if new_id is None:
        return None
    writeback.mark_due(session, shop_id, [entry.customer_id])
    notices.record(session, shop_id, entry.customer_id, events.POINTS_EARNED, entry.key,
                   occurred_at, {
                       "points": entry.points, "status": entry.status, "reason": entry.reason,
                       "order_id": entry.order_id,
                       "available_at": entry.available_at.isoformat()
                       if entry.available_at else None,
                       "balance": ledger.balance(session, shop_id, entry.customer_id)})
    return new_id


def is_first_order(session: Session, order: Order) -> bool:
    """No counted order of the same shopper was placed before this one."""
    earlier = session.execute(select(Order.id).where(
        Order.shop_id == order.shop_id, Order.customer_id == order.customer_id,
        Order.id != order.id, counted_order(),
        or_(Order.placed_at < order.placed_at,
            and_(Order.placed_at == order.placed_at, Order.id < order.id))).limit(1)).first()
    return earlier is None


def award_order(session: Session, order: Order, program: Program, *,
                occurred_at: datetime) -> int:
    """The purchase award (and first-order bonus) of a paid order; then what its refunds
    already returned is taken back. Returns the points awarded now (0 if already made)."""
    shop_id = order.shop_id
    customer_id = order.customer_id
    assert customer_id is not None  # load_order returns only orders of a shopper
    ledger.lock_member(session, shop_id, customer_id)
    tier = session.execute(select(LoyaltyMember.tier).where(
        LoyaltyMember.customer_id == customer_id)).scalar()
    platform = session.execute(select(Shop.platform).where(Shop.id == shop_id)).scalar_one()
    rate = earning_rate(program, tier)
    basis = award_basis(order, program, platform)
    points = points_for(basis, rate)
    name = order.name or f"Order {order.platform_order_id}"
    awarded = 0
    if points > 0:
        multiplier = program.multiplier(tier)
        tier_note = f", {tier} tier ×{multiplier.normalize()}" if multiplier != 1 else ""
        entry = ledger.NewEntry(
            customer_id=customer_id, kind=EARN, points=points, status=AVAILABLE,
            reason=f"{name}: {format_money(basis, order.currency)} {order.currency} at "
                   f"{rate} {_points_word(rate)} per {order.currency}{tier_note}",
            source="order", key=purchase_key(order.platform_order_id), order_id=order.id,
            platform_order_id=order.platform_order_id, rate=rate, amount=basis,
            program_version=program.version)
        if _award(session, shop_id, entry, occurred_at,
                  pending_days=program.pending_days) is not None:
            awarded += points
    if program.first_order_points and is_first_order(session, order):
        entry = ledger.NewEntry(
            customer_id=customer_id, kind=EARN, points=program.first_order_points,
            reason=f"{name}: first-order bonus", source="rule",
            key=first_order_key(customer_id), order_id=order.id,
            platform_order_id=order.platform_order_id, program_version=program.version)
        if _award(session, shop_id, entry, occurred_at,
                  pending_days=program.pending_days) is not None:
            awarded += program.first_order_points
    # Refunds handled before this award (its order was fulfilled after a refund, say) found
    # nothing to take back: settle them now.
    refunded = refunds_through(session, order)
    if refunded is not None:
        take_back(session, order, refunded=refunded)
    return awarded


@on(events.ORDER_PAID, events.ORDER_FULFILLED)
def on_order(session: Session, event: DomainEvent) -> None:
    """Award when the order reaches the program's moment: paid, or fulfilled (and paid)."""
    program = read_program(session, event.shop_id)
    if not program.enabled:
        return
    if program.award_on == "paid" and event.kind != events.ORDER_PAID:
        return
    order = load_order(session, event.shop_id, event.data.get("order_id"))
    if order is None or order.platform_order_id != event.ref or not earns(order):
        return
    if program.award_on == "fulfilled" and order.fulfillment_status != "fulfilled":
        return  # paid first: the fulfilment's event awards
    award_order(session, order, program, occurred_at=event.occurred_at)


@on(events.CUSTOMER_CREATED)
def on_customer_created(session: Session, event: DomainEvent) -> None:
    """The sign-up bonus of a registered customer (a guest profile has not signed up)."""
    if event.ref.startswith("guest:"):
        return
    program = read_program(session, event.shop_id)
    if not program.enabled or not program.signup_points:
        return
    customer = session.execute(select(Customer).where(
        Customer.id == event.customer_id, Customer.shop_id == event.shop_id)
    ).scalar_one_or_none()
    if customer is None or customer.platform_customer_id is None:
        return
    entry = ledger.NewEntry(
        customer_id=customer.id, kind=EARN, points=program.signup_points,
        reason="Signed up: sign-up bonus", source="rule", key=f"signup:{event.ref}",
        program_version=program.version)
    # A sign-up has no return window: the bonus is spendable at once.
    _award(session, event.shop_id, entry, event.occurred_at)
