"""Rows for the attribution, figures, holdout and backtest tests: a flow made by the flow
service, and the runs, messages, engagement and orders the engine, the sender and the
profile store would have written (built here directly, at chosen times)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.flows.models import (
    SENT,
    EmailEngagement,
    Flow,
    FlowRun,
    FlowRunStep,
    Message,
)
from app.flows.service import create_flow
from app.profiles.models import Customer, Order, TimelineEvent
from app.shops.models import Shop
from tests.customer_helpers import customer_row

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
_serial = itertools.count(1)

TWO_EMAILS = [
    {"id": "first", "type": "email", "subject": "Welcome", "html": "<p>Hello</p>"},
    {"id": "pause", "type": "wait", "minutes": 3 * 24 * 60},
    {"id": "second", "type": "email", "subject": "Still there?", "html": "<p>Again</p>"},
]


def days(n: float) -> timedelta:
    return timedelta(days=n)


def make_flow(session: Session, shop: Shop, *, name: str = "Welcome",
              steps: list[dict[str, Any]] | None = None, trigger: Any = None,
              **fields: Any) -> Flow:
    data = {"name": name, "trigger": trigger or {"type": "event", "event": "customer_created"},
            "steps": TWO_EMAILS if steps is None else steps, **fields}
    return create_flow(session, shop.id, data)


def shopper(session: Session, shop: Shop, **fields: Any) -> Customer:
    fields.setdefault("email_marketing", "subscribed")
    return customer_row(session, shop, **fields)


def run_of(session: Session, flow: Flow, customer: Customer, entered_at: datetime, *,
           holdout: bool = False, status: str = "completed", **fields: Any) -> FlowRun:
    run = FlowRun(shop_id=flow.shop_id, flow_id=flow.id, version=flow.version,
                  customer_id=customer.id, trigger_key=f"test:{next(_serial)}",
                  context={}, holdout=holdout, status=status, entered_at=entered_at, **fields)
    session.add(run)
    session.flush()
    return run


def message_of(session: Session, run: FlowRun, step_id: str, *, sent_at: datetime,
               status: str = SENT, opened_at: datetime | None = None,
               clicked_at: datetime | None = None, unsubscribed_at: datetime | None = None,
               reason: str | None = None, test: bool = False) -> Message:
    customer = session.get(Customer, run.customer_id)
    message = Message(shop_id=run.shop_id, flow_id=run.flow_id, run_id=run.id, step_id=step_id,
                      customer_id=run.customer_id, to_email=customer.email, subject="Hi",
                      status=status, reason=reason, test=test, created_at=sent_at,
                      sent_at=sent_at if status == SENT else None, opened_at=opened_at,
                      clicked_at=clicked_at, unsubscribed_at=unsubscribed_at)
    session.add(message)
    session.flush()
    if opened_at is not None:
        engage(session, message, "open", opened_at)
    if clicked_at is not None:
        engage(session, message, "click", clicked_at)
    return message


def engage(session: Session, message: Message, kind: str, at: datetime) -> EmailEngagement:
    row = EmailEngagement(shop_id=message.shop_id, message_pk=message.id,
                          customer_id=message.customer_id, kind=kind, at=at,
                          url="https://sticky-test.myshopify.com/" if kind == "click" else None)
    session.add(row)
    session.flush()
    return row


def step_outcome(session: Session, run: FlowRun, step_id: str, status: str,
                 reason: str | None = None, step_type: str = "email") -> FlowRunStep:
    row = FlowRunStep(shop_id=run.shop_id, run_id=run.id, step_id=step_id,
                      step_type=step_type, status=status, reason=reason, at=run.entered_at)
    session.add(row)
    session.flush()
    return row


def order_of(session: Session, customer: Customer, placed_at: datetime, total: str = "100.00",
             *, currency: str = "USD", test: bool = False, record: bool = False) -> Order:
    """An order as the profile store keeps it; `record` also puts its `order_placed` fact
    on the shopper's timeline (what the backtest reads)."""
    n = next(_serial)
    order = Order(shop_id=customer.shop_id, customer_id=customer.id,
                  platform_order_id=str(9_100_000_000_000 + n), name=f"#{1000 + n}",
                  email=customer.email, currency=currency, total_price=Decimal(total),
                  subtotal=Decimal(total), financial_status="paid", test=test,
                  placed_at=placed_at)
    session.add(order)
    session.flush()
    if record:
        fact(session, customer, "order_placed", placed_at, ref=order.platform_order_id,
             data={"order_id": order.id, "total_price": total, "currency": currency})
    return order


def fact(session: Session, customer: Customer, kind: str, at: datetime, *,
         ref: str | None = None, data: dict[str, Any] | None = None) -> TimelineEvent:
    """A timeline row: a domain event as the shop's log keeps it for each shopper."""
    row = TimelineEvent(shop_id=customer.shop_id, customer_id=customer.id, kind=kind,
                        ref=ref or f"{kind}:{next(_serial)}", occurred_at=at, data=data or {})
    session.add(row)
    session.flush()
    return row
