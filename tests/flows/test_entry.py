"""Entering a flow: one run per trigger, trigger and flow filters, re-entry, holdout."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from app.events.models import EventCursor
from app.flows import entry, runner, service
from app.flows.models import RUN_ACTIVE, RUN_EXITED, STEP_DONE, STEP_HOLDOUT, FlowRun
from app.loyalty.models import LedgerEntry, Redemption
from tests.conftest import post_webhook
from tests.factories import checkout_payload, customer_payload
from tests.flows.engine_support import (  # noqa: F401 - `sending_fixture`: a fixture
    NOW,
    deliver,
    email,
    later,
    live_flow,
    message_count,
    messages_of,
    minutes,
    sending_fixture,
    settle,
    shopper,
    steps_of,
    wait,
)


def runs(session, flow) -> int:
    return session.execute(select(func.count(FlowRun.id)).where(
        FlowRun.flow_id == flow.id)).scalar_one()


def test_a_redelivered_trigger_never_starts_a_second_run(session, shop, sending):
    # given a live flow and a shopper
    flow = live_flow(session, shop, [email()])
    ada = shopper(session, shop)
    # when the same trigger is handled twice
    first = entry.enter(session, flow, ada.id, "event:41", {"event": {}}, NOW)
    second = entry.enter(session, flow, ada.id, "event:41", {"event": {}}, NOW)
    session.commit()
    # then one run exists, and advancing it twice sends one email
    assert first is not None and second is None
    assert runs(session, flow) == 1
    runner.advance(session, first, NOW)
    runner.advance(session, first, later(5))
    session.commit()
    assert messages_of(session, first) == ["s1"]


def test_trigger_filters_are_checked_once_on_the_triggering_event(session, shop, sending):
    # given a flow for orders of 50 or more, from shoppers without an order before
    flow = live_flow(session, shop, [email(), wait(60), email()], trigger="order_placed",
                     trigger_filters=[{"field": "event.total_price", "op": "gte", "value": 50},
                                      {"field": "orders_count", "op": "eq", "value": 0}])
    ada, bob = shopper(session, shop), shopper(session, shop)
    # when a small order and a big one arrive
    small = entry.enter(session, flow, bob.id, "event:1", {"event": {"total_price": "20"}}, NOW)
    big = entry.enter(session, flow, ada.id, "event:2", {"event": {"total_price": "80"}}, NOW)
    session.commit()
    assert small is None and big is not None
    runner.advance(session, big, NOW)
    # and the profile no longer matches the trigger filter later
    ada.orders_count = 3
    session.commit()
    runner.advance(session, big, later(61))
    session.commit()
    # then the run goes on: trigger filters are not checked again
    assert messages_of(session, big) == ["s1", "s3"]
    assert big.status == "completed"


def test_flow_filters_are_checked_on_entry_and_before_every_step(session, shop, sending):
    # given a flow for shoppers who have not ordered
    flow = live_flow(session, shop, [email(), wait(24 * 60), email()],
                     flow_filters=[{"field": "orders_count", "op": "eq", "value": 0}])
    buyer, newcomer = shopper(session, shop, orders_count=2), shopper(session, shop)
    # when both are triggered
    refused = entry.enter(session, flow, buyer.id, "event:1", {"event": {}}, NOW)
    run = entry.enter(session, flow, newcomer.id, "event:2", {"event": {}}, NOW)
    runner.advance(session, run, NOW)
    session.commit()
    # then only the newcomer enters and gets the first email
    assert refused is None
    assert messages_of(session, run) == ["s1"]
    # when the newcomer orders during the wait
    newcomer.orders_count = 1
    session.commit()
    runner.advance(session, run, later(days=1, minutes=1))
    session.commit()
    # then the run stops before the second email, saying why
    assert run.status == RUN_EXITED
    assert run.exit_reason == "flow filters no longer hold"
    assert messages_of(session, run) == ["s1"]


def test_a_shopper_enters_once_ever_when_reentry_is_not_allowed(session, shop, sending):
    flow = live_flow(session, shop, [email()], reentry_days=None)
    ada = shopper(session, shop)
    assert entry.enter(session, flow, ada.id, "event:1", {"event": {}}, NOW) is not None
    assert entry.enter(session, flow, ada.id, "event:2", {"event": {}},
                       later(days=400)) is None
    session.commit()
    assert runs(session, flow) == 1


def test_reentry_days_keep_a_shopper_out_for_that_many_days(session, shop, sending):
    flow = live_flow(session, shop, [email()], reentry_days=7)
    ada = shopper(session, shop)
    assert entry.enter(session, flow, ada.id, "event:1", {"event": {}}, NOW) is not None
    assert entry.enter(session, flow, ada.id, "event:2", {"event": {}}, later(days=6)) is None
    assert entry.enter(session, flow, ada.id, "event:3", {"event": {}},
                       later(days=7, minutes=1)) is not None
    session.commit()
    assert runs(session, flow) == 2


def test_reentry_zero_enters_every_trigger_and_each_trigger_once(session, shop, sending):
    # given a notice-like flow that a shopper enters every time it is triggered
    flow = live_flow(session, shop, [email()], reentry_days=0)
    ada = shopper(session, shop)
    # when two events come a minute apart, and the first is delivered again
    assert entry.enter(session, flow, ada.id, "event:1", {"event": {}}, NOW) is not None
    assert entry.enter(session, flow, ada.id, "event:2", {"event": {}},
                       later(minutes=1)) is not None
    assert entry.enter(session, flow, ada.id, "event:1", {"event": {}},
                       later(minutes=2)) is None
    session.commit()
    # then each event started one run
    assert runs(session, flow) == 2


def test_a_flow_that_is_not_live_starts_nothing(session, shop, sending):
    flow = live_flow(session, shop, [email()])
    service.pause(session, flow)
    session.commit()
    ada = shopper(session, shop)
    assert entry.enter(session, flow, ada.id, "event:1", {"event": {}}, NOW) is None


def test_a_held_out_run_goes_through_its_steps_and_receives_nothing(session, shop, sending,
                                                                   monkeypatch):
    # given a flow keeping 10 % of entrants out, and a draw that falls in them
    flow = live_flow(session, shop, [
        email(), {"type": "award_points", "points": 100, "reason": "Welcome"},
        {"type": "discount", "kind": "percentage", "value": 10, "expires_after_days": 7},
        {"type": "tag", "tag": "welcomed"}, wait(60), email()], holdout_percent=10)
    monkeypatch.setattr(entry, "draw", lambda: 4.2)
    ada = shopper(session, shop)
    # when the run goes through every step
    run = entry.enter(session, flow, ada.id, "event:1", {"event": {}}, NOW)
    runner.advance(session, run, NOW)
    runner.advance(session, run, later(61))
    session.commit()
    # then it is counted as held out, and sent, awarded and made nothing
    assert run.holdout is True and run.status == "completed"
    assert [(s, status) for s, status, _ in steps_of(session, run)] == [
        ("s1", STEP_HOLDOUT), ("s2", STEP_HOLDOUT), ("s3", STEP_HOLDOUT), ("s4", STEP_DONE),
        ("s5", STEP_DONE), ("s6", STEP_HOLDOUT)]
    assert message_count(session) == 0 and sending.calls == []
    assert session.execute(select(func.count(LedgerEntry.id))).scalar_one() == 0
    assert session.execute(select(func.count(Redemption.id))).scalar_one() == 0


def test_the_holdout_draw_keeps_about_its_share_of_entrants(session, shop, sending):
    flow = live_flow(session, shop, [email()], holdout_percent=20)
    held = 0
    for n in range(300):
        person = shopper(session, shop)
        run = entry.enter(session, flow, person.id, f"event:{n}", {"event": {}}, NOW)
        held += run.holdout
    session.commit()
    # 300 draws at 20 %: 60 expected; outside 30..95 happens about once in 10^6 runs
    assert 30 <= held <= 95
    assert session.execute(select(func.count(FlowRun.id)).where(
        FlowRun.status == RUN_ACTIVE)).scalar_one() == 300


def test_a_redelivered_webhook_and_a_replayed_log_start_no_second_run(app, client, session,
                                                                      shop, sending):
    # given a live abandoned-checkout flow, and a checkout delivered twice by Shopify
    flow = live_flow(session, shop, [wait(60), email()], trigger="checkout_started",
                     exit_on_order=True)
    payload = checkout_payload(token="tok-r", email="ada@example.com",
                               updated=minutes(datetime.now(UTC)))
    deliver(client, "checkouts/create", payload)
    assert post_webhook(client, "checkouts/update", payload).status_code == 200
    settle(app)
    assert runs(session, flow) == 1
    # when the flows subscriber's cursor is rewound and the whole log handed to it again
    session.execute(update(EventCursor).where(EventCursor.subscriber == "flows")
                    .values(last_event_id=0))
    session.commit()
    from jobs.events import sweep_events

    sweep_events()
    settle(app)
    # then the log was handed over again, and there is still one run, under the checkout's key
    assert session.execute(select(EventCursor.last_event_id).where(
        EventCursor.subscriber == "flows")).scalar_one() > 0
    assert runs(session, flow) == 1
    run = session.execute(select(FlowRun)).scalar_one()
    assert run.trigger_key == "checkout:tok-r"


def test_a_guests_run_follows_them_when_their_profile_is_merged(app, client, session, shop,
                                                                sending):
    # given a registered customer, and a guest checkout under another address
    flow = live_flow(session, shop, [wait(60), email()], trigger="checkout_started",
                     exit_on_order=True)
    now = minutes(datetime.now(UTC))
    registered = customer_payload(email="ada.old@example.com", updated=now - 60)
    deliver(client, "customers/create", registered)
    deliver(client, "checkouts/create", checkout_payload(token="tok-m", email="ada@example.com",
                                                         updated=now))
    settle(app)
    guest_run = session.execute(select(FlowRun)).scalar_one()
    # when the customer's address changes to the guest's: the guest profile is merged
    deliver(client, "customers/update", {**registered, "email": "ada@example.com",
                                         "updated_at": datetime.now(UTC).isoformat()})
    settle(app)
    # then the run survives, now the registered profile's
    from app.profiles.models import Customer

    ada = session.execute(select(Customer).where(
        Customer.platform_customer_id == str(registered["id"]))).scalar_one()
    session.expire_all()
    run = session.execute(select(FlowRun)).scalar_one()
    assert run.id == guest_run.id and run.flow_id == flow.id
    assert run.customer_id == ada.id != guest_run.customer_id


def test_consent_given_starts_a_welcome_and_other_consent_changes_do_not(app, client, session,
                                                                         shop, sending):
    # given a welcome flow for shoppers who subscribe
    flow = live_flow(session, shop, [email()], trigger="email_marketing_changed",
                     trigger_filters=[{"field": "event.email_marketing", "op": "eq",
                                       "value": "subscribed"}])
    start = datetime.now(UTC)
    ada, bob = customer_payload(email="ada@example.com"), customer_payload(email="bob@example.com")
    for person, state in ((ada, "subscribed"), (bob, "not_subscribed")):
        deliver(client, "customers_email_marketing_consent/update", {
            "customer_id": person["id"], "email_address": person["email"],
            "email_marketing_consent": {"state": state, "opt_in_level": "single_opt_in",
                                        "consent_updated_at": start.isoformat()}})
    settle(app)
    # then only the shopper who subscribed entered, and had the email
    run = session.execute(select(FlowRun)).scalar_one()
    from app.profiles.models import Customer

    assert session.get(Customer, run.customer_id).email == "ada@example.com"
    assert run.flow_id == flow.id and messages_of(session, run) == ["s1"]
