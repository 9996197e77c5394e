"""A worker killed at any point of a delivery never yields two emails.

Each test delivers in a forked child process that dies (os._exit, no cleanup, as a killed
worker) at one of `delivery.checkpoints`, then looks at what the server received and what a
later delivery, the sweep's `requeue_stale` and `resolve_unknown` do."""

from __future__ import annotations

import os
from datetime import timedelta

from app.db import db, utcnow
from app.flows import delivery, sending
from app.flows.models import FAILED, QUEUED, SENDING, SENT
from app.queue import get_redis
from tests.conftest import run_worker
from tests.flows.sending_support import (
    NOW,
    customer,
    flow,
    messages,
    run,
    sending_shop,
)

KILLED = 77


def _queued_message(shop) -> int:
    store = sending_shop(shop)
    ada = customer(store)
    welcome = flow(store)
    outcome = sending.queue_email(db.session, run(store, welcome, ada), welcome,
                                  welcome.definition["steps"][0], welcome.definition, NOW)
    db.session.commit()
    return outcome.message_pk


def _deliver_killed_at(point: str, message_pk: int) -> int:
    """Deliver in a child process that dies at `point`; its exit status."""
    db.session.close()
    pid = os.fork()
    if pid == 0:  # the child: a worker that is killed at `point`
        try:
            delivery.checkpoints[point] = lambda _pk: os._exit(KILLED)
            delivery.deliver(message_pk)
        finally:
            os._exit(1)  # never run the parent's test machinery in the child
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_killed_between_rendering_and_sending_no_email_then_sent_once_later(
        app, shop, smtp_server):
    pk = _queued_message(shop)
    # when the worker dies after rendering, before the claim
    assert _deliver_killed_at("rendered", pk) == KILLED
    # then nothing was sent and the message is still queued
    assert smtp_server.messages == []
    assert messages()[0].status == QUEUED
    # and the next delivery sends it, once: here the sweep's, as Redis lost the job too
    later = NOW + timedelta(minutes=10)  # the message was queued at NOW
    assert sending.requeue_stale(db.session, later) == 0  # its job still waits
    get_redis().flushdb()
    assert sending.requeue_stale(db.session, later) == 1
    run_worker(app)
    assert delivery.deliver(pk) == SENT
    assert len(smtp_server.messages) == 1


def test_killed_between_sending_and_recording_exactly_one_email_never_a_second(
        shop, smtp_server):
    pk = _queued_message(shop)
    # when the worker dies after the server took the message, before recording it
    assert _deliver_killed_at("sent", pk) == KILLED
    # then the email went out once and the message is left `sending`
    assert len(smtp_server.messages) == 1
    assert messages()[0].status == SENDING
    # and nothing sends it again: not a retry, not the sweep
    assert delivery.deliver(pk) == SENDING
    assert sending.requeue_stale(db.session, utcnow() + timedelta(hours=1)) == 0
    assert sending.resolve_unknown(db.session, utcnow() + timedelta(minutes=5)) == 0
    assert sending.resolve_unknown(db.session, utcnow() + timedelta(minutes=16)) == 1
    message = messages()[0]
    assert (message.status, message.reason) == (
        FAILED, "outcome unknown after a worker stopped; not resent")
    assert delivery.deliver(pk) == FAILED
    assert len(smtp_server.messages) == 1


def test_killed_after_the_claim_before_the_server_never_sends(shop, smtp_server):
    pk = _queued_message(shop)
    assert _deliver_killed_at("claimed", pk) == KILLED
    assert smtp_server.messages == [] and messages()[0].status == SENDING
    assert delivery.deliver(pk) == SENDING
    assert sending.resolve_unknown(db.session, utcnow() + timedelta(minutes=16)) == 1
    assert delivery.deliver(pk) == FAILED
    assert smtp_server.messages == []


def test_a_child_that_is_not_killed_delivers_normally(shop, smtp_server):
    # the harness itself: without a checkpoint hit the child finishes and sends
    pk = _queued_message(shop)
    assert _deliver_killed_at("no such point", pk) == 1
    assert messages()[0].status == SENT and len(smtp_server.messages) == 1
