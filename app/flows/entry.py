"""Entering a shopper into a flow: the one gate every run passes.

In order, a shopper enters only if:

1. the flow is live, the store has Sticky installed, and the profile exists (not deleted);
2. the **trigger filters** hold on the triggering event (checked here, once, never again);
3. the **flow filters** hold now (checked again before every step that reaches the shopper);
4. for a flow that stops on an order, the shopper has not already ordered since the trigger
   (an order that reached the store before the checkout's own webhook: the run would only
   exit at its first step, so it never starts);
5. the **re-entry rule** allows it: `reentry_days` NULL, once ever per shopper and flow; N,
   not within N days of their last entry;
6. no run has this (flow, trigger key) yet: a redelivered or replayed trigger starts nothing
   (a database-enforced unique key, so two workers racing enter once).

The shopper's profile row is locked for the check, so two triggers of one shopper handled at
once cannot both pass the re-entry rule. The **holdout** draw happens once, here: a held-out
run goes through its steps like any other, but sends, awards and discounts nothing
(app/flows/runner.py records those steps as held out).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import insert_for
from app.flows import conditions
from app.flows.definition import Plan
from app.flows.exits import facts_for, ordered_since, stops_on_order
from app.flows.models import LIVE, RUN_ACTIVE, RUN_COMPLETED, Flow, FlowRun
from app.profiles.models import Customer
from app.shops.models import Shop

log = logging.getLogger(__name__)

_R = FlowRun.__table__
_random = random.SystemRandom()


def draw() -> float:
    """A uniform number in [0, 100): the holdout draw (tests replace it)."""
    return _random.random() * 100


def in_holdout(flow: Flow) -> bool:
    return bool(flow.holdout_percent) and draw() < flow.holdout_percent


def reentry_blocked(session: Session, flow: Flow, customer_id: int, now: datetime) -> bool:
    """Whether the re-entry rule keeps this shopper out of `flow` now."""
    if flow.reentry_days == 0:  # every trigger enters (each still starts one run)
        return False
    query = select(_R.c.id).where(_R.c.flow_id == flow.id, _R.c.customer_id == customer_id)
    if flow.reentry_days is not None:
        query = query.where(_R.c.entered_at > now - timedelta(days=flow.reentry_days))
    return session.execute(query.limit(1)).first() is not None


def enter(session: Session, flow: Flow, customer_id: int, trigger_key: str,
          context: dict[str, Any], now: datetime) -> FlowRun | None:
    """Start a run of `flow` for the shopper, or None when one of the rules above keeps them
    out. `context` is what the steps and exit conditions read: `event` (the trigger's facts,
    read by `event.<name>` conditions), `since` (ISO time of the trigger), and when known
    `checkout_token`, `cart_token`, `order_id`, `email`. The run's first step is due `now`
    (the caller advances it, or the sweep does). Writes through `session`; commits nothing."""
    if flow.status != LIVE:
        return None
    shop = session.get(Shop, flow.shop_id)
    if shop is None or shop.status != "active":
        return None  # the store uninstalled Sticky
    customer = session.execute(
        select(Customer).where(Customer.id == customer_id, Customer.shop_id == flow.shop_id)
        .with_for_update()).scalar_one_or_none()
    if customer is None or customer.deleted_at is not None:
        return None
    definition = flow.definition  # the current version's (`flows.definition` mirrors it)
    filters = [*(definition.get("trigger_filters") or []),
               *(definition.get("flow_filters") or [])]
    if filters and not conditions.evaluate(filters, facts_for(
            session, customer, context.get("event") or {}, now, condition=filters)):
        return None
    if stops_on_order(definition) and ordered_since(session, flow.shop_id, customer_id,
                                                    context) is not None:
        return None
    if reentry_blocked(session, flow, customer_id, now):
        return None
    first = Plan(definition).first()
    values = {
        "shop_id": flow.shop_id, "flow_id": flow.id, "version": flow.version,
        "customer_id": customer_id, "trigger_key": trigger_key[:160], "context": context,
        "holdout": in_holdout(flow), "entered_at": now,
        "status": RUN_ACTIVE if first else RUN_COMPLETED, "step_id": first,
        "due_at": now if first else None, "finished_at": None if first else now,
    }
    run_id = session.execute(
        insert_for(session, _R).values(**values)
        .on_conflict_do_nothing(index_elements=["flow_id", "trigger_key"])
        .returning(_R.c.id)).scalar()
    if run_id is None:
        return None  # this trigger already started a run
    log.info("flows.run_entered", extra={"shop_id": flow.shop_id, "flow_id": flow.id,
                                         "run_id": run_id, "holdout": values["holdout"]})
    return session.get(FlowRun, run_id)
