"""The dry run of a flow over the shop's last 30 days of timeline events: entry, filters,
re-entry, exits, consent, smart sending and holdout counted by hand; nothing written."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from app.db import Base
from app.flows import backtest, candidates
from app.flows.models import EmailSuppression as Suppression
from app.queue import get_redis
from tests.flows.report_support import (
    NOW,
    days,
    fact,
    make_flow,
    message_of,
    order_of,
    run_of,
    shopper,
)

CHECKOUT_FLOW = [
    {"id": "delay", "type": "wait", "minutes": 60},
    {"id": "first", "type": "email", "subject": "Your cart", "html": "<p>Still yours</p>"},
    {"id": "pause", "type": "wait", "minutes": 24 * 60},
    {"id": "reminder", "type": "email", "subject": "Last call", "html": "<p>Last call</p>"},
]
FLOW_TABLES = ("flows", "flow_versions", "flow_runs", "flow_run_steps", "messages",
               "outbox_mail", "email_engagements", "email_suppressions", "flow_conversions",
               "survey_responses", "timeline_events", "orders", "customers")


def checkout(session, person, at, token, total="100.00"):
    return fact(session, person, "checkout_started", at, ref=token,
                data={"total_price": total, "currency": "USD"})


def a_month_of_checkouts(session, shop):
    """Nine checkouts in the period (and one before it), each with its fate noted."""
    flow = make_flow(session, shop, name="Abandoned checkout", steps=CHECKOUT_FLOW,
                     trigger={"type": "event", "event": "checkout_started"},
                     trigger_filters=[{"field": "event.total_price", "op": "gte",
                                       "value": 50}])
    ada, bob, cy, dee, eve, fay, gus, hal = (shopper(session, shop) for _ in range(8))
    ivy = shopper(session, shop, email_marketing="unsubscribed",
                  email_marketing_updated_at=NOW - days(6) + timedelta(hours=2))
    dee.email_marketing = "not_subscribed"
    checkout(session, ada, NOW - days(10), "tok-ada")  # gets both emails
    checkout(session, ada, NOW - days(5), "tok-ada-2")  # enters once ever: blocked
    checkout(session, bob, NOW - days(9), "tok-bob")
    # bob's checkout is bought 30 minutes later, by a guest profile with its token
    guest = shopper(session, shop)
    order_of(session, guest, NOW - days(9) + timedelta(minutes=30)).checkout_token = "tok-bob"
    checkout(session, cy, NOW - days(8), "tok-cy")
    order_of(session, cy, NOW - days(8) + timedelta(hours=2))  # after the first email
    checkout(session, dee, NOW - days(7), "tok-dee")  # no consent for either email
    checkout(session, eve, NOW - days(7), "tok-eve", total="20.00")  # trigger filter fails
    checkout(session, fay, NOW - days(40), "tok-fay")  # before the period
    checkout(session, gus, NOW - timedelta(minutes=30), "tok-gus")  # still waiting
    # hal was mailed by another flow 30 minutes after his checkout: smart sending skips
    # the first email, not the reminder a day later
    checkout(session, hal, NOW - days(7), "tok-hal")
    other = make_flow(session, shop, name="Newsletter flow")
    message_of(session, run_of(session, other, hal, NOW - days(8)), "first",
               sent_at=NOW - days(7) + timedelta(minutes=30))
    # ivy unsubscribed 2 hours after her checkout: the first email, then she leaves
    checkout(session, ivy, NOW - days(6), "tok-ivy")
    session.flush()
    return flow


def row_counts(session):
    return {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in FLOW_TABLES}


def test_a_backtest_counts_what_the_flow_would_have_done(session, shop):
    flow = a_month_of_checkouts(session, shop)
    result = backtest.run(session, flow, NOW)
    assert (result["days"], result["available"], result["trigger"]) == (30, True, "event")
    assert {k: result[k] for k in ("triggered", "filtered", "reentry_blocked", "entered",
                                   "held_out", "completed", "in_progress", "no_consent",
                                   "smart_sending_skipped", "suppressed")} == {
        "triggered": 9, "filtered": 1, "reentry_blocked": 1, "entered": 7, "held_out": 0,
        "completed": 3, "in_progress": 1, "no_consent": 2, "smart_sending_skipped": 1,
        "suppressed": 0}
    assert result["exited"] == {"order placed": 2, "unsubscribed": 1}
    assert result["steps"] == [
        {"id": "delay", "type": "wait", "reached": 7, "sent": 0},
        {"id": "first", "type": "email", "reached": 5, "sent": 3},
        {"id": "pause", "type": "wait", "reached": 5, "sent": 0},
        {"id": "reminder", "type": "email", "reached": 3, "sent": 2},
    ]
    assert any("today's profile" in line for line in result["approximations"])


def test_a_backtest_writes_nothing_and_queues_nothing(app, session, shop):
    flow = a_month_of_checkouts(session, shop)
    session.commit()
    redis = get_redis(app)
    before, keys_before = row_counts(session), redis.dbsize()
    backtest.run(session, flow, NOW)
    assert not session.new and not session.dirty and not session.deleted
    session.commit()
    assert row_counts(session) == before
    assert redis.dbsize() == keys_before
    # every table of the flow engine is among those counted
    flow_tables = {t for t in Base.metadata.tables
                   if t.startswith(("flow", "message", "email_", "outbox", "survey"))}
    assert flow_tables <= set(FLOW_TABLES)


def test_re_entry_after_n_days_and_an_order_stopping_the_flow(session, shop):
    # given a flow any shopper may re-enter after 3 days, stopping when they order
    flow = make_flow(session, shop, name="Browse", reentry_days=3, exit_on_order=True,
                     steps=[{"id": "wait", "type": "wait", "minutes": 120},
                            {"id": "mail", "type": "email", "subject": "Hi",
                             "html": "<p>Hi</p>"}],
                     trigger={"type": "event", "event": "customer_created"})
    ada = shopper(session, shop)
    for n in (12, 11, 8, 4):  # 12: enters; 11: blocked; 8: enters; 4: enters
        fact(session, ada, "customer_created", NOW - days(n))
    order_of(session, ada, NOW - days(4) + timedelta(hours=1))  # before the 4-day run's mail
    result = backtest.run(session, flow, NOW)
    assert (result["entered"], result["reentry_blocked"]) == (3, 1)
    assert result["exited"] == {"order placed": 1}
    # the two others' emails are 8 days apart, beyond smart sending
    assert result["steps"][1] == {"id": "mail", "type": "email", "reached": 2, "sent": 2}


def test_a_real_run_before_the_period_blocks_re_entry(session, shop):
    flow = make_flow(session, shop)
    ada = shopper(session, shop)
    run_of(session, flow, ada, NOW - days(90))
    fact(session, ada, "customer_created", NOW - days(2))
    result = backtest.run(session, flow, NOW)
    assert (result["triggered"], result["reentry_blocked"], result["entered"]) == (1, 1, 0)


def test_the_holdout_is_drawn_the_same_way_every_time(session, shop):
    flow = make_flow(session, shop, holdout_percent=50,
                     steps=[{"id": "mail", "type": "email", "subject": "Hi",
                             "html": "<p>Hi</p>"}])
    for n in range(40):
        fact(session, shopper(session, shop), "customer_created", NOW - days(1 + n % 20))
    first, again = backtest.run(session, flow, NOW), backtest.run(session, flow, NOW)
    assert first == again
    assert first["entered"] == 40 and first["held_out_expected"] == 20.0
    assert 0 < first["held_out"] < 40
    # a held-out run reaches the email and is sent nothing
    assert first["steps"][0]["reached"] == 40
    assert first["steps"][0]["sent"] == 40 - first["held_out"]


def test_splits_follow_todays_profile(session, shop):
    flow = make_flow(session, shop, steps=[
        {"id": "vip", "type": "split",
         "condition": {"field": "orders_count", "op": "gte", "value": 2},
         "yes": [{"id": "thanks", "type": "email", "subject": "Thanks", "html": "<p>T</p>"}],
         "no": [{"id": "hello", "type": "email", "subject": "Hello", "html": "<p>H</p>"}]}])
    fact(session, shopper(session, shop, orders_count=3), "customer_created", NOW - days(2))
    fact(session, shopper(session, shop), "customer_created", NOW - days(2))
    fact(session, shopper(session, shop), "customer_created", NOW - days(3))
    steps = {s["id"]: s for s in backtest.run(session, flow, NOW)["steps"]}
    assert (steps["vip"]["reached"], steps["thanks"]["sent"], steps["hello"]["sent"]) == (
        3, 1, 2)


def test_date_and_lapsed_triggers_ask_the_candidate_finder_day_by_day(
        session, shop, monkeypatch):
    flow = make_flow(session, shop, trigger={"type": "lapsed", "factor": 3})
    ada = shopper(session, shop)
    asked = []

    def lapsed(session_, shop_id, trigger, now):
        asked.append(now)
        # the same shopper is a candidate every day under one key: one trigger
        return [candidates.Candidate(ada.id, "lapsed:1", {})]

    monkeypatch.setattr(candidates, "lapsed", lapsed)
    result = backtest.run(session, flow, NOW)
    assert len(asked) == 30 and asked[-1] == NOW
    assert (result["available"], result["triggered"], result["entered"]) == (True, 1, 1)
    # without a finder for the trigger, the answer says so instead of counting zero
    monkeypatch.delattr(candidates, "lapsed")
    result = backtest.run(session, flow, NOW)
    assert (result["available"], result["reason"]) == (False, "not available for this trigger")
    assert result["triggered"] == 0


def test_another_shops_events_are_not_replayed(session, shop, other_shop):
    flow = make_flow(session, shop)
    fact(session, shopper(session, other_shop), "customer_created", NOW - days(1))
    assert backtest.run(session, flow, NOW)["triggered"] == 0
    assert session.scalar(select(func.count()).select_from(Base.metadata.tables[
        "flow_runs"])) == 0


def test_transactional_flows_skip_smart_sending_but_not_the_suppression_list(session, shop):
    # given a transactional notice sent to anyone not unsubscribed, a day apart, the first
    # an hour after a marketing email of another flow
    flow = make_flow(session, shop, name="Points earned", category="transactional",
                     send_to="not_unsubscribed",
                     trigger={"type": "event", "event": "points_earned"},
                     steps=[{"id": "notice", "type": "email", "subject": "Points",
                             "html": "<p>+10</p>"}], reentry_days=1)
    ada = shopper(session, shop, email_marketing="not_subscribed")
    fact(session, ada, "points_earned", NOW - days(3))
    newsletter = make_flow(session, shop, name="Newsletter")
    message_of(session, run_of(session, newsletter, ada, NOW - days(4)), "first",
               sent_at=NOW - days(3) - timedelta(hours=1))
    fact(session, ada, "points_earned", NOW - days(2))
    bounced = shopper(session, shop)
    session.add(Suppression(shop_id=shop.id, email_normalized=bounced.email_normalized,
                            reason="550 no such user"))
    fact(session, bounced, "points_earned", NOW - days(1))
    result = backtest.run(session, flow, NOW)
    assert (result["entered"], result["no_consent"], result["smart_sending_skipped"],
            result["suppressed"]) == (3, 0, 0, 1)
    assert result["steps"] == [{"id": "notice", "type": "email", "reached": 3, "sent": 2}]
