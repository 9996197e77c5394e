"""The awards of a run of paid (or fulfilled) orders, set-based (`app.loyalty.batch`).

The same entries, caches, write-back marks and `points_earned` facts as `earning.award_order`
called order by order, in a handful of statements for the whole run: the members are made
and locked together, the first-order check is one query, the entries are one insert under
their natural keys (what exists already is left alone and moves nothing), each cache table
is one update, the notices one insert and one publish. The run's orders belong to different
shoppers and have no refund recorded (the caller sees to both), so no award of the run
depends on another's and there is nothing to take back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from app import events
from app.db import insert_for, utcnow
from app.loyalty import ledger, writeback
from app.loyalty.basis import award_basis
from app.loyalty.earning import _points_word, earning_rate
from app.loyalty.models import (
    AVAILABLE,
    EARN,
    PENDING,
    PENDING_STATUS,
    LedgerEntry,
    LoyaltyMember,
)
from app.loyalty.notices import record_many
from app.loyalty.program import Program, points_for
from app.loyalty.reversals import first_order_key, purchase_key
from app.money import format_money
from app.profiles.figures import counted_order
from app.profiles.models import Customer, Order
from app.shops.models import Shop

_L = LedgerEntry.__table__
_M = LoyaltyMember.__table__
_C = Customer.__table__


@dataclass(frozen=True)
class Award:
    """An order that reached the program's moment, with its event's time."""

    order: Order
    occurred_at: datetime


def award_run(session: Session, shop: Shop, program: Program, awards: list[Award]) -> None:
    """Award every order of `awards` (one per shopper) as `earning.award_order` would."""
    if not awards:
        return
    shop_id = shop.id
    customer_ids = sorted({a.order.customer_id for a in awards})  # type: ignore[type-var]
    members = lock_members(session, shop_id, customer_ids)
    first = _first_orders(session, [a.order for a in awards]) \
        if program.first_order_points else set()
    entries: list[tuple[ledger.NewEntry, datetime]] = []
    for award in awards:
        order = award.order
        assert order.customer_id is not None
        tier = members[order.customer_id][0]
        entries += [(entry, award.occurred_at) for entry in
                    _entries(program, shop.platform, order, tier, order.id in first)]
    if not entries:
        return
    now = utcnow()
    for entry, occurred_at in entries:
        entry.created_at = now
        if program.pending_days:
            entry.kind, entry.status = PENDING, PENDING_STATUS
            entry.available_at = occurred_at + timedelta(days=program.pending_days)
    # Parameter sets, not a VALUES list: one statement still, compiled once for any size.
    inserted = set(session.execute(
        insert_for(session, _L).on_conflict_do_nothing(index_elements=["shop_id", "key"])
        .returning(_L.c.key), [{"shop_id": shop_id, **asdict(e)} for e, _ in entries]
    ).scalars())
    new = [(e, at) for e, at in entries if e.key in inserted]
    if not new:
        return
    _move_caches(session, [e for e, _ in new], now)
    writeback.mark_due(session, shop_id, [e.customer_id for e, _ in new])
    _record_notices(session, shop_id, new, {cid: m[1] for cid, m in members.items()})


def _entries(program: Program, platform: str, order: Order, tier: str | None,
             first_order: bool) -> list[ledger.NewEntry]:
    """The purchase award and first-order bonus of `order`, worded as `award_order` words
    them (before a return window makes them pending)."""
    assert order.customer_id is not None
    rate = earning_rate(program, tier)
    basis = award_basis(order, program, platform)
    points = points_for(basis, rate)
    name = order.name or f"Order {order.platform_order_id}"
    out = []
    if points > 0:
        multiplier = program.multiplier(tier)
        tier_note = f", {tier} tier ×{multiplier.normalize()}" if multiplier != 1 else ""
        out.append(ledger.NewEntry(
            customer_id=order.customer_id, kind=EARN, points=points, status=AVAILABLE,
            reason=f"{name}: {format_money(basis, order.currency)} {order.currency} at "
                   f"{rate} {_points_word(rate)} per {order.currency}{tier_note}",
            source="order", key=purchase_key(order.platform_order_id), order_id=order.id,
            platform_order_id=order.platform_order_id, rate=rate, amount=basis,
            program_version=program.version))
    if first_order:
        out.append(ledger.NewEntry(
            customer_id=order.customer_id, kind=EARN, points=program.first_order_points,
            reason=f"{name}: first-order bonus", source="rule",
            key=first_order_key(order.customer_id), order_id=order.id,
            platform_order_id=order.platform_order_id, program_version=program.version))
    return out


def lock_members(session: Session, shop_id: int, customer_ids: list[int]
                  ) -> dict[int, tuple[str | None, int]]:
    """Make the shoppers members (as `ledger.lock_member`) and lock them, in id order;
    customer id → (tier, available balance)."""
    now = utcnow()
    session.execute(insert_for(session, _M).on_conflict_do_nothing(), [
        {"customer_id": cid, "shop_id": shop_id, "pending_points": 0, "lifetime_points": 0,
         "referral_code": ledger.new_referral_code(), "enrolled_at": now}
        for cid in customer_ids])
    query = (select(_M.c.customer_id, _M.c.tier, _C.c.points_balance)
             .select_from(_M.join(_C, _C.c.id == _M.c.customer_id))
             .where(_M.c.customer_id.in_(customer_ids), _M.c.shop_id == shop_id)
             .order_by(_M.c.customer_id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=_M)
    found = {cid: (tier, balance or 0) for cid, tier, balance in session.execute(query)}
    if len(found) != len(customer_ids):
        # A referral code drawn twice (one in 10^12) or a profile of another shop: the
        # dispatcher replays the batch one event at a time, which draws again or says why.
        raise LookupError("members of the run could not all be made")
    return found


def _first_orders(session: Session, orders: list[Order]) -> set[int]:
    """The ids of those orders before which their shopper placed no counted order (as
    `earning.is_first_order`, for all of them at once)."""
    this, earlier = Order, aliased(Order)
    before = exists().where(
        earlier.shop_id == this.shop_id, earlier.customer_id == this.customer_id,
        earlier.id != this.id, counted_order(earlier),
        or_(earlier.placed_at < this.placed_at,
            and_(earlier.placed_at == this.placed_at, earlier.id < this.id)))
    return set(session.execute(select(this.id).where(
        this.id.in_([o.id for o in orders]), ~before)).scalars())


def _by_customer(key, amounts: dict[int, int]):
    """Each row's own amount, by its customer id (one statement for all of them)."""
    return case(*[(key == cid, amount) for cid, amount in amounts.items()], else_=0)


