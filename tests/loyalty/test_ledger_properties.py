"""Property: whatever happens to a shopper's orders and in whatever order (payments,
fulfilments, cancellations, partial and full refunds, the same event twice, redemptions,
expiries, releases of pending points, the earning rate changed in between), the ledger holds:

- every balance is the sum of the ledger (available, pending and earned);
- under "floor_zero" the balance never goes below zero;
- each order's purchase award nets to points_for(its basis × the share of its money kept, the
  rate it was awarded at), nothing once cancelled; its first-order bonus nets to the bonus
  unless the order was cancelled or fully refunded.

The events are the profile store's own kinds, built from real order and refund rows, and go
through the loyalty subscriber's real `handle_event`, or its `handle_batch` (the path the
dispatcher takes, set-based for paid and fulfilled orders).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import case, func, select

from app import events
from app.db import db, utcnow
from app.events import DomainEvent
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.loyalty.program import points_for, program_at, save_program
from app.loyalty.release import release_due
from app.loyalty.subscriber import handle_batch, handle_event
from app.profiles.models import Customer, Order, Refund

_ids = itertools.count(1)
RATES = ["0.5", "1", "1.25", "3"]



@st.composite
def scenarios(draw) -> tuple[list[tuple[int, int]], list[tuple]]:
    """(orders as (cents, shipping cents), operations): each order's own story (paid, maybe
    fulfilled first or after, refunded in parts, cancelled, its events repeated), the
    shopper's spending, releases and rate changes, interleaved at random."""
    orders = draw(st.lists(st.tuples(st.integers(1, 50_000), st.sampled_from([0, 499, 1000])),
                           min_size=1, max_size=4))
    streams: list[list[tuple]] = []
    for i in range(len(orders)):
        story: list[tuple] = [("pay", i)]
        # what follows the payment: refunds, a cancellation, repeats, and the shopper
        # spending (or losing to expiry) what they have, pending points released between
        story += draw(st.lists(st.one_of(
            st.tuples(st.just("refund"), st.just(i), st.integers(1, 100)),
            st.tuples(st.just("cancel"), st.just(i)),
            st.tuples(st.just("duplicate"), st.integers(0, 40)),
            st.tuples(st.just("release")),
            st.tuples(st.just("redeem"), st.integers(1, 100))), max_size=6))
        if draw(st.booleans()):  # fulfilled at any moment, before its payment or after
            story.insert(draw(st.integers(0, len(story))), ("fulfil", i))
        streams.append(story)
    streams.append(draw(st.lists(st.one_of(
        st.tuples(st.just("redeem"), st.integers(1, 100)),
        st.tuples(st.just("expire"), st.integers(1, 100)),
        st.tuples(st.just("release")),
        st.tuples(st.just("duplicate"), st.integers(0, 40)),
        st.tuples(st.just("rate"), st.sampled_from(RATES))), max_size=12)))
    operations: list[tuple] = []
    while any(streams):
        pick = draw(st.sampled_from([n for n, stream in enumerate(streams) if stream]))
        operations.append(streams[pick].pop(0))
    return orders, operations


programs = st.fixed_dictionaries({
    "negative_balance": st.sampled_from(["allow", "floor_zero"]),
    "award_on": st.sampled_from(["paid", "fulfilled"]),
    "pending_days": st.sampled_from([0, 7]),
    "first_order_points": st.sampled_from([0, 15]),
    "include_shipping": st.booleans(),
    "points_per_unit": st.sampled_from(RATES),
})


@dataclass
class World:
    shop_id: int
    customer_id: int
    policy: str
    batched: bool = False  # events through the subscriber's batch path
    rates: dict[int, Decimal] = field(default_factory=dict)  # program version → its rate
    orders: list[int] = field(default_factory=list)
    handled: list[DomainEvent] = field(default_factory=list)


def _event(world: World, kind: str, ref: str, order_id: int) -> None:
    event = DomainEvent(world.shop_id, world.customer_id, kind, ref, utcnow(),
                        {"order_id": order_id}, id=len(world.handled) + 1)
    _handle(world, event)


def _handle(world: World, event: DomainEvent) -> None:
    if world.batched:
        handle_batch(db.session, [event])
    else:
        handle_event(db.session, event)
    db.session.commit()
    world.handled.append(event)


