"""A flow's figures, per flow, per step and per recipient (the panel's flow list and report,
the API's `stats`).

Definitions (each counted once per message, however often it was opened or clicked; test
sends from the editor never count):
- entered: runs started, holdout included; held_out: the runs drawn into the holdout (they
  receive nothing; see app/flows/holdout.py for what they are compared on);
- sent: messages the mail server accepted (status `sent`); opened / clicked /
  unsubscribed: messages with a first open, click or unsubscribe recorded;
- converted / revenue: orders attributed to the flow (app/flows/attribution.py, last touch),
  and the sum of their totals when placed, as a string decimal in the shop's currency (an
  order's `currency` is the shop's; the shopper's presentment currency is not used).

Per step, `skipped` counts the runs whose step was skipped (a message recorded `skipped`, or
the step's outcome `skipped`), each run once, and `skipped_reasons` says why; `failed` and
`suppressed` are messages the mail server refused or never took.

Each function runs a fixed number of grouped queries, whatever the number of flows or runs.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from app.flows.models import (
    FAILED,
    SENT,
    SKIPPED,
    STEP_DONE,
    STEP_HOLDOUT,
    STEP_SKIPPED,
    SUPPRESSED,
    FlowConversion,
    FlowRun,
    FlowRunStep,
    Message,
)
from app.money import format_money
from app.profiles.models import Customer
from app.shops.models import Shop

ZERO = {"entered": 0, "held_out": 0, "sent": 0, "opened": 0, "clicked": 0, "converted": 0,
        "revenue": "0.00", "unsubscribed": 0}
# A reason's detail in parentheses at its end (the order that ended a run, ...).
_DETAIL = re.compile(r"\s*\([^()]*\)$")
STEP_ZERO = {"sent": 0, "skipped": 0, "failed": 0, "suppressed": 0, "opened": 0,
             "clicked": 0, "unsubscribed": 0, "converted": 0, "revenue": "0.00", "done": 0,
             "held_out": 0, "skipped_reasons": {}}


def _count_if(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)


def _message_counts() -> tuple[Any, ...]:
    return (_count_if(Message.status == SENT).label("sent"),
            _count_if(Message.opened_at.is_not(None)).label("opened"),
            _count_if(Message.clicked_at.is_not(None)).label("clicked"),
            _count_if(Message.unsubscribed_at.is_not(None)).label("unsubscribed"))


def _currency(session: Session, shop_id: int) -> str:
    return session.scalar(select(Shop.currency).where(Shop.id == shop_id)) or "USD"


def _money(amount: Decimal | None, currency: str) -> str:
    return format_money(amount or Decimal("0"), currency) or "0"


def flow_stats(session: Session, shop_id: int, flow_ids: list[int]) -> dict[int, dict[str, Any]]:
    """{flow_id: {"entered", "held_out", "sent", "opened", "clicked", "converted", "revenue",
    "unsubscribed"}} for each of `flow_ids` (zeros for a flow with nothing yet; ids of
    another shop get zeros too: every query is scoped to `shop_id`). Three queries."""
    ids = list(dict.fromkeys(flow_ids))
    result = {flow_id: dict(ZERO) for flow_id in ids}
    if not ids:
        return result
    currency = _currency(session, shop_id)
    for row in session.execute(
            select(FlowRun.flow_id, func.count().label("entered"),
                   _count_if(FlowRun.holdout.is_(True)).label("held_out"))
            .where(FlowRun.shop_id == shop_id, FlowRun.flow_id.in_(ids))
            .group_by(FlowRun.flow_id)):
        result[row.flow_id].update(entered=row.entered, held_out=row.held_out)
    for row in session.execute(
            select(Message.flow_id, *_message_counts())
            .where(Message.shop_id == shop_id, Message.flow_id.in_(ids),
                   Message.test.is_(False))
            .group_by(Message.flow_id)):
        result[row.flow_id].update(sent=row.sent, opened=row.opened, clicked=row.clicked,
                                   unsubscribed=row.unsubscribed)
    for row in session.execute(
            select(FlowConversion.flow_id, func.count().label("converted"),
                   func.sum(FlowConversion.revenue).label("revenue"))
            .where(FlowConversion.shop_id == shop_id, FlowConversion.flow_id.in_(ids))
            .group_by(FlowConversion.flow_id)):
        result[row.flow_id].update(converted=row.converted,
                                   revenue=_money(row.revenue, currency))
    return result


def step_stats(session: Session, shop_id: int, flow_id: int) -> dict[str, dict[str, Any]]:
    """{step_id: {"sent", "skipped", "failed", "suppressed", "opened", "clicked",
    "unsubscribed", "converted", "revenue", "done", "held_out", "skipped_reasons":
    {reason: n}}} for every step something happened at, over all the flow's versions.
    Five queries."""
    currency = _currency(session, shop_id)
    result: dict[str, dict[str, Any]] = {}

    def at(step_id: str | None) -> dict[str, Any]:
        key = step_id or ""
        if key not in result:
            result[key] = {**STEP_ZERO, "skipped_reasons": {}}
        return result[key]

    for row in session.execute(
            select(Message.step_id, *_message_counts(),
                   _count_if(Message.status == FAILED).label("failed"),
                   _count_if(Message.status == SUPPRESSED).label("suppressed"))
            .where(Message.shop_id == shop_id, Message.flow_id == flow_id,
                   Message.test.is_(False))
            .group_by(Message.step_id)):
        at(row.step_id).update(sent=row.sent, opened=row.opened, clicked=row.clicked,
                               unsubscribed=row.unsubscribed, failed=row.failed,
                               suppressed=row.suppressed)
    for row in session.execute(
            select(FlowRunStep.step_id, _count_if(FlowRunStep.status == STEP_DONE).label("done"),
                   _count_if(FlowRunStep.status == STEP_HOLDOUT).label("held_out"))
            .join(FlowRun, FlowRun.id == FlowRunStep.run_id)
            .where(FlowRunStep.shop_id == shop_id, FlowRun.flow_id == flow_id)
            .group_by(FlowRunStep.step_id)):
        at(row.step_id).update(done=row.done, held_out=row.held_out)
    # A skip may be recorded on the message, on the step's outcome, or both: each run once.
    skips = union_all(
        select(Message.step_id.label("step_id"), Message.run_id.label("run_id"),
               Message.reason.label("reason"))
        .where(Message.shop_id == shop_id, Message.flow_id == flow_id,
               Message.test.is_(False), Message.status == SKIPPED),
        select(FlowRunStep.step_id, FlowRunStep.run_id, FlowRunStep.reason)
        .join(FlowRun, FlowRun.id == FlowRunStep.run_id)
        .where(FlowRunStep.shop_id == shop_id, FlowRun.flow_id == flow_id,
               FlowRunStep.status == STEP_SKIPPED),
    ).subquery()
    for row in session.execute(select(skips.c.step_id, func.count(skips.c.run_id.distinct()))
                               .group_by(skips.c.step_id)):
        at(row[0])["skipped"] = row[1]
    reason = func.coalesce(skips.c.reason, literal("no reason recorded"))
    for row in session.execute(select(skips.c.step_id, reason.label("reason"),
                                      func.count(skips.c.run_id.distinct()))
                               .group_by(skips.c.step_id, reason)):
        # "order placed (#1001)" and "order placed (#1002)" are one reason to the merchant.
        reasons = at(row[0])["skipped_reasons"]
        general = _DETAIL.sub("", row[1])
        reasons[general] = reasons.get(general, 0) + row[2]
    for row in session.execute(
            select(FlowConversion.step_id, func.count().label("converted"),
                   func.sum(FlowConversion.revenue).label("revenue"))
            .where(FlowConversion.shop_id == shop_id, FlowConversion.flow_id == flow_id)
            .group_by(FlowConversion.step_id)):
        at(row.step_id).update(converted=row.converted, revenue=_money(row.revenue, currency))
    return result


def recipients(session: Session, shop_id: int, flow_id: int,
               limit: int = 50) -> list[dict[str, Any]]:
    """The flow's recipients, most revenue first (then most emails sent): [{"customer_id",
    "email", "sent", "opened", "clicked", "converted", "revenue"}], at most `limit`. One
    query."""
    limit = max(1, min(int(limit), 500))
    currency = _currency(session, shop_id)
    mailed = (select(Message.customer_id.label("customer_id"), *_message_counts())
              .where(Message.shop_id == shop_id, Message.flow_id == flow_id,
                     Message.test.is_(False), Message.customer_id.is_not(None))
              .group_by(Message.customer_id).subquery())
    earned = (select(FlowConversion.customer_id.label("customer_id"),
                     func.count().label("converted"),
                     func.sum(FlowConversion.revenue).label("revenue"))
              .where(FlowConversion.shop_id == shop_id, FlowConversion.flow_id == flow_id)
              .group_by(FlowConversion.customer_id).subquery())
    revenue = func.coalesce(earned.c.revenue, 0)
    rows = session.execute(
        select(mailed, Customer.email, func.coalesce(earned.c.converted, 0).label("converted"),
               revenue.label("revenue"))
        .join(Customer, (Customer.id == mailed.c.customer_id) & (Customer.shop_id == shop_id))
        .outerjoin(earned, earned.c.customer_id == mailed.c.customer_id)
        .order_by(revenue.desc(), mailed.c.sent.desc(), mailed.c.customer_id)
        .limit(limit))
    return [{"customer_id": row.customer_id, "email": row.email, "sent": row.sent,
             "opened": row.opened, "clicked": row.clicked, "unsubscribed": row.unsubscribed,
             "converted": row.converted, "revenue": _money(row.revenue, currency)}
            for row in rows]
