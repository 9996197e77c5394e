"""Rows for the email link tests: a flow, a run and a sent message to one shopper."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.flows.models import LIVE, MARKETING, RUN_ACTIVE, SENT, Flow, FlowRun, Message
from app.shops.models import Shop
from tests.customer_helpers import customer_row

SENT_AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
_serial = iter(range(1, 10**9))


def flow_row(session: Session, shop: Shop, *, category: str = MARKETING) -> Flow:
    flow = Flow(shop_id=shop.id, name=f"Flow {next(_serial)}", status=LIVE, version=1,
                category=category,
                definition={"trigger": {"event": "customer_created"}, "steps": []})
    session.add(flow)
    session.flush()
    return flow


def sent_message(session: Session, shop: Shop, *, customer=None, flow=None, **customer_fields
                 ) -> Message:
    """A marketing message sent to a subscribed shopper, whose run is still active."""
    customer = customer or customer_row(session, shop, email_marketing="subscribed",
                                        email_marketing_updated_at=datetime(2026, 1, 1,
                                                                            tzinfo=UTC),
                                        **customer_fields)
    flow = flow or flow_row(session, shop)
    run = FlowRun(shop_id=shop.id, flow_id=flow.id, version=1, customer_id=customer.id,
                  trigger_key=f"event:{next(_serial)}", context={}, status=RUN_ACTIVE,
                  step_id="s2", due_at=SENT_AT)
    session.add(run)
    session.flush()
    message = Message(shop_id=shop.id, flow_id=flow.id, run_id=run.id, step_id="s1",
                      customer_id=customer.id, category=flow.category, to_email=customer.email,
                      subject="Hello", status=SENT, sent_at=SENT_AT)
    session.add(message)
    session.commit()
    return message
