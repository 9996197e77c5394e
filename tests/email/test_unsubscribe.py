"""Unsubscribing from an email's link: the confirmation page, the one-click POST (RFC 8058)
without sign-in or CSRF token, consent through the profile store, runs stopped, Shopify told
by a retried job, and nothing changed twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses
from sqlalchemy import select

from app.email import tokens
from app.events.models import StoredEvent
from app.flows.models import RUN_ACTIVE, RUN_EXITED, TRANSACTIONAL, FlowRun, Message
from app.flows.unsubscribe import PUSH_JOB, PushLater, push_unsubscribe
from app.profiles.models import Customer, TimelineEvent
from app.queue import get_queue
from tests.email.support import flow_row, sent_message

ENDPOINT = "https://sticky-test.myshopify.com/admin/api/2026-10/graphql.json"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _path(message_pk) -> str:
    return tokens.url("unsubscribe", message_pk).removeprefix("https://sticky.test")


def _consent_answer(gid: str) -> dict:
    # Shaped like Shopify's published example of customerEmailMarketingConsentUpdate.
    return {"data": {"customerEmailMarketingConsentUpdate": {
        "customer": {"id": gid, "emailMarketingConsent": {
            "marketingState": "UNSUBSCRIBED", "marketingOptInLevel": "SINGLE_OPT_IN",
            "consentUpdatedAt": "2026-12-07T12:00:00Z"}},
        "userErrors": []}},
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                                "throttleStatus": {"maximumAvailable": 2000.0,
                                                   "currentlyAvailable": 1990,
                                                   "restoreRate": 100.0}}}}


def test_the_page_asks_first_and_changes_nothing(client, session, shop):
    # given a message to a subscribed shopper
    message = sent_message(session, shop, email="maya.lindqvist@example.com")

    # when the link is opened (a GET, as a mail scanner would too)
    response = client.get(_path(message.id))

    # then the page asks, with a button, and shows the address masked
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<form method="post">' in page and "Unsubscribe</button>" in page
    assert "m***@example.com" in page and "maya.lindqvist" not in page
    session.expire_all()
    assert session.get(Customer, message.customer_id).email_marketing == "subscribed"


def test_one_click_unsubscribes_stops_marketing_runs_and_tells_shopify(app, client, session,
                                                                       shop):
    # given a shopper with a sent message, an active marketing run and a transactional one
    message = sent_message(session, shop)
    customer_id = message.customer_id
    notice = sent_message(session, shop, customer=session.get(Customer, customer_id),
                          flow=flow_row(session, shop, category=TRANSACTIONAL))
    gid = f"gid://shopify/Customer/{session.get(Customer, customer_id).platform_customer_id}"

    # when the mailbox provider POSTs the one-click body, with no session and no CSRF token
    response = client.post(_path(message.id), data=ONE_CLICK)

    # then the shopper is unsubscribed through the profile store ...
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    session.expire_all()
    customer = session.get(Customer, customer_id)
    assert customer.email_marketing == "unsubscribed"
    assert [e.kind for e in session.scalars(select(StoredEvent).where(
        StoredEvent.customer_id == customer_id))] == ["email_marketing_changed"]
    timeline = session.scalars(select(TimelineEvent).where(
        TimelineEvent.customer_id == customer_id)).all()
    assert [(t.kind, t.data) for t in timeline] == [
        ("email_marketing_changed", {"email_marketing": "unsubscribed"})]
    # ... the message records it (the other one, which was not clicked, does not)
    assert session.get(Message, message.id).unsubscribed_at is not None
    assert session.get(Message, notice.id).unsubscribed_at is None
    # ... and a job tells Shopify
    pushes = [list(j.args) for j in get_queue("default").jobs if j.func_name == PUSH_JOB]
    assert pushes == [[shop.id, customer_id]]
    session.close()  # the job writes in its own transaction (SQLite has one writer at a time)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, ENDPOINT, json=_consent_answer(gid))
        # the queued job, run in this process (so the stubbed HTTP edge sees its request)
        job = next(j for j in get_queue("default").jobs if j.func_name == PUSH_JOB)
        assert job.perform()["outcome"] == "pushed"
        sent = json.loads(rsps.calls[0].request.body)
    assert "customerEmailMarketingConsentUpdate" in sent["query"]
    assert sent["variables"]["input"]["customerId"] == gid
    consent = sent["variables"]["input"]["emailMarketingConsent"]
    assert (consent["marketingState"], consent["marketingOptInLevel"]) == (
        "UNSUBSCRIBED", "SINGLE_OPT_IN")


def test_one_click_stops_the_marketing_runs_and_not_the_transactional_ones(client, session,
                                                                         shop):
    # given a shopper in a marketing flow and a transactional one
    message = sent_message(session, shop)
    notice = sent_message(session, shop, customer=session.get(Customer, message.customer_id),
                          flow=flow_row(session, shop, category=TRANSACTIONAL))
    other = sent_message(session, shop)  # another shopper

    # when they unsubscribe
    client.post(_path(message.id), data=ONE_CLICK)

    # then their marketing run stops, with the reason; the notice and others go on
    session.expire_all()
    run = session.get(FlowRun, message.run_id)
    assert (run.status, run.exit_reason) == (RUN_EXITED, "unsubscribed")
    assert session.get(FlowRun, notice.run_id).status == RUN_ACTIVE
    assert session.get(FlowRun, other.run_id).status == RUN_ACTIVE


def test_a_second_unsubscribe_changes_nothing(client, session, shop):
    message = sent_message(session, shop)
    client.post(_path(message.id), data=ONE_CLICK)
    session.expire_all()
    first_at = session.get(Message, message.id).unsubscribed_at
    get_queue("default").empty()

    response = client.post(_path(message.id), data=ONE_CLICK)

    assert response.status_code == 200
    assert "already unsubscribed" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Message, message.id).unsubscribed_at == first_at
    assert session.scalars(select(StoredEvent)).all().__len__() == 1
    assert [j for j in get_queue("default").jobs if j.func_name == PUSH_JOB] == []
    assert "You are unsubscribed" in client.get(_path(message.id)).get_data(as_text=True)


def test_the_page_button_unsubscribes_too(client, session, shop):
    message = sent_message(session, shop)
    response = client.post(_path(message.id), data={})
    assert response.status_code == 200
    session.expire_all()
    assert session.get(Customer, message.customer_id).email_marketing == "unsubscribed"


def test_a_platform_consent_stamped_ahead_of_the_click_does_not_win(client, session, shop):
    # given a profile whose consent time (platform clock) is ahead of ours
    message = sent_message(session, shop)
    customer = session.get(Customer, message.customer_id)
    customer.email_marketing_updated_at = datetime(2099, 1, 1, tzinfo=UTC)
    session.commit()

    client.post(_path(message.id), data=ONE_CLICK)

    session.expire_all()
    assert session.get(Customer, message.customer_id).email_marketing == "unsubscribed"


def test_a_test_email_link_and_a_removed_message_say_so(client, session, shop):
    test_link = client.post(_path(0), data=ONE_CLICK)
    assert test_link.status_code == 200
    assert "test email" in test_link.get_data(as_text=True)
    gone = client.get(_path(424242))
    assert gone.status_code == 404
    assert "no longer works" in gone.get_data(as_text=True)


def test_the_shopify_push_retries_while_shopify_is_down_and_stops_on_a_refusal(app, session,
                                                                               shop):
    message = sent_message(session, shop)
    from app.flows.unsubscribe import unsubscribe

    unsubscribe(session, message.id)
    customer_id = message.customer_id
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, ENDPOINT, status=503)
        with pytest.raises(PushLater):
            push_unsubscribe(session, shop.id, customer_id)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, ENDPOINT, json={"data": {"customerEmailMarketingConsentUpdate": {
            "customer": None, "userErrors": [{"field": ["input", "customerId"],
                                              "message": "Customer does not exist",
                                              "code": "INVALID"}]}}})
        assert push_unsubscribe(session, shop.id, customer_id) == "refused"


def test_the_push_skips_a_shopper_who_subscribed_again(session, shop):
    message = sent_message(session, shop)
    # (still subscribed: nothing was unsubscribed, so nothing is pushed, no request made)
    with responses.RequestsMock():
        assert push_unsubscribe(session, shop.id, message.customer_id) == "not unsubscribed"


def test_a_guest_profile_is_unsubscribed_and_shopify_is_not_asked(client, session, shop):
    # given a shopper known by email only (a guest checkout), with no Shopify customer
    message = sent_message(session, shop, platform_customer_id=None,
                           email="guest@example.com")

    client.post(_path(message.id), data=ONE_CLICK)

    session.expire_all()
    assert session.get(Customer, message.customer_id).email_marketing == "unsubscribed"
    assert [e.kind for e in session.scalars(select(StoredEvent).where(
        StoredEvent.customer_id == message.customer_id))] == ["email_marketing_changed"]
    assert [j for j in get_queue("default").jobs if j.func_name == PUSH_JOB] == []
