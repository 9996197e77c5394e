"""Exits, driven through signed Shopify webhooks and the real worker: the abandoned-checkout
email never goes out after the order, whichever arrives first; unsubscribing and deletion
stop runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.flows import exits, runner
from app.flows.models import RUN_ACTIVE, RUN_EXITED, TRANSACTIONAL, FlowRun
from app.profiles.models import Customer, Order
from tests.factories import checkout_payload, customer_payload, order_payload
from tests.flows.engine_support import (  # noqa: F401 - `sending_fixture`: a fixture
    deliver,
    email,
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

ADA = "ada@example.com"


def abandoned_checkout(session, shop):
    return live_flow(session, shop, [wait(60), email("You left something"), wait(24 * 60),
                                     email("Still thinking?")],
                     trigger="checkout_started", exit_on_order=True, name="Abandoned checkout")


def the_run(session) -> FlowRun | None:
    session.expire_all()
    return session.execute(select(FlowRun)).scalar_one_or_none()


def sweep_at(session, moment: datetime) -> None:
    runner.sweep(session, moment)
    session.expire_all()


def test_an_order_during_the_delay_stops_the_abandoned_checkout(app, client, session, shop,
                                                                sending):
    # given a shopper who starts a checkout
    flow = abandoned_checkout(session, shop)
    start = datetime.now(UTC)
    deliver(client, "checkouts/create", checkout_payload(token="tok-1", cart_token="cart-1",
                                                         email=ADA, updated=minutes(start)))
    settle(app)
    run = the_run(session)
    assert run is not None and run.flow_id == flow.id and run.status == RUN_ACTIVE
    assert run.context["checkout_token"] == "tok-1" and run.context["cart_token"] == "cart-1"
    # (the worker ran its first step: it waits an hour from entry for the email)
    assert run.step_id == "s2" and run.due_at == run.entered_at + timedelta(minutes=60)
    # when they order 20 minutes later, before the first email is due
    deliver(client, "orders/create", order_payload(checkout_token="tok-1", cart_token="cart-1",
                                                   email=ADA, placed=minutes(start) + 20,
                                                   updated=minutes(start) + 20))
    settle(app)
    sweep_at(session, start + timedelta(minutes=61))
    sweep_at(session, start + timedelta(days=2))
    # then the run has stopped, saying why, and no email went out
    run = the_run(session)
    assert run.status == RUN_EXITED and run.exit_reason.startswith("order placed")
    assert message_count(session) == 0
    # and the email it was waiting for is recorded as skipped, with the same reason
    assert steps_of(session, run) == [("s1", "done", None), ("s2", "skipped", run.exit_reason)]


def test_an_order_that_arrives_before_the_checkout_starts_no_run(app, client, session, shop,
                                                                 sending):
    # given orders/create is delivered before the checkout's webhooks
    abandoned_checkout(session, shop)
    start = datetime.now(UTC)
    deliver(client, "orders/create", order_payload(checkout_token="tok-2", email=ADA,
                                                   placed=minutes(start) + 5,
                                                   updated=minutes(start) + 5))
    settle(app)
    # when the checkout's create and update arrive afterwards
    deliver(client, "checkouts/create", checkout_payload(token="tok-2", email=ADA,
                                                         updated=minutes(start)))
    deliver(client, "checkouts/update", checkout_payload(token="tok-2", email=ADA,
                                                         updated=minutes(start) + 4))
    settle(app)
    sweep_at(session, start + timedelta(days=2))
    # then no run started, and nothing was sent
    assert the_run(session) is None
    assert message_count(session) == 0


def test_an_order_between_the_checkouts_create_and_update_stops_the_run(app, client, session,
                                                                        shop, sending):
    abandoned_checkout(session, shop)
    start = datetime.now(UTC)
    deliver(client, "checkouts/create", checkout_payload(token="tok-3", email=ADA,
                                                         updated=minutes(start)))
    settle(app)
    deliver(client, "orders/create", order_payload(checkout_token="tok-3", email=ADA,
                                                   placed=minutes(start) + 3,
                                                   updated=minutes(start) + 3))
    deliver(client, "checkouts/update", checkout_payload(token="tok-3", email=ADA,
                                                         updated=minutes(start) + 2))
    settle(app)
    sweep_at(session, start + timedelta(days=2))
    assert the_run(session).status == RUN_EXITED
    assert message_count(session) == 0


def test_an_order_after_the_first_email_stops_the_reminder(app, client, session, shop,
                                                           sending):
    # given the first email went out after the delay
    abandoned_checkout(session, shop)
    start = datetime.now(UTC)
    deliver(client, "checkouts/create", checkout_payload(token="tok-4", email=ADA,
                                                         updated=minutes(start)))
    settle(app)
    sweep_at(session, start + timedelta(minutes=61))
    run = the_run(session)
    assert messages_of(session, run) == ["s2"]
    # when the shopper orders, with no checkout token, under the same email
    deliver(client, "orders/create", order_payload(email=ADA, placed=minutes(start) + 120,
                                                   updated=minutes(start) + 120))
    settle(app)
    sweep_at(session, start + timedelta(days=2))
    # then the reminder is never sent
    run = the_run(session)
    assert run.status == RUN_EXITED and run.exit_reason.startswith("order placed")
    assert messages_of(session, run) == ["s2"]


def test_an_order_stored_while_the_subscriber_lags_still_stops_the_next_send(
        app, client, session, shop, sending):
    # given a run waiting for its first email
    abandoned_checkout(session, shop)
    start = datetime.now(UTC)
    deliver(client, "checkouts/create", checkout_payload(token="tok-5", email=ADA,
                                                         updated=minutes(start)))
    settle(app)
    run = the_run(session)
    # when the order is in the store but no subscriber has seen its event yet
    session.add(Order(shop_id=shop.id, customer_id=run.customer_id, platform_order_id="9001",
                      name="#9001", email=ADA, currency="USD", checkout_token="tok-5",
                      placed_at=start + timedelta(minutes=30)))
    session.commit()
    sweep_at(session, start + timedelta(minutes=61))
    # then the step checks the store itself and stops
    assert the_run(session).exit_reason == "order placed (#9001)"
    assert message_count(session) == 0


def test_an_earlier_order_of_the_shopper_does_not_stop_the_run(app, client, session, shop,
                                                               sending):
    abandoned_checkout(session, shop)
    start = datetime.now(UTC)
    deliver(client, "orders/create", order_payload(email=ADA, placed=minutes(start) - 600,
                                                   updated=minutes(start) - 600))
    settle(app)
    deliver(client, "checkouts/create", checkout_payload(token="tok-6", email=ADA,
                                                         updated=minutes(start)))
    settle(app)
    sweep_at(session, start + timedelta(minutes=61))
    run = the_run(session)
    assert run.status == RUN_ACTIVE and messages_of(session, run) == ["s2"]


def test_unsubscribing_stops_marketing_runs_only(app, client, session, shop, sending):
    # given a marketing welcome and a transactional notice, both started by the sign-up
    live_flow(session, shop, [email(), wait(60), email()], name="Welcome")
    live_flow(session, shop, [email(), wait(60), email()], name="Account notice",
              category=TRANSACTIONAL, send_to="not_unsubscribed")
    start = datetime.now(UTC)
    created = customer_payload(email=ADA, updated=minutes(start))
    deliver(client, "customers/create", created)
    settle(app)
    # when the shopper unsubscribes on Shopify
    deliver(client, "customers_email_marketing_consent/update", {
        "customer_id": created["id"], "email_address": ADA,
        "email_marketing_consent": {"state": "unsubscribed", "opt_in_level": "single_opt_in",
                                    "consent_updated_at": (start + timedelta(minutes=5))
                                    .isoformat()}})
    settle(app)
    sweep_at(session, start + timedelta(minutes=61))
    # then the marketing run stopped, the transactional one finished
    runs = {r.flow_id: r for r in session.execute(select(FlowRun)).scalars()}
    statuses = sorted((r.status, r.exit_reason) for r in runs.values())
    assert statuses == [("completed", None), ("exited", "unsubscribed")]


def test_a_deleted_customer_gets_nothing_more(app, client, session, shop, sending):
    live_flow(session, shop, [email(), wait(60), email()], name="Welcome")
    start = datetime.now(UTC)
    created = customer_payload(email=ADA, updated=minutes(start))
    deliver(client, "customers/create", created)
    settle(app)
    deliver(client, "customers/delete", {"id": created["id"]})
    settle(app)
    sweep_at(session, start + timedelta(minutes=61))
    run = the_run(session)
    assert run.status == RUN_EXITED and run.exit_reason == "customer deleted"
    assert messages_of(session, run) == ["s1"]


def test_exit_runs_stops_every_active_run_of_the_shopper(session, shop, sending):
    marketing = live_flow(session, shop, [wait(60), email()], name="Welcome")
    notice = live_flow(session, shop, [wait(60), email()], name="Notice",
                       category=TRANSACTIONAL, send_to="not_unsubscribed")
    ada, bob = shopper(session, shop), shopper(session, shop)
    from app.flows import entry

    now = datetime.now(UTC)
    for flow in (marketing, notice):
        for person in (ada, bob):
            entry.enter(session, flow, person.id, f"event:{flow.id}:{person.id}", {}, now)
    session.commit()
    assert exits.exit_runs(session, shop.id, ada.id, "unsubscribed", marketing_only=True) == 1
    assert exits.exit_runs(session, shop.id, ada.id, "customer redacted") == 1
    session.commit()
    left = session.execute(select(FlowRun.customer_id).where(
        FlowRun.status == RUN_ACTIVE)).scalars().all()
    assert sorted(left) == [bob.id, bob.id]
    assert session.get(Customer, ada.id) is not None
