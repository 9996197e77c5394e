"""Flows and messages as the engine leaves them, for the API's and the panel's tests."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.db import utcnow
from app.flows.models import FlowRun, Message
from app.flows.service import create_flow
from app.shops.models import Shop
from tests.customer_helpers import csrf_from, sign_in

WELCOME_HTML = "<p>Hello {{ customer.first_name }}, welcome to {{ shop.name }}.</p>"


def email_step(**fields: Any) -> dict[str, Any]:
    return {"type": "email", "subject": "Welcome, {{ customer.first_name }}",
            "html": WELCOME_HTML, "text": None, **fields}


def a_flow(session: Session, shop: Shop, **fields: Any):
    """A draft flow: on a new customer, wait an hour, then one email."""
    data = {"name": "Welcome", "trigger": {"type": "event", "event": "customer_created"},
            "steps": [{"id": "wait1", "type": "wait", "minutes": 60},
                      {"id": "mail1", **email_step()}], **fields}
    flow = create_flow(session, shop.id, data, saved_by="test")
    session.flush()
    return flow


def a_run(session: Session, flow, customer, **fields: Any) -> FlowRun:
    now = utcnow()
    values = {"shop_id": flow.shop_id, "flow_id": flow.id, "version": flow.version,
              "customer_id": customer.id, "trigger_key": f"event:{customer.id}:{now}",
              "context": {}, "status": "active", "step_id": "mail1",
              "due_at": now + timedelta(hours=1), "entered_at": now, **fields}
    run = FlowRun(**values)
    session.add(run)
    session.flush()
    return run


def a_message(session: Session, flow, customer, *, run: FlowRun | None = None,
              created_at: datetime | None = None, **fields: Any) -> Message:
    values = {"shop_id": flow.shop_id, "flow_id": flow.id, "run_id": run.id if run else None,
              "step_id": "mail1", "customer_id": customer.id, "to_email": customer.email,
              "subject": "Welcome, Ada", "status": "sent", "created_at": created_at or utcnow(),
              "sent_at": created_at or utcnow(), **fields}
    message = Message(**values)
    session.add(message)
    session.flush()
    return message


# The panel's pages, signed in (a fixture), and reading and posting them.
@pytest.fixture(name="panel")
def panel_fixture(client, session, shop):
    sign_in(client, session, shop)
    return client


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
                    .split())


def post(client, path: str, data: dict, token_from: str | None = None):
    token = csrf_from(client, token_from or path)
    return client.post(path, data={**data, "csrf_token": token})
