"""Delivering a batch of flow emails: one claim per chunk, the checks made for the chunk as a
whole, and still never an email twice (a real SMTP server, PostgreSQL and Redis)."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from app.db import db, utcnow
from app.flows import delivery, sending
from app.flows.models import FAILED, QUEUED, SENDING, SENT, SKIPPED, TRANSACTIONAL
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


@pytest.fixture
def store(shop):
    return sending_shop(shop)


def _queue_all(store, pairs) -> list[int]:
    """Queue each (flow, shopper)'s email in one commit; their message pks."""
    pks = []
    for f, shopper in pairs:
        outcome = sending.queue_email(db.session, run(store, f, shopper), f,
                                      f.definition["steps"][0], f.definition, NOW)
        assert outcome.status == "queued"
        pks.append(outcome.message_pk)
    db.session.commit()
    return pks


def _shoppers(store, n):
    return [customer(store, f"s{i}@example.com", first_name=f"S{i}") for i in range(n)]


def test_two_emails_to_one_shopper_in_one_batch_smart_sending_sends_one(store, smtp_server):
    # given two marketing flows and a transactional one each queued an email for Ada, and
    # another shopper's email, all in one batch
    ada, bob = customer(store), customer(store, "bob@example.com", first_name="Bob")
    welcome, winback = flow(store, name="Welcome"), flow(store, name="Win-back")
    points = flow(store, name="Points", category=TRANSACTIONAL)
    first, second, notice, other = _queue_all(
        store, [(welcome, ada), (winback, ada), (points, ada), (welcome, bob)])
    # when one worker delivers the batch
    statuses = delivery.deliver_many([other, second, notice, first])
    # then Ada gets the first marketing email and the transactional one; smart sending
    # holds the second marketing email back, with its reason written down
    assert statuses == {first: SENT, second: SKIPPED, notice: SENT, other: SENT}
    assert len(smtp_server.to("ada@example.com")) == 2
    assert len(smtp_server.to("bob@example.com")) == 1
    skipped = next(m for m in messages() if m.id == second)
    assert skipped.reason == "smart sending: mailed in the last 16 h"
    # and delivering the batch again sends nothing more
    assert delivery.deliver_many([first, second, notice, other]) == statuses
    assert len(smtp_server.messages) == 3


def test_a_batch_records_each_outcome_and_suppresses_a_refused_address(store, smtp_server):
    # given a batch where the server refuses one address for good and defers another
    smtp_server.refuse.add("s1@example.com")
    smtp_server.defer.add("s2@example.com")
    welcome = flow(store)
    shoppers = _shoppers(store, 4)
    pks = _queue_all(store, [(welcome, s) for s in shoppers])
    # when it is delivered
    statuses = delivery.deliver_many(pks)
    # then each message says what became of it
    assert [statuses[pk] for pk in pks] == [SENT, "suppressed", FAILED, SENT]
    rows = {m.id: m for m in messages()}
    assert "550" in rows[pks[1]].reason and "451" in rows[pks[2]].reason
    assert rows[pks[0]].sent_at is not None and rows[pks[0]].message_id
    assert sorted(m["To"] for m in smtp_server.messages) == ["s0@example.com",
                                                             "s3@example.com"]
    # and the refused address is suppressed for the store's next email
    later = flow(store, name="Later")
    outcome = sending.queue_email(db.session, run(store, later, shoppers[1]), later,
                                  later.definition["steps"][0], later.definition,
                                  NOW + timedelta(days=2))
    assert outcome.reason.startswith("suppressed address")


