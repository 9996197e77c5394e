"""The flow engine as a domain-event subscriber ("flows" in app/subscribers.py).

For each event, in the dispatcher's transaction (which also moves the flows cursor, so a
replay or a retry finds every effect already made):

- **exits first**: an `order_placed` stops the runs it ends (abandoned checkout by checkout
  or cart token, profile or email; any `exit_on_order` flow), whichever of the order and the
  checkout arrived first; an `email_marketing_changed` to unsubscribed stops the shopper's
  marketing runs. The runner asks the same questions again before every step that reaches
  the shopper, so a run never depends on this subscriber having seen the event yet;
- **then entries**: every live flow of the shop triggered by this kind of event enters the
  shopper (`app.flows.entry.enter`), under the trigger's natural key: "checkout:<token>" for
  a checkout, "event:<event id>" otherwise. A new run's first steps are run after commit by
  `jobs.flows.advance_run` (and by the sweep if that job is lost).

`merge` moves a guest profile's runs and messages onto the profile it is merged into.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import events
from app.db import after_commit, utcnow
from app.events import DomainEvent, Subscriber
from app.flows import entry, exits
from app.flows.definition import trigger_events
from app.flows.models import (
    LIVE,
    RUN_ACTIVE,
    EmailEngagement,
    Flow,
    FlowRun,
    Message,
    SurveyResponse,
)
from app.profiles.models import UNSUBSCRIBED, Cart, Customer, Order

log = logging.getLogger(__name__)


def trigger_key(event: DomainEvent) -> str:
    if event.kind == events.CHECKOUT_STARTED:
        return f"checkout:{event.ref}"
    return f"event:{event.id}"


def run_context(session: Session, event: DomainEvent) -> dict[str, Any]:
    """What the run keeps of its trigger: the event's facts, when it happened, and the
    checkout, cart, order and email its exit conditions match orders by."""
    context: dict[str, Any] = {
        "event": {**(event.data or {}), "kind": event.kind, "ref": event.ref},
        "event_id": event.id, "since": event.occurred_at.isoformat(),
    }
    email = session.execute(select(Customer.email).where(
        Customer.id == event.customer_id)).scalar()
    checkout_token = None
    if event.kind == events.CHECKOUT_STARTED:
        checkout_token = event.ref
    elif event.kind == events.CART_ABANDONED and event.ref.startswith("checkout:"):
        checkout_token = event.ref.split(":", 1)[1]
    if checkout_token:
        cart = session.execute(select(Cart.token, Cart.cart_token, Cart.email).where(
            Cart.shop_id == event.shop_id, Cart.kind == "checkout",
            Cart.token == checkout_token)).first()
        context["checkout_token"] = checkout_token
        if cart is not None:
            context["cart_token"] = cart.cart_token
            email = cart.email or email
    elif event.kind == events.CART_ABANDONED and event.ref.startswith("cart:"):
        context["cart_token"] = event.ref.split(":", 1)[1]
    order_id = (event.data or {}).get("order_id")
    if order_id is not None:
        context["order_id"] = order_id
    context["email"] = email
    return context


def _enqueue_advance(run_ids: list[int]) -> None:
    from redis.exceptions import RedisError

    from app.queue import get_queue

    try:
        queue = get_queue("default")
        for run_id in run_ids:
            queue.enqueue("jobs.flows.advance_run", run_id, job_timeout=300, result_ttl=600)
    except RedisError:
        # The sweep advances due runs whatever became of the queue: a minute late, not lost.
        log.warning("flows.advance_enqueue_failed", extra={"run_ids": run_ids}, exc_info=True)


def live_flows(session: Session, shop_id: int) -> list[Flow]:
    return list(session.execute(select(Flow).where(Flow.shop_id == shop_id,
                                                   Flow.status == LIVE)
                                .order_by(Flow.id)).scalars())


def exit_on_order(session: Session, event: DomainEvent, now: datetime) -> int:
    """Stop the active runs this order ends; returns how many."""
    if session.execute(select(FlowRun.id).where(FlowRun.shop_id == event.shop_id,
                                                FlowRun.status == RUN_ACTIVE)
                       .limit(1)).first() is None:
        return 0  # nothing to stop (most events of a shop without flows)
    order_id = (event.data or {}).get("order_id")
    order = session.get(Order, order_id) if order_id is not None else None
    people = {event.customer_id}
    email = session.execute(select(Customer.email_normalized).where(
        Customer.id == event.customer_id)).scalar()
    if email:
        people.update(session.execute(select(Customer.id).where(
            Customer.shop_id == event.shop_id, Customer.email_normalized == email)).scalars())
    if order is not None:
        tokens = [t for t in (order.checkout_token, order.cart_token) if t]
        if tokens:
            people.update(c for c in session.execute(select(Cart.customer_id).where(
                Cart.shop_id == event.shop_id, Cart.token.in_(tokens))).scalars() if c)
    runs = session.execute(select(FlowRun).where(
        FlowRun.shop_id == event.shop_id, FlowRun.customer_id.in_(sorted(people)),
        FlowRun.status == RUN_ACTIVE).with_for_update()
        .execution_options(populate_existing=True)).scalars().all()
    stopped = 0
    for run in runs:
        reason = exits.exit_reason(session, run, now)
        if reason is not None and reason.startswith(exits.ORDER_PLACED):
            exits.stop(session, run, reason, now)
            stopped += 1
    return stopped


def handle_event(session: Session, event: DomainEvent) -> None:
    _handle(session, event, live_flows(session, event.shop_id))


def handle_batch(session: Session, events_: list[DomainEvent]) -> None:
    """A dispatch batch (one shop's events, in order): the same effects as `handle_event`
    one by one, reading the shop's live flows once."""
    flows: dict[int, list[Flow]] = {}
    for event in events_:
        if event.shop_id not in flows:
            flows[event.shop_id] = live_flows(session, event.shop_id)
        _handle(session, event, flows[event.shop_id])


def _handle(session: Session, event: DomainEvent, shop_flows: list[Flow]) -> None:
    now = utcnow()
    if event.kind == events.ORDER_PLACED:
        exit_on_order(session, event, now)
    elif event.kind == events.EMAIL_MARKETING_CHANGED:
        if (event.data or {}).get("email_marketing") == UNSUBSCRIBED:
            exits.exit_runs(session, event.shop_id, event.customer_id,
                            exits.UNSUBSCRIBED_REASON, marketing_only=True, now=now)
    flows = [flow for flow in shop_flows if event.kind in trigger_events(flow.definition or {})]
    if not flows:
        return
    key = trigger_key(event)
    context = run_context(session, event)
    for flow in flows:
        run = entry.enter(session, flow, event.customer_id, key, context, now)
        if run is not None and run.status == RUN_ACTIVE:
            after_commit(session, "flows.advance", [run.id], _enqueue_advance)


def merge(session: Session, shop_id: int, guest_id: int, into_id: int) -> None:
    """A guest's runs, messages and what hangs on them now belong to the merged profile
    (attributed orders are moved by the attribution subscriber, which owns them)."""
    for model in (FlowRun, Message, EmailEngagement, SurveyResponse):
        session.execute(update(model).where(model.shop_id == shop_id,
                                            model.customer_id == guest_id)
                        .values(customer_id=into_id)
                        .execution_options(synchronize_session=False))


WANTED = frozenset(events.KINDS)

SUBSCRIBER = Subscriber("flows", handle_event, kinds=WANTED, merge=merge,
                        batch_handler=handle_batch)
