"""Rows for the sending tests: a store that can send, shoppers, a live flow and its runs.

Runs are written directly (the engine that starts them is tested on its own), so these tests
exercise only what happens from an email step on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.db import db
from app.flows import service
from app.flows.models import LIVE, MARKETING, FlowRun, Message
from app.profiles.models import SUBSCRIBED, Customer
from app.settings.service import update_settings

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
EMAIL_STEP = {"id": "e1", "type": "email", "subject": "Hello {{ customer.first_name }}",
              "html": "<p>Hi {{ customer.first_name }}, from {{ shop.name }}.</p>"
                      "<a href='{{ unsubscribe_url }}'>Unsubscribe</a>",
              "text": None}


def sending_shop(shop, **settings: Any):
    update_settings(db.session, shop, {"sender_email": "hello@sticky-test.example",
                                       "sender_name": "Sticky Test", **settings})
    return shop


def customer(shop, email="ada@example.com", *, consent=SUBSCRIBED, first_name="Ada") -> Customer:
    row = Customer(shop_id=shop.id, platform_customer_id=email, email=email,
                   email_normalized=email.lower(), first_name=first_name, last_name="L",
                   email_marketing=consent, orders_count=1, total_spent=Decimal("42.50"))
    db.session.add(row)
    db.session.flush()
    return row


def flow(shop, *, category=MARKETING, steps=None, send_to="subscribed", smart_sending=True,
         key=None, name="Welcome"):
    row = service.create_flow(db.session, shop.id, {
        "name": name, "status": LIVE, "category": category,
        "trigger": {"type": "event", "event": "customer_created"},
        "steps": steps or [dict(EMAIL_STEP)], "send_to": send_to,
        "smart_sending": smart_sending}, key=key)
    db.session.flush()
    return row


def run(shop, flow_row, cust, *, key=None, context=None) -> FlowRun:
    row = FlowRun(shop_id=shop.id, flow_id=flow_row.id, version=flow_row.version,
                  customer_id=cust.id, trigger_key=key or f"event:{cust.id}",
                  context=context or {"event": {}}, status="active",
                  step_id="e1", due_at=NOW, entered_at=NOW)
    db.session.add(row)
    db.session.flush()
    return row


def messages(session=None) -> list[Message]:
    session = session or db.session
    session.expire_all()
    return list(session.query(Message).order_by(Message.id))
