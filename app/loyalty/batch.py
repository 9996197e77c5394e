"""A dispatch batch of the loyalty subscriber, handled set-based where that is safe.

`handle_event` (the per-event path) is the reference: this module gives exactly its results
with a few statements per run of events instead of some twenty per event.

The batch is read once (its orders, their shoppers, which orders have refunds, which shoppers
or orders a referral names) and each event is classed:

- **fast**: ORDER_PAID and ORDER_FULFILLED of an order with no refund recorded and no
  referral waiting for it, CUSTOMER_CREATED when no sign-up bonus is due (only tier entry):
  handled set-based, in runs (`app.loyalty.batch_earning` awards a run,
  `app.loyalty.batch_tiers` moves up whoever it lifts into a higher tier);
- **local**: through `handle_event`, and concerning the event's shopper only: a refund, a
  cancellation, an order whose refunds are already recorded, a sign-up with a bonus;
- **barrier**: through `handle_event` once everything before it is applied and before
  anything after it: whatever may touch another shopper (a referral's credit or its
  reversal), an order whose shopper is not the event's, a kind this module does not know.

Between barriers, the events form **waves** in which no shopper appears twice (a shopper's
n-th event there is in the n-th wave), applied in order: the wave's fast events as one run,
then its local events. Each shopper's events keep their order, and shoppers do not affect
one another there (an award, a reversal, a tier entry concern one member), so applying a
wave's shoppers together is applying them one after the other.

Nothing read at the start changes during the batch: the loyalty handlers write the ledger,
members, timeline and referrals, never orders, refunds or shoppers' e-mail addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent
from app.loyalty import earning, referral_orders, reversals, tier_entry
from app.loyalty.basis import earns
from app.loyalty.batch_earning import Award, award_run
from app.loyalty.batch_tiers import enter_run
from app.loyalty.fraud import canonical_email
from app.loyalty.handling import HANDLERS
from app.loyalty.models import Referral
from app.loyalty.program import Program, read_program
from app.profiles.models import Customer, Order, Refund
from app.shops.models import Shop

EventHandler = Callable[[Session, DomainEvent], None]

# What the per-event path runs for the kinds a run holds; the set-based path does the same.
# Should another handler be registered for these kinds, every event goes one at a time.
_RUN_HANDLERS = {
    events.ORDER_PAID: (earning.on_order, tier_entry.enter_on_event,
                        referral_orders.on_order_paid),
    events.ORDER_FULFILLED: (earning.on_order, tier_entry.enter_on_event),
    events.CUSTOMER_CREATED: (earning.on_customer_created, tier_entry.enter_on_event),
}
# Kinds whose per-event handling concerns the event's shopper only (unless a referral is
# involved: then the advocate too); what else the per-event path runs for them.
_LOCAL_HANDLERS = {
    events.REFUND_CREATED: (reversals.on_refund, referral_orders.on_order_reversed),
    events.ORDER_CANCELLED: (reversals.on_cancelled, referral_orders.on_order_reversed),
}
FAST, LOCAL, BARRIER = "fast", "local", "barrier"


@dataclass
class _Facts:
    """What the batch's order events need, read once per shop."""

    shop: Shop | None
    program: Program
    orders: dict[int, Order]
    known: set[int]  # the event's shopper is a profile of the shop
    refunded: set[str]  # platform order ids with a refund recorded
    referred: set[int]  # order ids whose shopper a referral names
    referral_orders: set[str]  # platform order ids a referral was credited for


def _kinds(table: dict) -> frozenset[str]:
    return frozenset(kind for kind, handlers in table.items()
                     if tuple(HANDLERS.get(kind, ())) == handlers)


def handle_batch(session: Session, events_: list[DomainEvent],
                 handle_event: EventHandler) -> None:
    """Apply `events_` (in log order) exactly as `handle_event` one by one would."""
    fast, local = _kinds(_RUN_HANDLERS), _kinds(_LOCAL_HANDLERS)
    candidates = [e for e in events_ if e.kind in fast | local and e.customer_id is not None]
    facts = {shop_id: _read_facts(session, shop_id,
                                  [e for e in candidates if e.shop_id == shop_id])
             for shop_id in sorted({e.shop_id for e in candidates})}
    segment: list[tuple[DomainEvent, str]] = []

    def flush() -> None:
        for wave in _waves(segment):
            runs = [e for e, how in wave if how == FAST]
            if runs:
                _flush_run(session, facts[runs[0].shop_id], runs)
            for event, how in wave:
                if how == LOCAL:
                    handle_event(session, event)
        segment.clear()

    for event in events_:
        fact = facts.get(event.shop_id)
        how = BARRIER if fact is None else _how(fact, event, fast, local)
        if how == BARRIER:
            flush()
            handle_event(session, event)
            continue
        if segment and segment[0][0].shop_id != event.shop_id:
            flush()
        segment.append((event, how))
    flush()


def _waves(segment: list[tuple[DomainEvent, str]]) -> list[list[tuple[DomainEvent, str]]]:
    """The segment's events as waves in which no shopper appears twice: a shopper's n-th
    event goes in the n-th wave, so each shopper's events keep their order (shoppers do not
    affect one another here)."""
    waves: list[list[tuple[DomainEvent, str]]] = []
    seen: dict[int | None, int] = {}
    for event, how in segment:
        n = seen.get(event.customer_id, 0)
        seen[event.customer_id] = n + 1
        if n == len(waves):
            waves.append([])
        waves[n].append((event, how))
    return waves


