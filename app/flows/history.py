"""What a shopper's flows did: their runs and the messages written for them, newest first,
in the shapes the API gives (`message` in DESIGN.md) and the panel shows. Read-only; every
query is scoped to its shop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.flows.models import QUEUED, SENDING, Flow, FlowRun, Message

MAX_MESSAGES = 500


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def api_status(status: str) -> str:
    """The API's message status. A message being handed to the mail server right now
    (`sending`) is still `queued` to the outside: its outcome is not known yet."""
    return QUEUED if status == SENDING else status


def message_json(message: Message) -> dict[str, Any]:
    """The API's message."""
    return {
        "id": message.id, "flow_id": message.flow_id, "step_id": message.step_id,
        "customer_id": message.customer_id, "to": message.to_email,
        "subject": message.subject, "status": api_status(message.status),
        "reason": message.reason, "test": message.test,
        "created_at": _iso(message.created_at), "sent_at": _iso(message.sent_at),
        "opened_at": _iso(message.opened_at), "clicked_at": _iso(message.clicked_at),
        "unsubscribed_at": _iso(message.unsubscribed_at),
    }


def messages(session: Session, shop_id: int, *, customer_id: int | None = None,
             flow_id: int | None = None, limit: int = 100) -> list[Message]:
    """The shop's messages, newest first, for one shopper and/or one flow."""
    query = select(Message).where(Message.shop_id == shop_id)
    if customer_id is not None:
        query = query.where(Message.customer_id == customer_id)
    if flow_id is not None:
        query = query.where(Message.flow_id == flow_id)
    query = query.order_by(Message.created_at.desc(), Message.id.desc())
    return list(session.scalars(query.limit(min(max(limit, 1), MAX_MESSAGES))))


def runs(session: Session, shop_id: int, customer_id: int,
         limit: int = 50) -> list[tuple[FlowRun, str]]:
    """A shopper's runs, newest first, each with its flow's name."""
    rows = session.execute(
        select(FlowRun, Flow.name).join(Flow, Flow.id == FlowRun.flow_id)
        .where(FlowRun.shop_id == shop_id, FlowRun.customer_id == customer_id,
               Flow.shop_id == shop_id)
        .order_by(FlowRun.entered_at.desc(), FlowRun.id.desc()).limit(limit))
    return [(run, name) for run, name in rows]


def flow_names(session: Session, shop_id: int) -> dict[int, str]:
    rows = session.execute(select(Flow.id, Flow.name).where(Flow.shop_id == shop_id))
    return {flow_id: name for flow_id, name in rows}
