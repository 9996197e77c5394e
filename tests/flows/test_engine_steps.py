"""The runner: waits (minutes, a time of day in the shop's zone), splits, versions, pause and
resume, deferred emails, and the sweep."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.db import db
from app.flows import entry, runner, service
from app.flows.models import (
    RUN_ACTIVE,
    RUN_COMPLETED,
    RUN_EXITED,
    STEP_SKIPPED,
    FlowRun,
    Message,
)
from app.settings.models import ShopSettings
from tests.flows.engine_support import (  # noqa: F401 - `sending_fixture`: a fixture
    NOW,
    Outcome,
    email,
    later,
    live_flow,
    message_count,
    messages_of,
    sending_fixture,
    shopper,
    steps_of,
    wait,
)


def start(session, flow, customer, key: str = "event:1", at: datetime = NOW,
          event: dict | None = None) -> FlowRun:
    run = entry.enter(session, flow, customer.id, key, {"event": event or {}}, at)
    assert run is not None
    session.commit()
    return run


def test_a_wait_holds_the_run_until_its_minutes_have_passed(session, shop, sending):
    # given a flow: email, wait 60 minutes, email
    flow = live_flow(session, shop, [email(), wait(60), email()])
    run = start(session, flow, shopper(session, shop))
    # when it is advanced at entry and again before the wait is over
    runner.advance(session, run, NOW)
    runner.advance(session, run, later(59))
    session.commit()
    # then only the first email is out, and the run is due when the wait ends
    assert messages_of(session, run) == ["s1"]
    assert run.status == RUN_ACTIVE and run.step_id == "s3" and run.due_at == later(60)
    # when the wait is over
    runner.advance(session, run, later(60))
    session.commit()
    assert messages_of(session, run) == ["s1", "s3"]
    assert run.status == RUN_COMPLETED


def test_a_wait_until_a_time_of_day_follows_the_shops_time_zone(session, shop, sending):
    # given a shop in New York (UTC-4 in June) and a flow waiting until 10:00 there
    session.add(ShopSettings(shop_id=shop.id, timezone="America/New_York"))
    session.commit()
    flow = live_flow(session, shop, [wait(until="10:00"), email()])
    # when a shopper enters at 09:00 UTC (05:00 in New York)
    run = start(session, flow, shopper(session, shop))
    runner.advance(session, run, NOW)
    session.commit()
    # then the email is due at 10:00 New York time, 14:00 UTC, the same day
    assert run.due_at == datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    runner.advance(session, run, datetime(2026, 6, 1, 13, 59, tzinfo=UTC))
    assert messages_of(session, run) == []
    runner.advance(session, run, datetime(2026, 6, 1, 14, 0, tzinfo=UTC))
    session.commit()
    assert messages_of(session, run) == ["s2"]


def test_a_wait_until_a_time_already_past_today_waits_for_tomorrow(session, shop, sending):
    session.add(ShopSettings(shop_id=shop.id, timezone="Europe/Paris"))
    session.commit()
    flow = live_flow(session, shop, [wait(until="08:00"), email()])
    # 09:00 UTC is 11:00 in Paris: 08:00 has passed today
    run = start(session, flow, shopper(session, shop))
    runner.advance(session, run, NOW)
    session.commit()
    assert run.due_at == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)


def test_a_wait_until_a_time_skipped_by_summer_time_ends_an_hour_later(session, shop,
                                                                      sending):
    # given Paris, where 02:00 becomes 03:00 on 29 March 2026
    session.add(ShopSettings(shop_id=shop.id, timezone="Europe/Paris"))
    session.commit()
    flow = live_flow(session, shop, [wait(until="02:30"), email()])
    entered = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # midnight in Paris
    run = start(session, flow, shopper(session, shop), at=entered)
    runner.advance(session, run, entered)
    session.commit()
    # then the wait ends at 03:30 summer time, 01:30 UTC
    assert run.due_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_split_sends_each_shopper_down_their_branch_then_on(session, shop, sending):
    # given a flow splitting on the loyalty tier, both branches rejoining a last email
    flow = live_flow(session, shop, [
        {"type": "split", "condition": {"field": "tier", "op": "eq", "value": "Gold"},
         "yes": [email("For gold members")], "no": [email("For everyone")]},
        email("Last")])
    gold = start(session, flow, shopper(session, shop, tier="Gold"), "event:1")
    plain = start(session, flow, shopper(session, shop), "event:2")
    # when both run
    runner.advance(session, gold, NOW)
    runner.advance(session, plain, NOW)
    session.commit()
    # then each got their branch's email, then the last one
    subjects = {run.id: list(session.execute(select(Message.subject).where(
        Message.run_id == run.id).order_by(Message.id)).scalars()) for run in (gold, plain)}
    assert subjects[gold.id] == ["For gold members", "Last"]
    assert subjects[plain.id] == ["For everyone", "Last"]
    assert steps_of(session, gold)[0][0] == "s1"
    assert [s for s, _, _ in steps_of(session, plain)] == ["s1", "s3", "s4"]


def test_runs_finish_on_the_version_they_started_after_the_flow_is_edited(session, shop,
                                                                          sending):
    # given a run waiting between two emails of version 1
    flow = live_flow(session, shop, [email("One"), wait(60), email("Two")])
    old = start(session, flow, shopper(session, shop), "event:1")
    runner.advance(session, old, NOW)
    session.commit()
    # when the merchant edits the live flow (same step ids, other contents)
    service.update_flow(session, flow, {"steps": [email("New one"), wait(10),
                                                  email("New two")]})
    session.commit()
    assert flow.version == 2
    new = start(session, flow, shopper(session, shop), "event:2", at=later(5))
    runner.sweep(session, later(61))
    # then the run in progress ends on version 1, and a new run follows version 2
    subjects = lambda run: list(session.execute(select(Message.subject).where(  # noqa: E731
        Message.run_id == run.id).order_by(Message.id)).scalars())
    assert subjects(old) == ["One", "Two"]
    assert subjects(new) == ["New one", "New two"]
    assert (old.version, new.version) == (1, 2)


def test_pause_holds_runs_and_resume_sends_nothing_twice(session, shop, sending):
    # given runs of a live flow that have had their first email
    flow = live_flow(session, shop, [email(), wait(60), email()])
    runs = [start(session, flow, shopper(session, shop), f"event:{n}") for n in range(3)]
    runner.sweep(session, NOW)
    assert message_count(session) == 3
    # when the flow is paused past the wait, and swept meanwhile
    service.pause(session, flow)
    session.commit()
    assert runner.sweep(session, later(120))["advanced"] == 0
    assert message_count(session) == 3
    # when it is resumed and swept twice
    service.resume(session, flow)
    session.commit()
    runner.sweep(session, later(180))
    runner.sweep(session, later(181))
    # then each run got each email once
    session.expire_all()
    for run in runs:
        assert messages_of(session, run) == ["s1", "s3"]
    assert message_count(session) == 6
    assert len(sending.calls) == 6


def test_a_store_that_uninstalled_sticky_mails_no_one(session, shop, sending):
    flow = live_flow(session, shop, [email()])
    ada = shopper(session, shop)
    run = start(session, flow, ada)
    shop.status = "uninstalled"
    session.commit()
    assert runner.sweep(session, NOW)["advanced"] == 0
    assert entry.enter(session, flow, ada.id, "event:2", {"event": {}}, later(1)) is None
    assert message_count(session) == 0 and run.status == RUN_ACTIVE


def test_a_deferred_email_keeps_the_run_on_its_step_until_then(session, shop, sending):
    # given the sending policy defers the email to the end of quiet hours
    flow = live_flow(session, shop, [email(), email("After")])
    run = start(session, flow, shopper(session, shop))
    sending.answer["s1"] = Outcome("deferred", "quiet hours", None, later(180))
    runner.advance(session, run, NOW)
    session.commit()
    assert run.step_id == "s1" and run.due_at == later(180)
    assert messages_of(session, run) == []
    # when quiet hours end
    del sending.answer["s1"]
    runner.sweep(session, later(180))
    session.expire_all()
    assert messages_of(session, run) == ["s1", "s2"]


def test_a_skipped_email_is_recorded_with_its_reason_and_the_run_goes_on(session, shop,
                                                                         sending):
    flow = live_flow(session, shop, [email(), email()])
    run = start(session, flow, shopper(session, shop))
    sending.answer["s1"] = Outcome("skipped", "smart sending: mailed 3 hours ago")
    runner.advance(session, run, NOW)
    session.commit()
    assert steps_of(session, run)[0] == ("s1", STEP_SKIPPED, "smart sending: mailed 3 hours ago")
    assert run.status == RUN_COMPLETED


def test_an_exit_the_sending_policy_finds_stops_the_run(session, shop, sending):
    flow = live_flow(session, shop, [email(), email()])
    run = start(session, flow, shopper(session, shop))
    sending.answer["s1"] = Outcome("skipped", "order placed (#1001)", exited=True)
    runner.advance(session, run, NOW)
    session.commit()
    assert run.status == RUN_EXITED and run.exit_reason == "order placed (#1001)"
    assert steps_of(session, run) == [("s1", STEP_SKIPPED, "order placed (#1001)")]
    assert messages_of(session, run) == []


def test_two_sweeps_at_once_never_advance_a_run_twice(app, session, shop, sending):
    # given 60 runs due now
    flow = live_flow(session, shop, [email()])
    for n in range(60):
        start(session, flow, shopper(session, shop), f"event:{n}")
    session.close()
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            with app.app_context(), db.new_session() as own:
                runner.sweep(own, NOW, batch_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # when two workers sweep at the same time
    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every run's email was handed over exactly once
    assert errors == []
    assert len(sending.calls) == 60 and len(set(sending.calls)) == 60
    assert message_count(session) == 60


def test_a_run_locked_by_another_worker_is_left_to_it(app, session, shop, sending):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("row locks (SKIP LOCKED) are PostgreSQL's; SQLite serializes writers")
    flow = live_flow(session, shop, [email()])
    run = start(session, flow, shopper(session, shop))
    with db.new_session() as other:
        other.execute(select(FlowRun).where(FlowRun.id == run.id).with_for_update())
        assert runner.advance_locked(session, run.id, NOW) is None
        assert runner.sweep(session, NOW)["advanced"] == 0
        other.rollback()
    assert runner.sweep(session, NOW)["advanced"] == 1
    assert message_count(session) == 1