def _deliver_killed(point: str, pks: list[int], nth: int) -> int:
    """Deliver `pks` as one batch in a child process that dies at the `nth` time (1-based)
    it reaches `point`; its exit status."""
    db.session.close()
    pid = os.fork()
    if pid == 0:  # the child: a worker that is killed mid-batch
        try:
            seen = []

            def die(pk):
                seen.append(pk)
                if len(seen) == nth:
                    os._exit(KILLED)

            delivery.checkpoints[point] = die
            delivery.deliver_many(pks)
        finally:
            os._exit(1)  # never run the parent's test machinery in the child
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_worker_killed_mid_batch_never_yields_an_email_twice(store, smtp_server):
    # given a batch of four queued emails
    welcome = flow(store)
    pks = _queue_all(store, [(welcome, s) for s in _shoppers(store, 4)])
    # when the worker dies right after the server took the second one
    assert _deliver_killed("sent", pks, 2) == KILLED
    # then two emails went out, and the whole claimed chunk is left `sending`
    assert sorted(m["To"] for m in smtp_server.messages) == ["s0@example.com",
                                                             "s1@example.com"]
    assert {m.status for m in messages()} == {SENDING}
    # and nothing sends any of them again: not a retry of the batch, not the sweep
    assert delivery.deliver_many(pks) == dict.fromkeys(pks, SENDING)
    assert sending.requeue_stale(db.session, utcnow() + timedelta(hours=1)) == 0
    assert sending.resolve_unknown(db.session, utcnow() + timedelta(minutes=16)) == 4
    assert delivery.deliver_many(pks) == dict.fromkeys(pks, FAILED)
    assert len(smtp_server.messages) == 2


def test_a_worker_killed_while_rendering_a_batch_leaves_it_queued_then_sent_once(
        store, smtp_server):
    welcome = flow(store)
    pks = _queue_all(store, [(welcome, s) for s in _shoppers(store, 3)])
    # when the worker dies after rendering the second message, before the chunk's claim
    assert _deliver_killed("rendered", pks, 2) == KILLED
    # then nothing was sent or claimed, and the next delivery sends each once
    assert smtp_server.messages == [] and {m.status for m in messages()} == {QUEUED}
    assert delivery.deliver_many(pks) == dict.fromkeys(pks, SENT)
    assert len(smtp_server.messages) == 3


def test_a_batch_stopped_by_the_database_puts_back_what_it_never_handed_over(
        store, smtp_server, monkeypatch):
    # given a batch of three, and a database that fails when the second outcome is recorded
    welcome = flow(store)
    pks = _queue_all(store, [(welcome, s) for s in _shoppers(store, 3)])
    monkeypatch.setattr(delivery, "RECORD_EVERY", 1)
    real, calls = delivery._record, []

    def record(session, outcomes, *args):
        calls.append(list(outcomes))
        if len(calls) == 2:
            raise OperationalError("UPDATE messages", {}, Exception("server closed"))
        return real(session, outcomes, *args)

    monkeypatch.setattr(delivery, "_record", record)
    # when the batch is delivered
    with pytest.raises(OperationalError):
        delivery.deliver_many(pks)
    # then the first is recorded sent, the second (handed over, unrecorded) stays `sending`,
    # and the third, never handed over, is queued again
    statuses = {m.id: m.status for m in messages()}
    assert statuses == {pks[0]: SENT, pks[1]: SENDING, pks[2]: QUEUED}
    assert len(smtp_server.messages) == 2
    # and a later delivery sends the third once and never the second again
    monkeypatch.setattr(delivery, "_record", real)
    assert delivery.deliver_many(pks) == {pks[0]: SENT, pks[1]: SENDING, pks[2]: SENT}
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "s0@example.com", "s1@example.com", "s2@example.com"]


