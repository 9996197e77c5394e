"""Taking points back when an order is refunded or cancelled.

Every award an order produced (its purchase award, and the first-order bonus it earned) is
brought down to what the order still deserves, computed from the award's own entry, never
from today's program (the rule may have changed, or the program been disabled since):

- purchase award: `points_for(amount × (1 − refunded / total_price), rate)` with the
  `amount` and `rate` recorded on the award; so an order's entries always add up to its
  rate × the money it kept, whatever the refunds' number and order;
- first-order bonus: nothing once the order is fully refunded or cancelled, else all of it;
- on a cancellation: nothing.

The reversal is the award's current net (itself plus its earlier reversals) minus that
target, keyed `refund:<platform refund id>:<award id>` or `cancel:<platform order id>:<award
id>`; a target above the net takes nothing (points are never handed back by a reversal).
Pending points are taken back first, as pending, so what a refund took is never released.

When points taken back were already spent the program's `negative_balance` decides:
"allow" lets the balance go below zero; "floor_zero" writes the reversal in full, then an
"adjust" entry (source "rule", key `shortfall:<reversal id>`) bringing the balance back to
zero, so the ledger says what was forgiven and the order's own entries still net exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent
from app.loyalty import ledger, writeback
from app.loyalty.basis import Refunded, load_order, refunds_through
from app.loyalty.handling import on
from app.loyalty.models import (
    ADJUST,
    AVAILABLE,
    EARN,
    PENDING,
    PENDING_STATUS,
    RELEASE,
    REVERSE,
    LedgerEntry,
)
from app.loyalty.program import points_for, read_program
from app.profiles.models import Order

_L = LedgerEntry.__table__


def purchase_key(platform_order_id: str) -> str:
    return f"order:{platform_order_id}:purchase"


def first_order_key(customer_id: int) -> str:
    return f"first_order:{customer_id}"


@dataclass(frozen=True, slots=True)
class Standing:
    """Where an award stands: its net points and the part of them still pending."""

    net: int
    pending: int


def standing(session: Session, award) -> Standing:
    """The award's net (itself and its reversals) and its part still pending (the pending
    award and its pending reversals, less what was released)."""
    rows = session.execute(
        select(_L.c.kind, _L.c.status, func.sum(_L.c.points))
        .where(_L.c.shop_id == award.shop_id, _L.c.parent_id == award.id,
               _L.c.kind.in_((REVERSE, RELEASE)))
        .group_by(_L.c.kind, _L.c.status)).all()
    net, pending = award.points, award.points if award.status == PENDING_STATUS else 0
    for kind, status, points in rows:
        if kind == REVERSE:
            net += points
            if status == PENDING_STATUS:
                pending += points
        else:
            pending -= points
    return Standing(net, max(0, pending))


def order_awards(session: Session, order: Order) -> list:
    """The awards this order produced (purchase award, first-order bonus), oldest first."""
    return session.execute(
        select(_L).where(_L.c.shop_id == order.shop_id, _L.c.order_id == order.id,
                         _L.c.kind.in_((EARN, PENDING)), _L.c.parent_id.is_(None))
        .order_by(_L.c.id)).all()


def _target(award, order: Order, refunded: Refunded | None, cancelled: bool) -> int:
    if cancelled:
        return 0
    if award.key == purchase_key(order.platform_order_id):
        if refunded is None:
            return award.points
        if award.rate is None or award.amount is None:
            return 0 if refunded.full(order) else award.points
        return points_for(award.amount * refunded.kept(order), award.rate)
    if award.key.startswith("first_order:"):
        return 0 if refunded is not None and refunded.full(order) else award.points
    return award.points  # not an award of the order's money (e.g. a referral's): untouched


def take_back(session: Session, order: Order, *, refunded: Refunded | None = None,
              cancelled: bool = False) -> int:
    """Bring each award of `order` down to what it still deserves (see the module). Returns
    the points taken back. Does not commit."""
    taken = 0
    program = None
    for award in order_awards(session, order):
        ledger.lock_member(session, order.shop_id, award.customer_id)
        now = standing(session, award)
        amount = now.net - _target(award, order, refunded, cancelled)
        if amount <= 0:
            continue
        key = (f"cancel:{order.platform_order_id}:{award.id}" if cancelled
               else f"refund:{refunded.refund_id}:{award.id}")  # type: ignore[union-attr]
        source = "cancellation" if cancelled else "refund"
        what = (f"{order.name or 'Order'} cancelled" if cancelled
                else f"{order.name or 'Order'} refunded")
        if refunded is not None and not cancelled:
            what += f" ({refunded.amount} of {order.total_price} {order.currency} so far)"
        bonus = "" if award.key.startswith("order:") else " first-order bonus"
        parts = [(PENDING_STATUS, min(amount, now.pending))]
        parts.append((AVAILABLE, amount - parts[0][1]))
        suffix = ""
        for status, points in parts:
            if points <= 0:
                continue
            rate = f" at {award.rate.normalize()} per {order.currency}" if award.rate else ""
            new_id = ledger.append(session, order.shop_id, ledger.NewEntry(
                customer_id=award.customer_id, kind=REVERSE, points=-points, status=status,
                reason=f"{what}: {points}{' pending' if status == PENDING_STATUS else ''}"
                       f"{bonus} points taken back{rate}",
                source=source, key=key + suffix, order_id=order.id,
                platform_order_id=order.platform_order_id, rate=award.rate,
                program_version=award.program_version, parent_id=award.id))
            suffix = ":available"  # a second part (never expected: see `standing`)
            if new_id is None:
                continue
            taken += points
            if status == AVAILABLE:
                if program is None:
                    program = read_program(session, order.shop_id)
                if program.negative_balance == "floor_zero":
                    floor_at_zero(session, order.shop_id, award.customer_id, new_id, points,
                                  order.name)
        writeback.mark_due(session, order.shop_id, [award.customer_id])
    return taken


def floor_at_zero(session: Session, shop_id: int, customer_id: int, reversal_id: int,
                  reversed_points: int, what: str | None) -> int:
    """After a reversal of `reversed_points` (the member is locked): forgive what it took
    below zero, with an "adjust" entry that says so. Returns the points forgiven."""
    balance = ledger.balance(session, shop_id, customer_id)
    shortfall = min(reversed_points, -balance)
    if shortfall <= 0:
        return 0
    ledger.append(session, shop_id, ledger.NewEntry(
        customer_id=customer_id, kind=ADJUST, points=shortfall,
        reason=f"{what or 'An order'}: {shortfall} of the {reversed_points} points taken back "
               "had already been spent; the balance stops at zero (store policy)",
        source="rule", key=f"shortfall:{reversal_id}", parent_id=reversal_id))
    return shortfall


@on(events.REFUND_CREATED)
def on_refund(session: Session, event: DomainEvent) -> None:
    """A refund: the order's awards keep what the money kept is worth."""
    order = load_order(session, event.shop_id, event.data.get("order_id"))
    if order is None:
        return
    refunded = refunds_through(session, order, event.ref)
    if refunded is None:
        return  # not one of this order's refunds (any more)
    take_back(session, order, refunded=refunded)


@on(events.ORDER_CANCELLED)
def on_cancelled(session: Session, event: DomainEvent) -> None:
    """A cancellation takes back everything the order's awards still hold."""
    order = load_order(session, event.shop_id, event.data.get("order_id"))
    if order is None or order.platform_order_id != event.ref:
        return
    take_back(session, order, cancelled=True)