def _spend(world: World, kind: str, percent: int) -> None:
    """Spend (or expire) `percent` of what is spendable, as the rewards and expiry modules
    do: under the member's lock, never more than is spendable."""
    ledger.lock_member(db.session, world.shop_id, world.customer_id)
    spendable = ledger.spendable(db.session, world.shop_id, world.customer_id)
    points = max(1, spendable * percent // 100)
    if spendable < points:
        db.session.rollback()
        return
    ledger.append(db.session, world.shop_id, ledger.NewEntry(
        customer_id=world.customer_id, kind=kind, points=-points, reason=kind,
        source="reward" if kind == "redeem" else "expiry", key=f"{kind}:{next(_ids)}"))
    db.session.commit()


def apply(world: World, op: tuple) -> None:
    name = op[0]
    session = db.session
    if name in ("pay", "fulfil", "cancel", "refund"):
        order = session.get(Order, world.orders[op[1]])
        if name == "pay" and order.financial_status == "pending":
            order.financial_status = "paid"
            session.commit()
            _event(world, events.ORDER_PAID, order.platform_order_id, order.id)
        elif name == "fulfil" and order.fulfillment_status is None:
            order.fulfillment_status = "fulfilled"
            session.commit()
            _event(world, events.ORDER_FULFILLED, order.platform_order_id, order.id)
        elif name == "cancel" and order.cancelled_at is None:
            order.cancelled_at = utcnow()
            session.commit()
            _event(world, events.ORDER_CANCELLED, order.platform_order_id, order.id)
        elif name == "refund" and order.financial_status in ("paid", "partially_refunded"):
            left = order.total_price - order.total_refunded
            amount = max(Decimal("0.01"), (left * op[2] / 100).quantize(
                Decimal("0.01"), rounding=ROUND_DOWN))
            refund_id = f"r{next(_ids)}"
            session.add(Refund(shop_id=world.shop_id, platform_refund_id=refund_id,
                               platform_order_id=order.platform_order_id, amount=amount,
                               refunded_at=utcnow()))
            order.total_refunded += amount
            order.financial_status = ("refunded" if order.total_refunded >= order.total_price
                                      else "partially_refunded")
            session.commit()
            _event(world, events.REFUND_CREATED, refund_id, order.id)
    elif name == "duplicate" and world.handled:
        _handle(world, world.handled[op[1] % len(world.handled)])
    elif name in ("redeem", "expire"):
        _spend(world, name, op[1])
    elif name == "release":
        session.commit()
        release_due(session, now=utcnow() + timedelta(days=30))
    elif name == "rate":
        save_program(session, world.shop_id, {"points_per_unit": op[1]})
        session.commit()


def check(world: World, program: dict) -> None:
    first_order_points = program["first_order_points"]
    session = db.session
    session.expire_all()
    entries = LedgerEntry.__table__
    available, pending, earned = session.execute(select(
        func.coalesce(func.sum(case((entries.c.status == "available", entries.c.points),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((entries.c.status == "pending", entries.c.points),
                                    (entries.c.kind == "release", -entries.c.points),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((entries.c.kind.in_(ledger.EARNED_KINDS),
                                     entries.c.points), else_=0)), 0),
    ).where(entries.c.customer_id == world.customer_id)).one()
    balance = session.get(Customer, world.customer_id).points_balance
    member = session.get(LoyaltyMember, world.customer_id)
    assert balance == available
    if member is not None:
        assert (member.pending_points, member.lifetime_points) == (pending, earned)
    assert pending >= 0
    if world.policy == "floor_zero":
        assert balance >= 0
    rows = session.execute(select(entries).where(entries.c.customer_id == world.customer_id)
                           ).all()
    for order_id in world.orders:
        order = session.get(Order, order_id)
        basis = min(order.subtotal + (order.total_shipping if program["include_shipping"]
                                      else 0), order.total_price)
        awards = [r for r in rows if r.order_id == order_id and r.parent_id is None]
        due = (order.cancelled_at is None and order.financial_status != "pending"
               and (program["award_on"] == "paid" or order.fulfillment_status == "fulfilled"))
        if due and points_for(basis, Decimal(min(RATES, key=Decimal))) > 0:
            assert any(a.key.startswith("order:") for a in awards), order.platform_order_id
        for award in awards:
            net = award.points + sum(r.points for r in rows
                                     if r.parent_id == award.id and r.kind == "reverse")
            if award.key.startswith("order:"):
                kept = Decimal(0) if order.cancelled_at else \
                    1 - order.total_refunded / order.total_price
                assert net == points_for(award.amount * kept, award.rate), award.key
                assert award.points == points_for(award.amount, award.rate)
                # on the money paid, at the rate of the program version it names
                assert award.amount == basis
                if award.program_version not in world.rates:
                    rule = program_at(session, world.shop_id, award.program_version)
                    assert rule is not None
                    world.rates[award.program_version] = rule.points_per_unit
                assert award.rate == world.rates[award.program_version]
            for release in (r for r in rows if r.parent_id == award.id and r.kind == "release"):
                # what was taken back before the release is never released
                before = sum(r.points for r in rows if r.parent_id == award.id
                             and r.kind == "reverse" and r.id < release.id)
                assert release.points == award.points + before
            if not award.key.startswith("order:"):
                gone = order.cancelled_at is not None or \
                    order.total_refunded >= order.total_price
                assert net == (0 if gone else first_order_points)
    # at most one purchase award per order, at most one first-order bonus
    keys = [r.key for r in rows if r.parent_id is None and r.kind in ("earn", "pending")]
    assert len(keys) == len(set(keys))
    assert sum(k.startswith("first_order:") for k in keys) <= 1


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(program=programs, scenario=scenarios(), batched=st.booleans())
def test_the_ledger_always_adds_up(shop, program, scenario, batched):
    orders, ops = scenario
    db.session.rollback()
    save_program(db.session, shop.id, {"enabled": True, **program})
    customer = Customer(shop_id=shop.id, platform_customer_id=str(next(_ids)))
    db.session.add(customer)
    db.session.flush()
    world = World(shop.id, customer.id, program["negative_balance"], batched)
    placed = utcnow()
    for n, (cents, shipping) in enumerate(orders):
        merch, ship = Decimal(cents) / 100, Decimal(shipping) / 100
        order = Order(shop_id=shop.id, customer_id=customer.id,
                      platform_order_id=str(next(_ids)), name=f"#{next(_ids)}", currency="USD",
                      subtotal=merch, total_shipping=ship, total_price=merch + ship,
                      financial_status="pending", placed_at=placed + timedelta(minutes=n))
        db.session.add(order)
        db.session.flush()
        world.orders.append(order.id)
    db.session.commit()
    for op in ops:
        apply(world, op)
        check(world, program)
