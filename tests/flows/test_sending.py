"""Flow emails from an email step to the mail server: once per (run, step), by the policy,
with every outcome recorded (a real SMTP server, PostgreSQL and Redis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.job import Job

from app.db import db
from app.flows import delivery, sending, service
from app.flows.models import (
    FAILED,
    QUEUED,
    SENT,
    SKIPPED,
    SUPPRESSED,
    TRANSACTIONAL,
    EmailSuppression,
    FlowRunStep,
    Message,
    OutboxMail,
)
from app.profiles.models import NOT_SUBSCRIBED, UNSUBSCRIBED
from app.queue import get_queue, get_redis
from tests.conftest import run_worker
from tests.flows.sending_support import (
    NOW,
    customer,
    flow,
    messages,
    run,
    sending_shop,
)


def _queue(shop_row, flow_row, run_row, now=NOW):
    outcome = sending.queue_email(db.session, run_row, flow_row, flow_row.definition["steps"][0],
                                  flow_row.definition, now)
    db.session.commit()
    return outcome


@pytest.fixture
def store(shop):
    return sending_shop(shop)


def test_an_email_step_is_delivered_once_across_retries_and_a_double_enqueue(
        app, store, smtp_server):
    # given a queued message whose job was enqueued twice (a retry after a lost answer)
    ada = customer(store)
    welcome = flow(store)
    r = run(store, welcome, ada)
    outcome = _queue(store, welcome, r)
    assert outcome.status == "queued"
    sending.enqueue_sends(app, [outcome.message_pk])
    assert get_queue("default").count >= 1
    # when a real worker drains the queue, and the step is queued again afterwards
    run_worker(app)
    again = sending.queue_email(db.session, r, welcome, welcome.definition["steps"][0],
                                welcome.definition, NOW)
    db.session.commit()
    run_worker(app)
    assert delivery.deliver(outcome.message_pk) == SENT
    # then exactly one email reached the server, and the message says so
    assert again.message_pk == outcome.message_pk
    assert len(smtp_server.to("ada@example.com")) == 1
    email = smtp_server.messages[0]
    assert email["Subject"] == "Hello Ada"
    assert "Sticky Test" in email["From"] and "hello@sticky-test.example" in email["From"]
    assert email["List-Unsubscribe"] and email["List-Unsubscribe-Post"]
    [message] = messages()
    assert (message.status, message.subject, message.to_email) == (SENT, "Hello Ada",
                                                                   "ada@example.com")
    assert message.sent_at is not None and message.message_id == email["Message-ID"]
    step = db.session.query(FlowRunStep).one()
    assert (step.status, step.detail) == ("done", {"message_pk": message.id})


def test_a_step_already_written_by_another_worker_returns_that_message(app, store):
    # given another worker wrote the (run, step) message
    ada = customer(store)
    welcome = flow(store)
    r = run(store, welcome, ada)
    db.session.commit()
    with db.new_session() as other:
        other.add(Message(shop_id=store.id, flow_id=welcome.id, run_id=r.id, step_id="e1",
                          customer_id=ada.id, to_email=ada.email, status=QUEUED))
        other.commit()
    # when the step is queued
    outcome = _queue(store, welcome, r)
    # then the unique key keeps one message, and this step reports it
    assert [m.id for m in messages()] == [outcome.message_pk]
    assert outcome.status == "queued"


def test_smart_sending_skips_a_marketing_email_and_records_it_without_rescheduling(
        store, smtp_server):
    # given Ada got a marketing email 3 hours ago (window 16 h by default)
    ada = customer(store)
    first, second = flow(store, name="Welcome"), flow(store, name="Win-back")
    _queue(store, first, run(store, first, ada))
    assert delivery.deliver(messages()[0].id, now=NOW - timedelta(hours=3)) == SENT
    # when another flow's step comes due
    outcome = _queue(store, second, run(store, second, ada))
    # then it is skipped with the reason, written down, and not deferred
    assert (outcome.status, outcome.defer_until) == ("skipped", None)
    assert outcome.reason == "smart sending: mailed in the last 16 h"
    skipped = messages()[-1]
    assert (skipped.status, skipped.reason) == (SKIPPED, outcome.reason)
    assert len(smtp_server.messages) == 1


def test_smart_sending_is_checked_again_when_two_queued_emails_meet(store, smtp_server):
    # given two flows queued an email for Ada before either was sent
    ada = customer(store)
    first, second = flow(store, name="Welcome"), flow(store, name="Win-back")
    a = _queue(store, first, run(store, first, ada))
    b = _queue(store, second, run(store, second, ada))
    assert a.status == b.status == "queued"
    # when both are delivered
    statuses = [delivery.deliver(a.message_pk), delivery.deliver(b.message_pk)]
    # then one is sent and the other skipped by smart sending
    assert statuses == [SENT, SKIPPED]
    assert len(smtp_server.to("ada@example.com")) == 1


def test_smart_sending_leaves_transactional_mail_and_can_be_switched_off(shop, smtp_server):
    store = sending_shop(shop, smart_sending_hours=0)
    ada = customer(store)
    flows = [flow(store, name="A"), flow(store, name="B"),
             flow(store, name="Points", category=TRANSACTIONAL)]
    outcomes = [_queue(store, f, run(store, f, ada)) for f in flows]
    assert [delivery.deliver(o.message_pk) for o in outcomes] == [SENT, SENT, SENT]


def test_quiet_hours_defer_the_step_to_their_end_and_write_nothing(shop):
    # given quiet hours 22:00-08:00 in Paris, and a step due at 23:30 Paris time
    store = sending_shop(shop, timezone="Europe/Paris",
                         quiet_hours={"start": "22:00", "end": "08:00"})
    ada = customer(store)
    welcome = flow(store)
    late = NOW.replace(hour=22, minute=30)
    outcome = _queue(store, welcome, run(store, welcome, ada), now=late)
    # then the step waits until 08:00 Paris (07:00 UTC) and no message exists yet
    assert outcome.status == "deferred"
    assert outcome.defer_until == (late + timedelta(days=1)).replace(hour=7, minute=0)
    assert messages() == []
    assert db.session.query(FlowRunStep).count() == 0


@pytest.mark.parametrize(("category", "send_to", "consent", "expected"), [
    ("marketing", "subscribed", NOT_SUBSCRIBED, ("skipped", "no email marketing consent")),
    ("marketing", "subscribed", UNSUBSCRIBED, ("skipped", "unsubscribed")),
    (TRANSACTIONAL, "not_unsubscribed", NOT_SUBSCRIBED, ("queued", None)),
    (TRANSACTIONAL, "not_unsubscribed", UNSUBSCRIBED, ("skipped", "unsubscribed")),
])
def test_consent_decides_by_the_flows_category(store, category, send_to, consent, expected):
    ada = customer(store, consent=consent)
    f = flow(store, category=category, send_to=send_to)
    outcome = _queue(store, f, run(store, f, ada))
    assert (outcome.status, outcome.reason) == expected
    if category == "marketing" and consent == UNSUBSCRIBED:
        # unsubscribing stops every run of a marketing flow: the step is recorded, no message
        assert outcome.exited and messages() == []
        assert db.session.query(FlowRunStep).one().reason == "unsubscribed"
    else:
        assert messages()[0].status == (QUEUED if expected[0] == "queued" else SKIPPED)


def test_consent_withdrawn_after_queueing_stops_the_send(store, smtp_server):
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    ada.email_marketing = UNSUBSCRIBED
    db.session.commit()
    assert delivery.deliver(outcome.message_pk) == SKIPPED
    assert messages()[0].reason == "unsubscribed"
    assert smtp_server.messages == []


def test_an_exit_found_right_before_the_send_stops_it(store, smtp_server, monkeypatch):
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    # the shopper ordered between queueing and sending
    import app.flows.exits as exits

    monkeypatch.setattr(exits, "exit_reason", lambda session, r, now: "order placed")
    assert delivery.deliver(outcome.message_pk) == SKIPPED
    assert messages()[0].reason == "order placed"
    assert smtp_server.messages == []


def test_an_exit_when_the_step_comes_due_records_the_step_and_says_the_run_stops(
        store, monkeypatch):
    import app.flows.exits as exits

    monkeypatch.setattr(exits, "exit_reason", lambda session, r, now: "order placed")
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    assert (outcome.status, outcome.reason, outcome.exited) == ("skipped", "order placed", True)
    assert messages() == []
    step = db.session.query(FlowRunStep).one()
    assert (step.status, step.reason) == ("skipped", "order placed")


def test_a_hard_refusal_suppresses_the_address_for_every_later_send(store, smtp_server):
    # given the server refuses Ada's address for good
    smtp_server.refuse.add("ada@example.com")
    ada = customer(store)
    welcome, winback = flow(store, name="Welcome"), flow(store, name="Win-back")
    first = _queue(store, welcome, run(store, welcome, ada))
    # when it is delivered
    assert delivery.deliver(first.message_pk) == SUPPRESSED
    # then the address is suppressed, visibly, with the server's words
    suppression = db.session.query(EmailSuppression).one()
    assert suppression.email_normalized == "ada@example.com"
    assert "550" in suppression.reason and suppression.message_pk == first.message_pk
    assert "550" in messages()[0].reason
    # and the next email to that address is suppressed when queued, and never enqueued
    get_redis().flushdb()
    smtp_server.refuse.clear()
    second = _queue(store, winback, run(store, winback, ada), now=NOW + timedelta(days=2))
    assert second.status == "skipped" and second.reason.startswith("suppressed address")
    assert messages()[-1].status == SUPPRESSED
    assert get_queue("default").count == 0
    assert delivery.deliver(second.message_pk) == SUPPRESSED
    assert smtp_server.messages == []


def test_a_soft_refusal_fails_the_message_and_it_is_never_resent(app, store, smtp_server):
    smtp_server.defer.add("ada@example.com")
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    assert delivery.deliver(outcome.message_pk) == FAILED
    message = messages()[0]
    assert "451" in message.reason
    # the server would accept it now, but nothing sends it again
    smtp_server.defer.clear()
    get_redis().flushdb()
    assert sending.requeue_stale(db.session, NOW + timedelta(hours=1)) == 0
    assert delivery.deliver(outcome.message_pk) == FAILED
    run_worker(app)
    assert smtp_server.messages == []
    assert db.session.query(EmailSuppression).count() == 0


def test_without_smtp_url_mail_goes_to_the_outbox(app, store):
    assert not app.config.get("SMTP_URL")
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    assert delivery.deliver(outcome.message_pk) == SENT
    outbox = db.session.query(OutboxMail).one()
    assert outbox.message_pk == outcome.message_pk and outbox.shop_id == store.id
    assert "Subject: Hello Ada" in outbox.raw and "To: ada@example.com" in outbox.raw
    assert delivery.deliver(outcome.message_pk) == SENT
    assert db.session.query(OutboxMail).count() == 1


def test_a_store_without_a_sender_address_skips_with_the_reason(shop):
    ada = customer(shop)
    welcome = flow(shop)
    outcome = _queue(shop, welcome, run(shop, welcome, ada))
    assert outcome.status == "skipped"
    assert outcome.reason == "the store has no sender address: set one in Settings"


def test_a_paused_flow_holds_its_queued_mail_until_resumed(app, store, smtp_server):
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    service.pause(db.session, welcome)
    db.session.commit()
    assert delivery.deliver(outcome.message_pk) == QUEUED
    assert sending.requeue_stale(db.session, NOW + timedelta(hours=1)) == 0
    service.resume(db.session, welcome)
    db.session.commit()
    get_redis().flushdb()
    assert sending.requeue_stale(db.session, NOW + timedelta(hours=1)) == 1
    run_worker(app)
    assert len(smtp_server.messages) == 1 and messages()[0].status == SENT


def test_a_template_that_fails_to_render_fails_the_message_with_why(store, smtp_server):
    # given a template that passes the editor's trial render but fails on Ada's data
    # (her one order makes it divide by zero)
    ada = customer(store)
    broken = flow(store, steps=[{"id": "e1", "type": "email", "subject": "Hi",
                                 "html": "{{ 100 // (customer.orders_count - 1) }}",
                                 "text": None}])
    outcome = _queue(store, broken, run(store, broken, ada))
    assert delivery.deliver(outcome.message_pk) == FAILED
    assert messages()[0].reason.startswith("the template failed")
    assert smtp_server.messages == []


def test_a_lost_queue_is_refilled_by_the_sweep_and_the_email_sent_once(app, store, smtp_server):
    # given a queued message whose job Redis lost (flushed)
    ada = customer(store)
    welcome = flow(store)
    outcome = _queue(store, welcome, run(store, welcome, ada))
    get_redis().flushdb()
    # when the sweep runs: not before the message is a few minutes old
    assert sending.requeue_stale(db.session, NOW) == 0
    later = NOW + timedelta(minutes=10)
    assert sending.requeue_stale(db.session, later) == 1
    # a second sweep while the job waits adds nothing
    assert sending.requeue_stale(db.session, later) == 0
    run_worker(app)
    assert sending.requeue_stale(db.session, later) == 0
    run_worker(app)
    # then it was sent once
    assert len(smtp_server.messages) == 1
    assert messages()[0].status == SENT
    job_id = get_redis().get(f"sticky:flow-message:{outcome.message_pk}").decode()
    assert Job.fetch(job_id, connection=get_redis()).get_status() == "finished"


def test_a_test_send_goes_to_the_merchant_now_and_counts_nowhere(store, smtp_server):
    ada = customer(store)
    welcome = flow(store)
    message = sending.test_send(db.session, store, welcome, "e1", "owner@shop.example",
                                customer_id=ada.id)
    assert (message.status, message.test, message.run_id) == (SENT, True, None)
    [email] = smtp_server.to("owner@shop.example")
    assert email["Subject"] == "[Test] Hello Ada"
    assert email["List-Unsubscribe"] is None
    with pytest.raises(sending.TestSendRefused):
        sending.test_send(db.session, store, welcome, "nope", "owner@shop.example")
    with pytest.raises(sending.TestSendRefused):
        sending.test_send(db.session, store, welcome, "e1", "not an address")


def test_the_messages_of_one_commit_are_delivered_by_one_job(app, store, smtp_server):
    # given three shoppers' steps queued in one transaction (a sweep's batch)
    welcome = flow(store)
    shoppers = [customer(store, f"s{i}@example.com") for i in range(3)]
    for shopper in shoppers:
        sending.queue_email(db.session, run(store, welcome, shopper), welcome,
                            welcome.definition["steps"][0], welcome.definition, NOW)
    db.session.commit()
    # then one job carries them, and a worker delivers each once
    assert get_queue("default").count == 1
    run_worker(app)
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "s0@example.com", "s1@example.com", "s2@example.com"]
    assert {m.status for m in messages()} == {SENT}


def test_a_message_that_cannot_be_made_fails_alone_and_its_batch_goes_out(
        app, store, smtp_server, monkeypatch):
    # given a batch of three where one shopper's data breaks the variables
    from app.flows import variables

    welcome = flow(store)
    shoppers = [customer(store, f"s{i}@example.com") for i in range(3)]
    for shopper in shoppers:
        sending.queue_email(db.session, run(store, welcome, shopper), welcome,
                            welcome.definition["steps"][0], welcome.definition, NOW)
    db.session.commit()
    real = variables.build

    def build(session, r, step, pk, **kw):
        if r.customer_id == shoppers[1].id:
            raise ValueError("a checkout line without a title")
        return real(session, r, step, pk, **kw)

    monkeypatch.setattr(variables, "build", build)
    # when the worker delivers the batch
    run_worker(app)
    # then the two others are sent, and the broken one failed with why, not retried forever
    assert sorted(m["To"] for m in smtp_server.messages) == ["s0@example.com", "s2@example.com"]
    broken = next(m for m in messages() if m.customer_id == shoppers[1].id)
    assert broken.status == FAILED
    assert broken.reason == "the email could not be made: ValueError: a checkout line without " \
                            "a title"