def test_two_workers_with_overlapping_batches_send_each_email_once(app, store, smtp_server):
    # given eight queued emails, two of them to the same shopper
    welcome, winback = flow(store, name="Welcome"), flow(store, name="Win-back")
    shoppers = _shoppers(store, 7)
    pks = _queue_all(store, [(welcome, s) for s in shoppers] + [(winback, shoppers[3])])
    results, errors = [], []

    def worker(batch):
        try:
            with app.app_context():
                results.append(delivery.deliver_many(batch))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    # when two workers deliver overlapping batches at the same time (in opposite orders)
    threads = [threading.Thread(target=worker, args=(pks[:6],)),
               threading.Thread(target=worker, args=(list(reversed(pks[2:])),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # then each email reached the server once, and the shopper with two got one
    assert errors == []
    assert len(smtp_server.messages) == 7
    assert len({m["Message-ID"] for m in smtp_server.messages}) == 7
    assert len(smtp_server.to("s3@example.com")) == 1
    assert sorted(m.status for m in messages()) == [SENT] * 7 + [SKIPPED]


def test_chunks_are_claimed_while_the_previous_one_is_handed_over(
        store, smtp_server, monkeypatch):
    # given five emails in chunks of two, two of them to Ada in different chunks
    monkeypatch.setattr(delivery, "CLAIM_CHUNK", 2)
    ada = customer(store)
    welcome, winback = flow(store, name="Welcome"), flow(store, name="Win-back")
    others = _shoppers(store, 3)
    pks = _queue_all(store, [(welcome, ada), *[(welcome, s) for s in others],
                             (winback, ada)])
    # when one worker delivers them
    statuses = delivery.deliver_many(pks)
    # then each chunk's claim saw the previous chunks' claims: Ada gets one email
    assert [statuses[pk] for pk in pks] == [SENT, SENT, SENT, SENT, SKIPPED]
    assert len(smtp_server.to("ada@example.com")) == 1
    assert len(smtp_server.messages) == 4
    rows = {m.id: m for m in messages()}
    assert all(rows[pk].status == SENT and rows[pk].sent_at for pk in pks[:4])
    assert delivery.deliver_many(pks) == statuses and len(smtp_server.messages) == 4


def test_a_worker_killed_while_chunks_overlap_never_yields_an_email_twice(
        store, smtp_server, monkeypatch):
    # given seven emails in chunks of two
    monkeypatch.setattr(delivery, "CLAIM_CHUNK", 2)
    welcome = flow(store)
    pks = _queue_all(store, [(welcome, s) for s in _shoppers(store, 7)])
    # when the worker dies right after the server took the third
    assert _deliver_killed("sent", pks, 3) == KILLED
    assert len(smtp_server.messages) == 3
    # and everything that can deliver them runs afterwards: a retry of the batch, the
    # sweep (Redis lost the jobs), the resolution of unknown outcomes, another retry
    delivery.deliver_many(pks)
    sending.resolve_unknown(db.session, utcnow() + timedelta(minutes=16))
    delivery.deliver_many(pks)
    # then no address got two emails; every message is sent (and reached the server) or
    # failed as an unknown outcome (claimed by the dead worker), never resent
    recipients = [m["To"] for m in smtp_server.messages]
    assert len(recipients) == len(set(recipients))
    rows = messages()
    assert {m.to_email for m in rows if m.status == SENT} <= set(recipients)
    assert all(m.status == SENT or (m.status, m.reason) == (FAILED, sending.UNKNOWN_REASON)
               for m in rows)
    # the first three went out before the crash; the last one, never claimed by the dead
    # worker, went out once afterwards
    assert recipients[:3] == ["s0@example.com", "s1@example.com", "s2@example.com"]
    assert rows[-1].status == SENT and "s6@example.com" in recipients


def test_a_job_whose_batch_stops_on_an_error_delivers_each_message_on_its_own(
        app, store, smtp_server, monkeypatch):
    # given a committed batch of three, and a batch delivery that breaks before claiming
    welcome = flow(store)
    _queue_all(store, [(welcome, s) for s in _shoppers(store, 3)])

    real, calls = delivery.deliver_many, []

    def broken(pks, **kw):
        calls.append(list(pks))
        if len(calls) == 1:  # the job's batch; each message's own delivery then works
            raise OperationalError("SELECT messages", {}, Exception("server closed"))
        return real(pks, **kw)

    monkeypatch.setattr(delivery, "deliver_many", broken)
    # when a real worker runs the batch's job
    run_worker(app)
    # then each message went out once, delivered on its own
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "s0@example.com", "s1@example.com", "s2@example.com"]
    assert {m.status for m in messages()} == {SENT}