def _move_caches(session: Session, entries: list[ledger.NewEntry], at: datetime) -> None:
    """`ledger._move_caches` for new earn/pending entries, one update per table."""
    available: dict[int, int] = {}
    pending: dict[int, int] = {}
    earned: dict[int, int] = {}
    for e in entries:
        if e.status == AVAILABLE:
            available[e.customer_id] = available.get(e.customer_id, 0) + e.points
        if e.status == PENDING_STATUS:
            pending[e.customer_id] = pending.get(e.customer_id, 0) + e.points
        earned[e.customer_id] = earned.get(e.customer_id, 0) + e.points
    if available:
        session.execute(update(_C).where(_C.c.id.in_(sorted(available))).values(
            points_balance=_C.c.points_balance + _by_customer(_C.c.id, available)))
    values: dict[str, Any] = {
        "lifetime_points": _M.c.lifetime_points + _by_customer(_M.c.customer_id, earned),
        "last_activity_at": case((_M.c.last_activity_at.is_(None), at),
                                 (_M.c.last_activity_at < at, at),
                                 else_=_M.c.last_activity_at),
        "expiry_warned_at": None}
    if pending:
        values["pending_points"] = _M.c.pending_points + _by_customer(_M.c.customer_id, pending)
    session.execute(update(_M).where(_M.c.customer_id.in_(sorted(earned))).values(values))


def _record_notices(session: Session, shop_id: int,
                    new: list[tuple[ledger.NewEntry, datetime]],
                    balances: dict[int, int]) -> None:
    """The `points_earned` facts of the new entries (as `notices.record`): each with the
    balance right after its entry."""
    balance = dict(balances)
    facts = []
    for entry, occurred_at in new:
        if entry.status == AVAILABLE:
            balance[entry.customer_id] += entry.points
        facts.append((entry.customer_id, entry.key, occurred_at, {
            "points": entry.points, "status": entry.status, "reason": entry.reason,
            "order_id": entry.order_id,
            "available_at": entry.available_at.isoformat() if entry.available_at else None,
            "balance": balance[entry.customer_id]}))
    record_many(session, shop_id, events.POINTS_EARNED, facts)
