"""A dispatch batch of the loyalty subscriber, handled set-based where that is safe.

`handle_event` (the per-event path) is the reference: this module gives exactly its results
with a few statements per run of events instead of some twenty per event.

The batch is read once (its orders, their shoppers, which orders have refunds, which shoppers
a referral names) and split, in log order, into **segments**: consecutive ORDER_PAID and
ORDER_FULFILLED events of one shop (and CUSTOMER_CREATED when no sign-up bonus is due:
only tier entry). Every other event goes through `handle_event`, in its
place, after the segment before it was applied: a refund, a cancellation, a sign-up, an
order with refunds already recorded, an order a referral may be waiting for, an order whose
shopper is not the event's. A segment is applied as **runs** in which no shopper appears
twice (a shopper's n-th event of the segment is in its n-th run, so each shopper's events
keep their order), each run set-based: `app.loyalty.batch_earning` awards it,
`app.loyalty.batch_tiers` moves up whoever its orders lift into a higher tier. Within a
segment shoppers do not affect one another (an award, a tier entry concern one member), so
applying a run's shoppers together is applying them one after the other.

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
from app.loyalty import earning, referral_orders, tier_entry
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


@dataclass
class _Facts:
    """What the batch's order events need, read once per shop."""

    shop: Shop | None
    program: Program
    orders: dict[int, Order]
    known: set[int]  # the event's shopper is a profile of the shop
    refunded: set[str]  # platform order ids with a refund recorded
    referred: set[int]  # order ids whose shopper a referral names


def _set_based_kinds() -> frozenset[str]:
    return frozenset(kind for kind, handlers in _RUN_HANDLERS.items()
                     if tuple(HANDLERS.get(kind, ())) == handlers)


def handle_batch(session: Session, events_: list[DomainEvent],
                 handle_event: EventHandler) -> None:
    """Apply `events_` (in log order) exactly as `handle_event` one by one would."""
    kinds = _set_based_kinds()
    candidates = [e for e in events_ if e.kind in kinds and e.customer_id is not None]
    facts = {shop_id: _read_facts(session, shop_id,
                                  [e for e in candidates if e.shop_id == shop_id])
             for shop_id in sorted({e.shop_id for e in candidates})}
    segment: list[DomainEvent] = []

    def flush() -> None:
        if segment:
            for run in _runs(segment):
                _flush_run(session, facts[run[0].shop_id], run)
            segment.clear()

    for event in events_:
        fact = facts.get(event.shop_id)
        if fact is None or event.kind not in kinds or not _plain(fact, event):
            flush()
            handle_event(session, event)
            continue
        if segment and segment[0].shop_id != event.shop_id:
            flush()
        segment.append(event)
    flush()


def _runs(segment: list[DomainEvent]) -> list[list[DomainEvent]]:
    """The segment's events as runs in which no shopper appears twice: a shopper's n-th
    event goes in the n-th run, so each shopper's events keep their order (shoppers do not
    affect one another here)."""
    runs: list[list[DomainEvent]] = []
    seen: dict[int | None, int] = {}
    for event in segment:
        n = seen.get(event.customer_id, 0)
        seen[event.customer_id] = n + 1
        if n == len(runs):
            runs.append([])
        runs[n].append(event)
    return runs


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
    return _Facts(session.get(Shop, shop_id), program, orders, set(emails_of), refunded,
                  referred)


def _plain(facts: _Facts, event: DomainEvent) -> bool:
    """Whether the set-based path gives this event exactly what the per-event path does."""
    if facts.shop is None:
        return False
    if event.kind == events.CUSTOMER_CREATED:
        # Only tier entry, unless a sign-up bonus is due (`earning.on_customer_created`).
        program = facts.program
        return (event.ref.startswith("guest:") or not program.enabled
                or not program.signup_points)
    order_id = _order_id(event)
    order = facts.orders.get(order_id) if order_id is not None else None
    if order is None:
        # No order of the shop: the per-event path awards nothing and finds no referral;
        # only tier entry runs, which the run does too.
        return True
    if order.id in facts.referred:
        return False
    if order.customer_id is not None and order.customer_id != event.customer_id:
        return False
    return (order.platform_order_id not in facts.refunded and not order.total_refunded)


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
