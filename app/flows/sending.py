"""Queueing a flow's emails: the sending policy at an email step, and the upkeep of queued
messages.

`queue_email` decides a step's email (consent by the flow's category, the suppression list,
smart sending, quiet hours) and writes its message, queued or skipped with the reason, under
its unique (run, step), so a step run twice, a redelivered trigger or a retried job finds the
same row; its delivery job is enqueued after the commit. Quiet hours defer the step (the run
waits, nothing is written); a message skipped by consent, suppression or smart sending is
not rescheduled.

Delivery, and the exactly-once rule it keeps, is `app.flows.delivery`. The sweep's upkeep is
here: `requeue_stale` (a queued message whose job Redis lost) and `resolve_unknown` (a
message a stopped worker left `sending`: failed, never resent). `test_send` sends one step to
the merchant now, untracked and uncounted.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import after_commit, insert_for, utcnow
from app.email import compose as composing
from app.email.render import render_email
from app.flows import policy, variables
from app.flows.delivery import NO_EMAIL_REASON, Prepared, exit_reason, find_step, hand_over
from app.flows.models import (
    FAILED,
    LIVE,
    MARKETING,
    QUEUED,
    SENDING,
    SKIPPED,
    STEP_DONE,
    STEP_SKIPPED,
    SUPPRESSED,
    Flow,
    FlowRun,
    FlowRunStep,
    Message,
)
from app.profiles.identity import normalize_email
from app.profiles.models import Customer
from app.settings.service import read_settings
from app.settings.timezone import UTC_ZONE, zone_or_none
from app.shops.models import Shop

log = logging.getLogger(__name__)

SEND_JOB = "jobs.flow_sending.send_messages"
SEND_BATCH = 200
MARKER_TTL_SECONDS = 2 * 86400
SEND_QUEUE = "default"
# A queued message older than this whose job Redis no longer has is enqueued again.
STALE_AFTER = timedelta(minutes=5)
# A message still `sending` after this was being handed over when its worker stopped.
UNKNOWN_AFTER = timedelta(minutes=15)
UNKNOWN_REASON = "outcome unknown after a worker stopped; not resent"
NO_SENDER_REASON = "the store has no sender address: set one in Settings"
QUIET_REASON = "quiet hours"
REQUEUE_BATCH = 1000

@dataclass(frozen=True)
class StepOutcome:
    """What an email step did. `status`: "queued" (a message will be delivered), "skipped"
    (recorded with `reason`; `exited` when the run itself must stop, e.g. the shopper
    ordered), "deferred" (quiet hours: run the step again at `defer_until`)."""

    status: str
    reason: str | None = None
    message_pk: int | None = None
    defer_until: datetime | None = None
    exited: bool = False


class TestSendRefused(ValueError):
    """A test send cannot be made (no such email step); the message says why."""


def _zone(name: str | None):
    return zone_or_none(name) or UTC_ZONE


def _record_step(session: Session, run: FlowRun, step: dict[str, Any], status: str,
                 reason: str | None, message_pk: int | None, now: datetime) -> None:
    session.execute(insert_for(session, FlowRunStep).values(
        shop_id=run.shop_id, run_id=run.id, step_id=step["id"], step_type="email",
        status=status, reason=reason,
        detail={"message_pk": message_pk} if message_pk is not None else None, at=now,
    ).on_conflict_do_nothing(index_elements=["run_id", "step_id"]))


def _outcome_of(message: Message) -> StepOutcome:
    if message.status in (SKIPPED, SUPPRESSED):
        return StepOutcome("skipped", message.reason, message.id)
    return StepOutcome("queued", message.reason, message.id)


def _message_of(session: Session, run_id: int, step_id: str) -> Message | None:
    return session.scalar(select(Message).where(Message.run_id == run_id,
                                                Message.step_id == step_id))


def queue_email(session: Session, run: FlowRun, flow: Flow, step: dict[str, Any],
                definition: dict[str, Any], now: datetime, *,
                exits_checked: bool = False) -> StepOutcome:
    """Decide the email of `step` for `run` and write its message (queued, or skipped or
    suppressed with the reason), once per (run, step); a queued message's delivery job is
    enqueued when the caller commits. Quiet hours write nothing and defer the step.
    `exits_checked`: the caller (the engine's runner) has just asked the exit conditions in
    this transaction, so they are not asked again here (delivery asks them once more, right
    before the send)."""
    reason = None if exits_checked else exit_reason(session, run, now)
    if reason:
        _record_step(session, run, step, STEP_SKIPPED, reason, None, now)
        return StepOutcome("skipped", reason, exited=True)
    customer = session.scalar(select(Customer).where(Customer.shop_id == run.shop_id,
                                                     Customer.id == run.customer_id))
    if customer is None or not customer.email:
        _record_step(session, run, step, STEP_SKIPPED, NO_EMAIL_REASON, None, now)
        return StepOutcome("skipped", NO_EMAIL_REASON)
    shop = session.get(Shop, run.shop_id)
    settings = read_settings(session, shop)
    until = policy.quiet_until(now, settings.quiet_hours, _zone(settings.timezone))
    if until is not None:
        return StepOutcome("deferred", QUIET_REASON, defer_until=until)

    status, reason = QUEUED, None
    if not settings.can_send:
        status, reason = SKIPPED, NO_SENDER_REASON
    elif refusal := policy.consent_refusal(flow.category, definition.get("send_to", "subscribed"),
                                           customer.email_marketing):
        status, reason = SKIPPED, refusal
    elif refusal := _standing(session, flow, definition, customer, customer.email,
                              settings.smart_sending_hours, now):
        status, reason = refusal

    # The (run, step) key decides: a second worker running this step at the same moment
    # (or a step run again after a crash) gets the first one's message.
    pk = session.scalar(insert_for(session, Message).values(
        shop_id=run.shop_id, flow_id=flow.id, run_id=run.id, step_id=step["id"],
        customer_id=run.customer_id, category=flow.category, test=False,
        to_email=customer.email, status=status, reason=reason, created_at=now,
    ).on_conflict_do_nothing(index_elements=["run_id", "step_id"]).returning(Message.id))
    if pk is None:
        return _outcome_of(_message_of(session, run.id, step["id"]))
    _record_step(session, run, step, STEP_DONE if status == QUEUED else STEP_SKIPPED,
                 reason, pk, now)
    if status == QUEUED:
        enqueue_after_commit(session, [pk])
        return StepOutcome("queued", None, pk)
    return StepOutcome("skipped", reason, pk)


def _standing(session: Session, flow: Flow, definition: dict[str, Any], customer: Customer,
              email: str, hours: int, now: datetime, *,
              exclude_pk: int | None = None) -> tuple[str, str] | None:
    """(status, reason) when the suppression list or smart sending holds the email back."""
    if flow.category != MARKETING or not definition.get("smart_sending", True):
        hours = 0
    suppressed, smart = policy.standing(session, flow.shop_id, customer.id, email, hours, now,
                                        exclude_pk=exclude_pk)
    if suppressed:
        return SUPPRESSED, suppressed
    return (SKIPPED, smart) if smart else None


def enqueue_after_commit(session: Session, message_pks: list[int]) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    after_commit(session, "flows.send_message", message_pks, partial(enqueue_sends, app))


def _marker(message_pk: int) -> str:
    return f"sticky:flow-message:{message_pk}"


def enqueue_sends(app: Flask, message_pks: list[int]) -> None:
    """Enqueue the delivery of the messages, `SEND_BATCH` to a job (one worker process
    delivers a batch on one mail server connection). Each message's key in Redis names
    its job, so the sweep can tell a waiting message from a lost one. A lost enqueue is not
    lost mail: the message is a queued row, and `requeue_stale` enqueues it again."""
    from rq import Queue, Retry

    from app.queue import get_queue

    queue = get_queue(SEND_QUEUE, app)
    try:
        pipe = queue.connection.pipeline()
        jobs = []
        for i in range(0, len(message_pks), SEND_BATCH):
            batch = list(message_pks[i:i + SEND_BATCH])
            job_id = f"flow-messages-{batch[0]}-{uuid.uuid4().hex[:12]}"
            # Retrying is safe: a delivery after the claim never sends again.
            jobs.append(Queue.prepare_data(SEND_JOB, (batch,), job_id=job_id, timeout=600,
                                           result_ttl=3600, failure_ttl=7 * 86400,
                                           retry=Retry(max=3, interval=[10, 60, 300])))
            for pk in batch:
                pipe.set(_marker(pk), job_id, ex=MARKER_TTL_SECONDS)
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    except RedisError:
        log.warning("flows.send.enqueue_failed", extra={"message_pks": message_pks[:20]},
                    exc_info=True)


def requeue_stale(session: Session, now: datetime | None = None) -> int:
    """Enqueue again the queued messages of live flows older than `STALE_AFTER` whose job
    Redis no longer holds (a restart, a flush); returns how many."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    from app.queue import get_redis

    now = now or utcnow()
    pks = list(session.scalars(select(Message.id).join(Flow, Flow.id == Message.flow_id).where(
        Message.status == QUEUED, Message.test.is_(False), Flow.status == LIVE,
        Message.created_at < now - STALE_AFTER,
    ).order_by(Message.id).limit(REQUEUE_BATCH)))
    if not pks:
        return 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    redis = get_redis(app)
    pending = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
    lost = []
    job_ids = redis.mget([_marker(pk) for pk in pks])
    for pk, job_id in zip(pks, job_ids, strict=True):
        if job_id is not None:
            try:
                if Job.fetch(job_id.decode(), connection=redis).get_status() in pending:
                    continue
            except NoSuchJobError:
                pass
        lost.append(pk)
    enqueue_sends(app, lost)
    if lost:
        log.info("flows.send.requeued", extra={"count": len(lost)})
    return len(lost)


def resolve_unknown(session: Session, now: datetime | None = None) -> int:
    """Mark failed, never to be resent, every message left `sending` for `UNKNOWN_AFTER`
    (its worker stopped between the claim and the record); commits; returns how many."""
    now = now or utcnow()
    count = session.execute(update(Message).where(
        Message.status == SENDING, Message.sending_at < now - UNKNOWN_AFTER,
    ).values(status=FAILED, reason=UNKNOWN_REASON)).rowcount
    session.commit()
    if count:
        log.warning("flows.send.outcome_unknown", extra={"count": count})
    return count


def test_send(session: Session, shop: Shop, flow: Flow, step_id: str, to: str,
              customer_id: int | None = None) -> Message:
    """Send one email step to `to` now (the merchant's own address), rendered with
    `customer_id`'s data (else the store's alone): a `test` message, without tracking or an
    unsubscribe link, counted nowhere. Commits; raises TestSendRefused or TemplateRefused."""
    step = find_step(flow.definition, step_id)
    if step is None or step.get("type") != "email":
        raise TestSendRefused(f"this flow has no email step {step_id!r}")
    if normalize_email(to) is None:
        raise TestSendRefused("enter an email address to send the test to")
    rendered = render_email(step, variables.for_customer(session, shop, customer_id, step, None))
    rendered = dataclasses.replace(rendered, subject=f"[Test] {rendered.subject}")
    mime = composing.compose(rendered, composing.envelope_for(session, shop, to))
    now = utcnow()
    message = Message(shop_id=shop.id, flow_id=flow.id, step_id=step_id,
                      customer_id=customer_id, category=flow.category, test=True,
                      to_email=to, subject=rendered.subject, status=SENDING, sending_at=now,
                      message_id=mime["Message-ID"], created_at=now)
    session.add(message)
    session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    hand_over(session, app, Prepared(message, None, flow, flow.definition, step, shop), mime)
    session.refresh(message)
    return message
