"""The loyalty subscriber's batch path (`handle_batch`, set-based for runs of order events)
gives exactly what its per-event path (`handle_event`, one event at a time) gives.

Two shops hold the same shoppers and orders under the same program. A random story
(sign-ups, payments, fulfilments, refunds, cancellations, events seen twice, shoppers
ordering again within a batch) happens to both, chunk by chunk as a lagging dispatcher sees
it: a chunk's changes to the orders are made, then its events are handled — on one shop as
one batch, on the other one by one. Ledgers, balances, member caches, tiers, tier changes,
timeline facts, published events and write-back marks must be the same.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app import events
from app.db import db, utcnow
from app.events import DomainEvent
from app.events.models import StoredEvent
from app.loyalty.models import LedgerEntry, LoyaltyMember, TierChange, Writeback
from app.loyalty.program import save_program
from app.loyalty.subscriber import handle_batch, handle_event
from app.profiles.models import Customer, Order, Refund, TimelineEvent

TIERS_BY_SPEND = [{"name": "Bronze", "threshold": "0", "multiplier": "1"},
                  {"name": "Silver", "threshold": "150", "multiplier": "1.25"},
                  {"name": "Gold", "threshold": "400", "multiplier": "2"}]
TIERS_BY_POINTS = [{"name": "Silver", "threshold": "100", "multiplier": "1.5"},
                   {"name": "Gold", "threshold": "300", "multiplier": "3"}]
PROGRAMS = [
    {"award_on": "paid", "first_order_points": 15, "tier_basis": "spend",
     "tier_period": "rolling_12_months", "tiers": TIERS_BY_SPEND},
    {"award_on": "fulfilled", "pending_days": 7, "first_order_points": 0, "signup_points": 10,
     "tier_basis": "points", "tier_period": "lifetime", "tiers": TIERS_BY_POINTS,
     "points_per_unit": "1.5"},
    {"award_on": "paid", "include_shipping": True, "first_order_points": 5,
     "tier_basis": "spend", "tier_period": "calendar_year", "tiers": TIERS_BY_SPEND},
    {"award_on": "paid", "first_order_points": 20, "signup_points": 0},  # no tiers
]


class Store:
    """One shop's copy of the story's shoppers and orders, by index."""

    def __init__(self, shop, shoppers: int, orders: list[tuple[int, Decimal, Decimal]]):
        self.shop_id = shop.id
        self.customers: list[int] = []
        for n in range(shoppers):
            customer = Customer(shop_id=shop.id, platform_customer_id=f"c{n}",
                                email=f"shopper{n}@example.com")
            db.session.add(customer)
            db.session.flush()
            self.customers.append(customer.id)
        self.orders: list[int] = []
        placed = utcnow() - timedelta(days=3)
        for n, (who, merch, ship) in enumerate(orders):
            order = Order(shop_id=shop.id, customer_id=self.customers[who],
                          platform_order_id=f"o{n}", name=f"#{1000 + n}", currency="USD",
                          subtotal=merch, total_shipping=ship, total_price=merch + ship,
                          financial_status="pending", placed_at=placed + timedelta(minutes=n))
            db.session.add(order)
            db.session.flush()
            self.orders.append(order.id)

    def index_of(self, customer_id: int) -> int:
        return self.customers.index(customer_id)


def _story(rng: random.Random, shoppers: int, orders: int) -> list[tuple]:
    """Operations: ("signup", who), ("pay"|"fulfil"|"cancel", order), ("refund", order,
    percent, n), ("again", n): the n-th event so far seen again."""
    ops: list[tuple] = [("signup", n) for n in range(shoppers)]
    rng.shuffle(ops)
    for n in rng.sample(range(orders), orders):
        ops.append(("pay", n))
        if rng.random() < 0.6:
            ops.append(("fulfil", n))
        if rng.random() < 0.2:
            ops.append(("refund", n, rng.choice([30, 100]), len(ops)))
        if rng.random() < 0.1:
            ops.append(("cancel", n))
    rng.shuffle(ops)  # payments after fulfilments, refunds before payments: all happen
    ops[shoppers // 2:shoppers // 2] = [("again", 0), ("again", 3)]
    return ops


def _apply(store: Store, op: tuple, seen: list[DomainEvent], at) -> list[DomainEvent]:
    """Make the operation's change to the shop's rows; the events it publishes."""
    session = db.session
    name = op[0]
    if name == "signup":
        cid = store.customers[op[1]]
        return [DomainEvent(store.shop_id, cid, events.CUSTOMER_CREATED, f"c{op[1]}", at, {})]
    if name == "again":
        return [seen[op[1] % len(seen)]] if seen else []
    order = session.get(Order, store.orders[op[1]])
    data = {"order_id": order.id}
    kind = None
    if name == "pay" and order.financial_status == "pending":
        order.financial_status, kind = "paid", events.ORDER_PAID
    elif name == "fulfil" and order.fulfillment_status is None:
        order.fulfillment_status, kind = "fulfilled", events.ORDER_FULFILLED
    elif name == "cancel" and order.cancelled_at is None:
        order.cancelled_at, kind = at, events.ORDER_CANCELLED
    elif name == "refund" and order.financial_status in ("paid", "partially_refunded"):
        amount = ((order.total_price - order.total_refunded) * op[2] / 100).quantize(
            Decimal("0.01"))
        refund_id = f"r{op[1]}-{op[3]}"
        session.add(Refund(shop_id=store.shop_id, platform_refund_id=refund_id,
                           platform_order_id=order.platform_order_id, amount=amount,
                           refunded_at=at))
        order.total_refunded += amount
        order.financial_status = ("refunded" if order.total_refunded >= order.total_price
                                  else "partially_refunded")
        session.flush()
        return [DomainEvent(store.shop_id, order.customer_id, events.REFUND_CREATED,
                            refund_id, at, data)]
    if kind is None:
        return []
    session.flush()
    return [DomainEvent(store.shop_id, order.customer_id, kind, order.platform_order_id, at,
                        data)]


def _same_refs(value: Any, store: Store, change_ids: dict[int, str]) -> Any:
    """A shop's own ids in a key or ref, as the story's indexes."""
    if isinstance(value, str):
        for prefix in ("first_order:", "tier-change:"):
            if value.startswith(prefix):
                own = int(value[len(prefix):])
                return prefix + (change_ids[own] if prefix == "tier-change:"
                                 else str(store.index_of(own)))
    return value


def _picture(store: Store) -> dict[str, Any]:
    """Everything the program made in the shop, in terms of the story."""
    session = db.session
    session.expire_all()
    shop_id = store.shop_id
    who = store.index_of
    order_index = {oid: n for n, oid in enumerate(store.orders)}
    changes = session.execute(select(TierChange).where(TierChange.shop_id == shop_id)
                              .order_by(TierChange.id)).scalars().all()
    change_ids: dict[int, str] = {}
    per_member: dict[int, int] = {}
    for change in changes:  # the n-th change of a member, whatever its id
        n = per_member[change.customer_id] = per_member.get(change.customer_id, 0) + 1
        change_ids[change.id] = f"{who(change.customer_id)}.{n}"
    rows = {e.id: e for e in session.execute(select(LedgerEntry).where(
        LedgerEntry.shop_id == shop_id)).scalars()}

    def key_of(entry_id: int | None) -> str | None:
        # reversal, release and shortfall keys name the entry they act on by its id
        if entry_id is None:
            return None
        key = _same_refs(rows[entry_id].key, store, change_ids)
        return re.sub(r"^(refund:[^:]+|cancel:[^:]+|release|shortfall):(\d+)",
                      lambda m: f"{m.group(1)}:<{key_of(int(m.group(2)))}>", key)

    ledger = sorted(
        (who(e.customer_id), e.kind, e.points, e.status, key_of(e.id), key_of(e.parent_id),
         e.rate, e.amount, e.reason, e.source, order_index.get(e.order_id),
         e.program_version is not None, e.available_at is not None)
        for e in rows.values())
    members = sorted(
        (who(m.customer_id), m.pending_points, m.lifetime_points, m.tier,
         m.last_activity_at is not None)
        for m in session.execute(select(LoyaltyMember).where(
            LoyaltyMember.shop_id == shop_id)).scalars())
    profiles = sorted((who(c.id), c.points_balance, c.tier) for c in session.execute(
        select(Customer).where(Customer.shop_id == shop_id)).scalars())
    tiers = sorted((who(c.customer_id), change_ids[c.id], c.from_tier, c.to_tier, c.reason,
                    c.basis_value) for c in changes)

    def fact(customer_id, kind, ref, data):
        data = dict(data or {})
        data.pop("available_at", None)  # a moment of its own: present on both or neither
        if "order_id" in data:
            data["order_id"] = order_index.get(data["order_id"])
        return (who(customer_id), kind, _same_refs(ref, store, change_ids), repr(sorted(
            data.items())))

    timeline = sorted(fact(t.customer_id, t.kind, t.ref, t.data) for t in session.execute(
        select(TimelineEvent).where(TimelineEvent.shop_id == shop_id,
                                    TimelineEvent.kind.in_(events.LOYALTY_KINDS))).scalars())
    published = sorted(fact(e.customer_id, e.kind, e.ref, e.data) for e in session.execute(
        select(StoredEvent).where(StoredEvent.shop_id == shop_id,
                                     StoredEvent.kind.in_(events.LOYALTY_KINDS))).scalars())
    due = sorted(who(w.customer_id) for w in session.execute(
        select(Writeback).where(Writeback.shop_id == shop_id)).scalars())
    return {"ledger": ledger, "members": members, "profiles": profiles, "tiers": tiers,
            "timeline": timeline, "published": published, "due": due}


@pytest.mark.parametrize("seed", range(12))
def test_batches_give_what_one_event_at_a_time_gives(shop, other_shop, seed):
    rng = random.Random(seed)
    program = PROGRAMS[seed % len(PROGRAMS)]
    shoppers = rng.randint(3, 9)
    orders = [(rng.randrange(shoppers), Decimal(rng.randint(100, 30_000)) / 100,
               Decimal(rng.choice([0, 499, 1000])) / 100) for _ in range(rng.randint(6, 24))]
    db.session.rollback()
    batched, one_by_one = Store(shop, shoppers, orders), Store(other_shop, shoppers, orders)
    for store in (batched, one_by_one):
        save_program(db.session, store.shop_id, {"enabled": True, **program})
    db.session.commit()
    ops = _story(rng, shoppers, len(orders))
    seen: dict[int, list[DomainEvent]] = {batched.shop_id: [], one_by_one.shop_id: []}
    start = 0
    # future moments for a tier by points (entries count up to the event's moment)
    at = utcnow() + timedelta(hours=1)
    while start < len(ops):
        chunk = ops[start:start + rng.randint(1, 30)]
        start += len(chunk)
        made: dict[int, list[DomainEvent]] = {}
        for store in (batched, one_by_one):
            made[store.shop_id] = [e for op in chunk
                                   for e in _apply(store, op, seen[store.shop_id], at)]
            seen[store.shop_id] += made[store.shop_id]
        db.session.commit()
        handle_batch(db.session, made[batched.shop_id])
        db.session.commit()
        for event in made[one_by_one.shop_id]:
            handle_event(db.session, event)
            db.session.commit()
        at += timedelta(minutes=1)
    picture, reference = _picture(batched), _picture(one_by_one)
    assert picture["ledger"], "the story awarded nothing: it tests nothing"
    for part in reference:
        assert picture[part] == reference[part], part
