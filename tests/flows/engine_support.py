"""Helpers for the engine tests: live flows, shoppers, and the sending policy's seam.

The engine hands an email step to `app.flows.runner.queue_email` (the sending policy's
`queue_email`). These tests are about the engine, so `sending` (a fixture) stands in for the
policy at that seam: it writes the step's message row under its real unique (run, step) key,
as queued, and answers as the policy does. What it is told to answer (skipped, deferred) is
set per test. Everything else is the real engine on the real database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import db, insert_for
from app.events.models import EventCursor
from app.flows import runner, service
from app.flows.models import LIVE, QUEUED, FlowRun, FlowRunStep, Message
from app.profiles.models import Customer
from tests.conftest import post_webhook, run_worker
from tests.customer_helpers import customer_row
from tests.factories import BASE_TIME

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def email(subject: str = "Hello {{ customer.first_name }}", **extra: Any) -> dict[str, Any]:
    return {"type": "email", "subject": subject, "html": "<p>Hi</p>", "text": None, **extra}


def wait(minutes: int | None = None, until: str | None = None) -> dict[str, Any]:
    return {"type": "wait", "until": until} if until else {"type": "wait", "minutes": minutes}


def live_flow(session, shop, steps: list[dict[str, Any]], *, trigger: Any = "customer_created",
              **fields: Any):
    """A live flow of the shop triggered by `trigger` (an event kind, or a trigger object)."""
    definition = {
        "trigger": trigger if isinstance(trigger, dict) else {"type": "event",
                                                              "event": trigger},
        "steps": steps,
    }
    for name in service.DEFINITION_FIELDS:
        if name in fields:
            definition[name] = fields.pop(name)
    flow = service.create_flow(session, shop.id, {"name": fields.pop("name", "Test flow"),
                                                  "status": LIVE, **definition, **fields})
    session.commit()
    return flow


def shopper(session, shop, **fields: Any) -> Customer:
    fields.setdefault("email_marketing", "subscribed")
    customer = customer_row(session, shop, **fields)
    session.commit()
    return customer


def steps_of(session, run: FlowRun) -> list[tuple[str, str, str | None]]:
    """(step id, status, reason) of each step the run went through, in order."""
    session.expire_all()
    return [(s.step_id, s.status, s.reason) for s in session.execute(
        select(FlowRunStep).where(FlowRunStep.run_id == run.id)
        .order_by(FlowRunStep.id)).scalars()]


def messages_of(session, run: FlowRun) -> list[str]:
    return list(session.execute(select(Message.step_id).where(Message.run_id == run.id)
                                .order_by(Message.id)).scalars())


def message_count(session) -> int:
    return session.execute(select(func.count(Message.id))).scalar_one()


def later(minutes: float = 0, *, days: float = 0, at: datetime = NOW) -> datetime:
    return at + timedelta(minutes=minutes, days=days)


def minutes(moment: datetime) -> float:
    """`updated=`/`placed=` of the payload builders for a moment."""
    return (moment - BASE_TIME).total_seconds() / 60


def deliver(client, topic: str, payload: dict[str, Any]) -> None:
    response = post_webhook(client, topic, payload)
    assert response.status_code == 200, response.get_data(as_text=True)


def settle(app) -> None:
    """Run the worker dry; the flows subscriber must have failed on nothing."""
    run_worker(app)
    db.session.rollback()
    db.session.expire_all()
    errors = list(db.session.execute(select(EventCursor.last_error).where(
        EventCursor.subscriber == "flows", EventCursor.last_error.is_not(None))).scalars())
    assert errors == []


@dataclass
class Outcome:
    status: str
    reason: str | None = None
    message_pk: int | None = None
    defer_until: datetime | None = None
    exited: bool = False


@dataclass
class StandInSending:
    """The sending policy at the engine's seam (see the module docstring)."""

    calls: list[tuple[int, str]] = field(default_factory=list)
    answer: dict[str, Outcome] = field(default_factory=dict)  # by step id

    def __call__(self, session, run, flow, step, definition, now) -> Outcome:
        self.calls.append((run.id, step["id"]))
        told = self.answer.get(step["id"])
        if told is not None and (told.status == "deferred" or told.exited):
            return told
        status = told.status if told is not None else QUEUED
        customer = session.get(Customer, run.customer_id)
        table = Message.__table__
        session.execute(insert_for(session, table).values(
            shop_id=run.shop_id, flow_id=flow.id, run_id=run.id, step_id=step["id"],
            customer_id=run.customer_id, category=flow.category,
            to_email=customer.email or "", subject=step.get("subject"), status=status,
            reason=told.reason if told is not None else None, created_at=now)
            .on_conflict_do_nothing(index_elements=["run_id", "step_id"]))
        pk = session.execute(select(table.c.id).where(
            table.c.run_id == run.id, table.c.step_id == step["id"])).scalar_one()
        return Outcome(status, told.reason if told is not None else None, pk)


@pytest.fixture(name="sending")
def sending_fixture(monkeypatch) -> StandInSending:
    stand_in = StandInSending()
    monkeypatch.setattr(runner, "queue_email", stand_in)
    return stand_in
