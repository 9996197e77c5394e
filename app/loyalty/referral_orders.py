"""The advocate's reward: when a referred friend's first order is paid, and taken back if
that order is refunded in full or cancelled within the return window.

The rule (documented for merchants): the advocate earns `referral_advocate_points` as a
**pending** entry (source "referral", key `referral:<referral id>:advocate`) whose
`available_at` is the payment plus `max(pending_days, referral_return_days)` days (14 by
default). The program's periodic release moves it to the balance once that time has come.
A full refund or a cancellation dated before then writes a reversal of the pending points
(key `referral:<id>:reversed`, `parent_id` = the pending entry), so nothing is released.
A partial refund leaves the referral's reward alone: the friend did buy.

The friend is found by email (the order's and the profile's, compared in canonical form),
and only their first paid order after the claim counts. The order-time fraud checks of
`app.loyalty.fraud` run first unless the merchant approved the referral. Every effect has a
natural key, so a redelivered order or a replayed event changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import events
from app.db import utcnow
from app.events import DomainEvent
from app.loyalty import fraud, ledger, notices, writeback
from app.loyalty.handling import on
from app.loyalty.models import (
    PENDING,
    PENDING_STATUS,
    RELEASE,
    REVERSE,
    LedgerEntry,
    Referral,
)
from app.loyalty.program import Program, read_program
from app.profiles.models import Customer, Order, TimelineEvent

INVITED, ORDERED, REWARDED, BLOCKED, APPROVED, CANCELLED = (
    "invited", "ordered", "rewarded", "blocked", "approved", "cancelled")
SOURCE = "referral"


def advocate_key(referral_id: int) -> str:
    return f"referral:{referral_id}:advocate"


def _locked(session: Session, query):
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def _event_order(session: Session, event: DomainEvent) -> Order | None:
    order_id = (event.data or {}).get("order_id")
    if not isinstance(order_id, int):
        return None
    return session.execute(select(Order).where(Order.shop_id == event.shop_id,
                                               Order.id == order_id)).scalar_one_or_none()


def _label(order: Order) -> str:
    return order.name or f"order {order.platform_order_id}"


def _reversed_in_full(order: Order) -> str | None:
    """Why the order no longer counts, or None."""
    if order.cancelled_at is not None or order.financial_status == "voided":
        return f"The friend's {_label(order)} was cancelled within the return window."
    if order.total_price > 0 and order.total_refunded >= order.total_price:
        return f"The friend's {_label(order)} was refunded in full within the return window."
    return None


@on(events.ORDER_PAID)
def on_order_paid(session: Session, event: DomainEvent) -> None:
    order = _event_order(session, event)
    if order is None or order.test:
        return
    friend = session.get(Customer, event.customer_id)
    emails = {fraud.canonical_email(e) for e in (order.email, friend and friend.email)}
    emails.discard(None)
    if not emails:
        return
    referral = _locked(session, select(Referral).where(
        Referral.shop_id == event.shop_id, Referral.friend_email_normalized.in_(emails))
        .order_by(Referral.id).limit(1))
    if referral is None or referral.status in (REWARDED, ORDERED, CANCELLED):
        return
    if referral.platform_order_id not in (None, order.platform_order_id):
        return  # their first order was already attributed
    referral.friend_customer_id = event.customer_id
    referral.platform_order_id = order.platform_order_id
    referral.updated_at = utcnow()
    if referral.status == BLOCKED:
        return  # blocked at the claim; kept with its order, so an approval can credit it
    program = read_program(session, event.shop_id)
    if referral.status == INVITED:
        reason = _order_reason(session, referral, order, event.customer_id)
        if reason:
            referral.status, referral.block_reason = BLOCKED, reason
            return
    credit_for_order(session, event.shop_id, referral, program, order=order,
                     paid_at=event.occurred_at)


def _order_reason(session: Session, referral: Referral, order: Order,
                  friend_id: int) -> str | None:
    advocate = fraud.advocate(session, referral.shop_id, referral.advocate_id)
    if advocate is None:
        return None
    emails = {e.strip().lower() for e in (order.email, referral.friend_email) if e}
    return (fraud.order_reason(session, referral.shop_id, advocate, order, friend_id,
                               referral.created_at)
            or fraud.existing_customer_reason(session, referral.shop_id, emails,
                                              referral.created_at))


def _paid_at(session: Session, order: Order) -> datetime:
    """When the order was paid: its `order_paid` fact, else when it was placed."""
    paid = session.execute(select(TimelineEvent.occurred_at).where(
        TimelineEvent.customer_id == order.customer_id,
        TimelineEvent.kind == events.ORDER_PAID,
        TimelineEvent.ref == order.platform_order_id)).scalar() if order.customer_id else None
    return paid or order.placed_at


def credit_for_order(session: Session, shop_id: int, referral: Referral, program: Program, *,
                     order: Order | None = None, paid_at: datetime | None = None) -> None:
    """Credit the advocate for the friend's paid order (a clean or approved referral). Does
    nothing before the order is known, or twice. Does not commit."""
    if referral.platform_order_id is None:
        return
    if order is None:
        order = session.execute(select(Order).where(
            Order.shop_id == shop_id, Order.platform_order_id == referral.platform_order_id)
        ).scalar_one_or_none()
        if order is None:
            return
    if reason := _reversed_in_full(order):
        referral.status, referral.block_reason = CANCELLED, reason
        return
    paid_at = paid_at or _paid_at(session, order)
    points = program.referral_advocate_points
    if not (program.enabled and program.referrals_enabled) or points <= 0:
        referral.status = ORDERED  # the program gave advocates nothing when the friend paid
        return
    days = max(program.pending_days, program.referral_return_days)
    available_at = paid_at + timedelta(days=days)
    ledger.append(session, shop_id, ledger.NewEntry(
        customer_id=referral.advocate_id, kind=PENDING, points=points, status=PENDING_STATUS,
        reason=f"Referral: a referred friend's first order ({_label(order)})", source=SOURCE,
        key=advocate_key(referral.id), order_id=order.id,
        platform_order_id=order.platform_order_id, program_version=program.version,
        available_at=available_at))
    referral.status, referral.updated_at = REWARDED, utcnow()
    writeback.mark_due(session, shop_id, [referral.advocate_id])
    notices.record(session, shop_id, referral.advocate_id, events.REFERRAL_COMPLETED,
                   f"referral:{referral.id}", paid_at,
                   {"referral_id": referral.id, "points": points,
                    "available_at": available_at.isoformat(),
                    "platform_order_id": order.platform_order_id})


@on(events.REFUND_CREATED, events.ORDER_CANCELLED)
def on_order_reversed(session: Session, event: DomainEvent) -> None:
    order = _event_order(session, event)
    if order is None:
        return
    referral = _locked(session, select(Referral).where(
        Referral.shop_id == event.shop_id,
        Referral.platform_order_id == order.platform_order_id).limit(1))
    if referral is None or referral.status != REWARDED:
        return
    reason = _reversed_in_full(order)
    if reason is None:
        return
    pending = session.execute(select(LedgerEntry).where(
        LedgerEntry.shop_id == event.shop_id,
        LedgerEntry.key == advocate_key(referral.id))).scalar_one_or_none()
    if pending is None or pending.available_at is None:
        return
    if event.occurred_at >= pending.available_at:
        return  # after the return window: the points stand
    released = session.execute(select(LedgerEntry.id).where(
        LedgerEntry.shop_id == event.shop_id, LedgerEntry.parent_id == pending.id,
        LedgerEntry.kind == RELEASE).limit(1)).first()
    if released is not None:
        return
    ledger.append(session, event.shop_id, ledger.NewEntry(
        customer_id=pending.customer_id, kind=REVERSE, points=-pending.points,
        status=PENDING_STATUS, reason=reason, source=SOURCE,
        key=f"referral:{referral.id}:reversed", order_id=order.id,
        platform_order_id=order.platform_order_id, program_version=pending.program_version,
        parent_id=pending.id))
    referral.status, referral.block_reason, referral.updated_at = CANCELLED, reason, utcnow()
    writeback.mark_due(session, event.shop_id, [pending.customer_id])
