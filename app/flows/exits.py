"""When a run stops before its end, and why.

`exit_reason` is asked before every step that reaches the shopper (an email, points, a code,
a tag) and by the sending policy right before a send:

- **the shopper ordered** (flows with `exit_on_order`, and every flow started by a checkout
  or an abandoned cart): the run's checkout or cart converted by an order, whenever it was
  placed, or any order of the same profile or email address placed since the trigger (the
  order that started the run excepted). The order may be stored before or after the
  checkout's own webhook: both orders of arrival are looked up here, in the store's tables,
  so the answer never depends on which subscriber ran first;
- **unsubscribed**, for marketing flows;
- **the profile is gone**: deleted by the store (`deleted_at`), or erased (a redaction
  deletes the row, and its runs with it);
- **the flow's filters no longer hold**.

`exit_runs` stops a shopper's active runs at once (an unsubscribe, a deletion).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.customers.models import CustomerTag
from app.db import insert_for, utcnow
from app.flows import conditions
from app.flows.definition import Plan, trigger_events
from app.flows.models import (
    MARKETING,
    RUN_ACTIVE,
    RUN_EXITED,
    STEP_SKIPPED,
    Flow,
    FlowRun,
    FlowRunStep,
)
from app.flows.service import definition_of
from app.profiles.models import CART_CONVERTED, UNSUBSCRIBED, Cart, Customer, Order
from app.segments.membership import member_of

# Reasons, as stored in `flow_runs.exit_reason` (an order's name is appended).
ORDER_PLACED = "order placed"
UNSUBSCRIBED_REASON = "unsubscribed"
CUSTOMER_DELETED = "customer deleted"
CUSTOMER_REDACTED = "customer redacted"
FILTERS_FAILED = "flow filters no longer hold"
STEP_GONE = "step no longer in the flow's version"

# Triggers after which an order always ends the run: a checkout or cart is only worth
# recovering until it is bought.
CART_TRIGGERS = frozenset({"checkout_started", "cart_abandoned"})


def stops_on_order(definition: dict[str, Any]) -> bool:
    return bool(definition.get("exit_on_order")) or bool(
        trigger_events(definition) & CART_TRIGGERS)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def ordered_since(session: Session, shop_id: int, customer_id: int | None,
                  context: dict[str, Any]) -> str | None:
    """Why an order ends a run started with `context` ("order placed (#1001)"), or None.

    By token, whenever the order was placed: the run's checkout or cart is converted (the
    profile store converts it when the order names it, in either order of arrival). By
    person: an order of the run's profile, or of any profile with the run's email address,
    placed at or after the trigger (`context["since"]`). The trigger's own order
    (`context["order_id"]`) never counts. At most two indexed lookups (carts by token,
    orders by customer), cheap enough to ask before every step."""
    trigger_order = context.get("order_id")
    tokens = [and_(Cart.kind == kind, Cart.token == token)
              for kind, token in (("checkout", context.get("checkout_token")),
                                  ("cart", context.get("cart_token"))) if token]
    if tokens:
        query = (select(Cart.kind, Cart.converted_order_id, Order.name)
                 .outerjoin(Order, Order.id == Cart.converted_order_id)
                 .where(Cart.shop_id == shop_id, Cart.status == CART_CONVERTED, or_(*tokens)))
        if trigger_order is not None:
            query = query.where(or_(Cart.converted_order_id.is_(None),
                                    Cart.converted_order_id != trigger_order))
        converted = session.execute(query.limit(1)).first()
        if converted is not None:
            return f"{ORDER_PLACED} ({converted.name or f'{converted.kind} completed'})"
    email = (context.get("email") or "").strip().lower()
    same_person = []
    if customer_id is not None:
        same_person.append(Customer.id == customer_id)
    if email:
        same_person.append(Customer.email_normalized == email)
    if not same_person:
        return None
    people = select(Customer.id).where(Customer.shop_id == shop_id, or_(*same_person))
    query = select(Order.name).where(Order.shop_id == shop_id, Order.customer_id.in_(people))
    since = _aware(context.get("since"))
    if since is not None:
        query = query.where(Order.placed_at >= since)
    if trigger_order is not None:
        query = query.where(Order.id != trigger_order)
    found = session.execute(query.order_by(Order.placed_at).limit(1)).first()
    if found is None:
        return None
    return f"{ORDER_PLACED} ({found.name})" if found.name else ORDER_PLACED


def fields_of(condition: Any) -> set[str]:
    """The fields a condition (or a list of them) reads."""
    if isinstance(condition, list):
        return set().union(*(fields_of(c) for c in condition)) if condition else set()
    if not isinstance(condition, dict):
        return set()
    for group in ("all", "any"):
        if isinstance(condition.get(group), list):
            return fields_of(condition[group])
    if "not" in condition:
        return fields_of(condition["not"])
    field = condition.get("field")
    return {field} if isinstance(field, str) else set()


def facts_for(session: Session, customer: Customer, event: dict[str, Any],
              now: datetime, *, condition: Any = None) -> conditions.Facts:
    """What filters and splits are checked against: the profile now (its platform tags and
    the merchant's own tags together, and the saved segments it is in) and the trigger's
    facts. Given the `condition` to be checked, the merchant's tags are read only when it
    reads `tags`, and segment membership only for the segments it names (one query)."""
    profile = conditions.profile_facts(customer, now)
    wanted = conditions.segment_ids(condition) if condition is not None else set()
    profile[conditions.SEGMENT_FIELD] = member_of(session, customer.shop_id, customer.id,
                                                  wanted, now)
    if condition is None or "tags" in fields_of(condition):
        merchant_tags = session.execute(select(CustomerTag.tag_normalized).where(
            CustomerTag.customer_id == customer.id)).scalars()
        profile["tags"] = sorted(set(profile["tags"]) | set(merchant_tags))
    return conditions.Facts(profile, event or {})


def exit_reason(session: Session, run: FlowRun, now: datetime, *,
                flow: Flow | None = None,
                definition: dict[str, Any] | None = None) -> str | None:
    """Why `run` must stop now, or None. Reads the store as it is (see the module's list)."""
    customer = session.execute(select(Customer).where(
        Customer.id == run.customer_id, Customer.shop_id == run.shop_id)
    ).scalar_one_or_none()
    if customer is None:
        return CUSTOMER_REDACTED
    if customer.deleted_at is not None:
        return CUSTOMER_DELETED
    flow = flow or session.get(Flow, run.flow_id)
    if definition is None:
        definition = definition_of(session, run.flow_id, run.version) or flow.definition
    if stops_on_order(definition):
        ordered = ordered_since(session, run.shop_id, run.customer_id, run.context or {})
        if ordered is not None:
            return ordered
    if flow.category == MARKETING and customer.email_marketing == UNSUBSCRIBED:
        return UNSUBSCRIBED_REASON
    filters = definition.get("flow_filters") or []
    if filters and not conditions.evaluate(filters, facts_for(
            session, customer, (run.context or {}).get("event", {}), now, condition=filters)):
        return FILTERS_FAILED
    return None


def stop(session: Session, run: FlowRun, reason: str, now: datetime) -> None:
    """End `run` with `reason` (the caller holds its row). The step it was waiting to run is
    recorded as skipped with the same reason, so its history says where and why it ended."""
    if run.step_id is not None:
        definition = definition_of(session, run.flow_id, run.version) or {}
        plan = Plan(definition) if definition.get("steps") else None
        if plan is not None and run.step_id in plan:
            table = FlowRunStep.__table__
            session.execute(insert_for(session, table).values(
                shop_id=run.shop_id, run_id=run.id, step_id=run.step_id,
                step_type=plan.step(run.step_id)["type"], status=STEP_SKIPPED, reason=reason,
                at=now).on_conflict_do_nothing(index_elements=["run_id", "step_id"]))
    run.status = RUN_EXITED
    run.exit_reason = reason
    run.due_at = None
    run.finished_at = now


def exit_runs(session: Session, shop_id: int, customer_id: int, reason: str, *,
              marketing_only: bool = False, now: datetime | None = None) -> int:
    """Stop every active run of this shopper (of marketing flows only, if asked); returns
    how many. Used by the unsubscribe page, consent changes and profile deletions."""
    when = now or utcnow()
    query = select(FlowRun).where(FlowRun.shop_id == shop_id,
                                  FlowRun.customer_id == customer_id,
                                  FlowRun.status == RUN_ACTIVE)
    if marketing_only:
        query = query.where(FlowRun.flow_id.in_(select(Flow.id).where(
            Flow.shop_id == shop_id, Flow.category == MARKETING)))
    runs = session.execute(query.order_by(FlowRun.id).with_for_update()
                           .execution_options(populate_existing=True)).scalars().all()
    for run in runs:
        stop(session, run, reason, when)
    session.flush()
    return len(runs)
