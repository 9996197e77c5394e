"""Orders credited, last touch, to the flow email clicked (else opened) before them: inside
and outside each window, opens switched off, replays, and the order of preference."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.db import db
from app.events import DomainEvent
from app.flows.attribution import SUBSCRIBER, attribute_order, handle_event
from app.flows.models import FlowConversion
from app.profiles.models import Customer
from app.settings.service import update_settings
from app.subscribers import SUBSCRIBERS
from benchmarks.payloads.shopify import BASE_TIME
from tests.factories import customer_payload, order_payload
from tests.flows.report_support import (
    NOW,
    days,
    engage,
    make_flow,
    message_of,
    order_of,
    run_of,
    shopper,
)
from tests.loyalty.earning_support import customer, deliver, order_row, settle


def conversions(session):
    return list(session.scalars(select(FlowConversion).order_by(FlowConversion.id)))


def test_an_order_within_the_click_window_is_credited_to_the_clicked_email(session, shop):
    # given an email of the welcome flow clicked 4 days 23 hours before the order
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(6))
    clicked = NOW - days(5) + timedelta(hours=1)
    message = message_of(session, run, "first", sent_at=NOW - days(6), clicked_at=clicked)
    order = order_of(session, ada, NOW, "80.50", currency="EUR")
    # when the order is attributed
    conversion = attribute_order(session, shop, order)
    # then it is the flow's, at that step, with the order's total in its currency
    assert conversion is not None
    assert (conversion.flow_id, conversion.run_id, conversion.step_id,
            conversion.message_pk) == (flow.id, run.id, "first", message.id)
    assert (conversion.touch, conversion.touched_at) == ("click", clicked)
    assert (conversion.revenue, conversion.currency) == (Decimal("80.50"), "EUR")
    assert conversion.placed_at == NOW and conversion.customer_id == ada.id


def test_a_click_older_than_the_click_window_earns_nothing(session, shop):
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(7))
    message_of(session, run, "first", sent_at=NOW - days(7),
               clicked_at=NOW - days(5) - timedelta(hours=1))
    order = order_of(session, ada, NOW)
    assert attribute_order(session, shop, order) is None
    assert conversions(session) == []


def test_an_open_within_the_open_window_counts_when_nothing_was_clicked(session, shop):
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(3))
    opened = NOW - days(2)
    message_of(session, run, "second", sent_at=NOW - days(3), opened_at=opened)
    conversion = attribute_order(session, shop, order_of(session, ada, NOW))
    assert (conversion.touch, conversion.step_id, conversion.touched_at) == ("open", "second",
                                                                             opened)


def test_an_open_outside_its_window_earns_nothing(session, shop):
    # given an open window of 2 days and an open 3 days before the order
    update_settings(session, shop, {"attribution_open_days": 2})
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(4))
    message_of(session, run, "first", sent_at=NOW - days(4), opened_at=NOW - days(3))
    assert attribute_order(session, shop, order_of(session, ada, NOW)) is None


def test_opens_switched_off_count_for_nothing_but_clicks_still_do(session, shop):
    # given opens switched off
    update_settings(session, shop, {"attribution_open_days": 0})
    flow = make_flow(session, shop)
    ada, grace = shopper(session, shop), shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(2))
    message_of(session, run, "first", sent_at=NOW - days(2), opened_at=NOW - days(1))
    other = run_of(session, flow, grace, NOW - days(2))
    message_of(session, other, "first", sent_at=NOW - days(2), opened_at=NOW - days(1),
               clicked_at=NOW - days(1))
    # then the opened-only email earns nothing, the clicked one earns its order
    assert attribute_order(session, shop, order_of(session, ada, NOW)) is None
    conversion = attribute_order(session, shop, order_of(session, grace, NOW))
    assert conversion.touch == "click" and conversion.customer_id == grace.id


def test_a_click_beats_a_later_open_of_another_email(session, shop):
    # given a click of the first email 3 days before, and an open of the second a day before
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(4))
    first = message_of(session, run, "first", sent_at=NOW - days(4), opened_at=NOW - days(3),
                       clicked_at=NOW - days(3))
    message_of(session, run, "second", sent_at=NOW - days(1), opened_at=NOW - days(1))
    # then clicks come first: the order is the first email's
    conversion = attribute_order(session, shop, order_of(session, ada, NOW))
    assert (conversion.touch, conversion.message_pk, conversion.step_id) == ("click", first.id,
                                                                             "first")


def test_the_latest_click_wins_across_flows_and_repeated_clicks(session, shop):
    welcome = make_flow(session, shop)
    win_back = make_flow(session, shop, name="Win back")
    ada = shopper(session, shop)
    early = message_of(session, run_of(session, welcome, ada, NOW - days(4)), "first",
                       sent_at=NOW - days(4), clicked_at=NOW - days(4))
    message_of(session, run_of(session, win_back, ada, NOW - days(3)), "first",
               sent_at=NOW - days(3), clicked_at=NOW - days(3))
    # the welcome email is clicked again (the message keeps only its first click)
    engage(session, early, "click", NOW - timedelta(hours=2))
    conversion = attribute_order(session, shop, order_of(session, ada, NOW))
    assert (conversion.flow_id, conversion.message_pk) == (welcome.id, early.id)


def test_test_sends_test_orders_other_shoppers_and_later_touches_count_for_nothing(
        session, shop):
    flow = make_flow(session, shop)
    ada, grace = shopper(session, shop), shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(1))
    message_of(session, run, "first", sent_at=NOW - days(1), clicked_at=NOW - days(1),
               test=True)  # a test send of the editor's
    message_of(session, run_of(session, flow, grace, NOW - days(1)), "first",
               sent_at=NOW - days(1), clicked_at=NOW - days(1))  # someone else's click
    message_of(session, run, "second", sent_at=NOW - days(1),
               clicked_at=NOW + timedelta(minutes=5))  # clicked after the order
    assert attribute_order(session, shop, order_of(session, ada, NOW)) is None
    # a test order is never credited, even after a real click
    message_of(session, run_of(session, flow, ada, NOW - days(1)), "first",
               sent_at=NOW - days(1), clicked_at=NOW - days(1))
    assert attribute_order(session, shop, order_of(session, ada, NOW, test=True)) is None
    assert conversions(session) == []


def test_a_replayed_order_event_changes_nothing(session, shop):
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run = run_of(session, flow, ada, NOW - days(2))
    message_of(session, run, "first", sent_at=NOW - days(2), clicked_at=NOW - days(2))
    order = order_of(session, ada, NOW, "42.00")
    event = DomainEvent(shop.id, ada.id, "order_placed", order.platform_order_id, NOW,
                        {"order_id": order.id, "total_price": "42.00", "currency": "USD"}, 7)
    handle_event(session, event)
    # a later click of the second email, then the same event replayed
    message_of(session, run, "second", sent_at=NOW - days(1), clicked_at=NOW - days(1))
    handle_event(session, event)
    handle_event(session, event)
    [conversion] = conversions(session)
    assert (conversion.step_id, conversion.revenue) == ("first", Decimal("42.00"))


def test_the_subscriber_is_registered_after_loyalty_for_placed_orders():
    names = [s.name for s in SUBSCRIBERS]
    assert names.index("flow_attribution") == names.index("loyalty") + 1
    assert SUBSCRIBER.kinds == frozenset({"order_placed"})


def test_an_order_webhook_is_credited_through_the_domain_events(app, client, shop):
    # given Ada's profile, from Shopify, and her click of a flow email an hour before
    deliver(client, "customers/create", customer_payload(customer_id=207119551,
                                                         email="ada@example.com"))
    settle(app)
    ada_row = customer(shop, "ada@example.com")
    session = db.session
    flow = make_flow(session, shop)
    ada = session.get(Customer, ada_row.id)
    run = run_of(session, flow, ada, BASE_TIME - days(1))
    message_of(session, run, "first", sent_at=BASE_TIME - days(1),
               clicked_at=BASE_TIME - timedelta(hours=1))
    session.commit()
    # when her order arrives, twice (a redelivery)
    payload = order_payload(order_id=450789469, total="64.00", email="ada@example.com",
                            customer=customer_payload(customer_id=207119551,
                                                      email="ada@example.com"))
    deliver(client, "orders/create", payload)
    deliver(client, "orders/create", payload)
    settle(app)
    # then one conversion of 64.00 for the flow, and the subscriber failed on nothing
    [conversion] = conversions(db.session)
    assert (conversion.flow_id, conversion.order_id, conversion.revenue) == (
        flow.id, order_row(shop, 450789469).id, Decimal("64.00"))
    assert db.session.scalar(select(func.count()).select_from(FlowConversion)) == 1


def test_a_merged_guests_conversions_follow_the_registered_profile(session, shop):
    # given a guest's attributed order
    flow = make_flow(session, shop)
    guest, ada = shopper(session, shop), shopper(session, shop)
    run = run_of(session, flow, guest, NOW - days(1))
    message_of(session, run, "first", sent_at=NOW - days(1), clicked_at=NOW - days(1))
    order = order_of(session, guest, NOW)
    attribute_order(session, shop, order)
    # when the guest is merged into Ada's profile (the subscriber's hook, then the delete)
    SUBSCRIBER.merge(session, shop.id, guest.id, ada.id)
    session.delete(guest)
    session.flush()
    session.expire_all()
    # then the conversion is Ada's, not gone with the guest's row
    [conversion] = conversions(session)
    assert (conversion.customer_id, conversion.order_id) == (ada.id, order.id)