def _order_id(event: DomainEvent) -> int | None:
    order_id = (event.data or {}).get("order_id")
    if isinstance(order_id, bool) or not isinstance(order_id, int):
        return None
    return order_id


def _read_facts(session: Session, shop_id: int, batch: list[DomainEvent]) -> _Facts:
    program = read_program(session, shop_id)
    order_ids = sorted({i for i in map(_order_id, batch) if i is not None})
    orders = {o.id: o for o in session.execute(select(Order).where(
        Order.shop_id == shop_id, Order.id.in_(order_ids))).scalars()} if order_ids else {}
    customer_ids = sorted({e.customer_id for e in batch if e.customer_id is not None})
    emails_of = dict(session.execute(select(Customer.id, Customer.email).where(
        Customer.shop_id == shop_id, Customer.id.in_(customer_ids))).all())
    platform_ids = sorted({o.platform_order_id for o in orders.values()})
    refunded = set(session.execute(select(Refund.platform_order_id).distinct().where(
        Refund.shop_id == shop_id, Refund.platform_order_id.in_(platform_ids))).scalars()
    ) if platform_ids else set()
    # The referral handler looks for a referral of the order's or the shopper's address:
    # an order for which one exists goes through it, one event at a time.
    wanted: dict[int, set[str]] = {}
    for event in batch:
        order = orders.get(_order_id(event) or 0)
        if event.kind != events.ORDER_PAID or order is None:
            continue
        found = {canonical_email(order.email), canonical_email(emails_of.get(event.customer_id))}
        found.discard(None)
        if found:
            wanted.setdefault(order.id, set()).update(found)  # type: ignore[arg-type]
    referred: set[int] = set()
    addresses = sorted(set().union(*wanted.values())) if wanted else []
    if addresses:
        named = set(session.execute(select(Referral.friend_email_normalized).where(
            Referral.shop_id == shop_id,
            Referral.friend_email_normalized.in_(addresses))).scalars())
        referred = {order_id for order_id, found in wanted.items() if found & named}
    credited = set(session.execute(select(Referral.platform_order_id).where(
        Referral.shop_id == shop_id, Referral.platform_order_id.in_(platform_ids))).scalars()
    ) if platform_ids else set()
    return _Facts(session.get(Shop, shop_id), program, orders, set(emails_of), refunded,
                  referred, credited)


def _how(facts: _Facts, event: DomainEvent, fast: frozenset[str], local: frozenset[str]
         ) -> str:
    """FAST: the set-based path gives this event exactly what the per-event path gives.
    LOCAL: the per-event path, which concerns the event's shopper only. BARRIER: the
    per-event path, with everything before it applied first and nothing after it begun."""
    if facts.shop is None or event.customer_id is None:
        return BARRIER
    order_id = _order_id(event)
    order = facts.orders.get(order_id) if order_id is not None else None
    if order is not None and order.customer_id is not None \
            and order.customer_id != event.customer_id:
        return BARRIER
    if event.kind in local:
        # Taking back a referral's credit touches the advocate's points.
        credited = order is not None and order.platform_order_id in facts.referral_orders
        return BARRIER if credited else LOCAL
    if event.kind not in fast:
        return BARRIER
    if event.kind == events.CUSTOMER_CREATED:
        # Only tier entry, unless a sign-up bonus is due (`earning.on_customer_created`).
        program = facts.program
        plain = event.ref.startswith("guest:") or not program.enabled or not program.signup_points
        return FAST if plain else LOCAL
    if order is None:
        # No order of the shop: the per-event path awards nothing and finds no referral;
        # only tier entry runs, which the run does too.
        return FAST
    if order.id in facts.referred:
        return BARRIER  # a referral's credit goes to the advocate
    if order.platform_order_id in facts.refunded or order.total_refunded:
        return LOCAL  # the award, then what its refunds returned taken back
    return FAST


def _awards(facts: _Facts, run: list[DomainEvent]) -> list[Award]:
    """The run's events that reach the program's moment (as `earning.on_order` decides)."""
    program = facts.program
    if not program.enabled:
        return []
    out = []
    for event in run:
        if event.kind not in (events.ORDER_PAID, events.ORDER_FULFILLED):
            continue
        if program.award_on == "paid" and event.kind != events.ORDER_PAID:
            continue
        order = facts.orders.get(_order_id(event) or 0)
        if (order is None or order.customer_id is None
                or order.platform_order_id != event.ref or not earns(order)):
            continue
        if program.award_on == "fulfilled" and order.fulfillment_status != "fulfilled":
            continue
        out.append(Award(order, event.occurred_at))
    return out


def _flush_run(session: Session, facts: _Facts, run: list[DomainEvent]) -> None:
    assert facts.shop is not None
    program = facts.program
    award_run(session, facts.shop, program, _awards(facts, run))
    if program.enabled and program.tiers:
        enter_run(session, facts.shop, program,
                  {e.customer_id: e.occurred_at for e in run if e.customer_id in facts.known})
