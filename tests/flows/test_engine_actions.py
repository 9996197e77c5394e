"""A flow's actions are made once per (run, step), however often the step is retried: points
in the loyalty ledger, a unique discount code made on Shopify, a tag on the profile. And the
periodic sweep that `flask --app app tick` runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses
from sqlalchemy import func, select

from app.customers.models import CustomerTag
from app.db import db
from app.flows import actions, entry, exits, runner
from app.flows.models import FlowRun, FlowRunStep
from app.loyalty import ledger
from app.loyalty.models import ISSUED, LedgerEntry, Redemption
from app.loyalty.program import save_program
from app.profiles.models import Customer
from jobs import flows as flow_jobs
from jobs.tick import run_periodic_jobs_once
from tests.flows.engine_support import (  # noqa: F401 - `sending_fixture`: a fixture
    NOW,
    email,
    live_flow,
    message_count,
    messages_of,
    sending_fixture,
    shopper,
    steps_of,
    wait,
)
from tests.loyalty.rewards_support import FakeShopify


@pytest.fixture(name="shopify")
def shopify_fixture():
    """Shopify's Admin GraphQL API at the HTTP edge (discount codes)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")
        yield FakeShopify(rsps)


def drain(app) -> None:
    """Run the queued jobs in this process (an RQ SimpleWorker), so the Shopify stand-in,
    which lives here, sees their requests."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from app.queue import get_queue, get_redis

    db.session.close()
    with app.app_context():
        SimpleWorker([get_queue("default")], connection=get_redis(),
                     serializer=JSONSerializer).work(burst=True)


def count(session, model) -> int:
    return session.execute(select(func.count(model.id))).scalar_one()


def started(session, flow, customer, now=NOW) -> FlowRun:
    run = entry.enter(session, flow, customer.id, "event:1", {"event": {}}, now)
    session.commit()
    return run


def test_points_are_awarded_once_per_run_and_step(session, shop, sending):
    # given a store running a loyalty program, and a flow that awards 150 points
    save_program(session, shop.id, {"enabled": True}, saved_by="test")
    session.commit()
    flow = live_flow(session, shop, [{"type": "award_points", "points": 150,
                                      "reason": "Thanks for joining"}])
    ada = shopper(session, shop)
    run = started(session, flow, ada)
    runner.advance(session, run, NOW)
    session.commit()
    # when the action is made again for the same run and step (a retried job)
    actions.award_points(session, run, flow, flow.definition["steps"][0], NOW)
    session.commit()
    # then one ledger entry exists and the balance moved once
    assert count(session, LedgerEntry) == 1
    assert ledger.balance(session, shop.id, ada.id) == 150
    entry_row = session.execute(select(LedgerEntry)).scalar_one()
    assert (entry_row.key, entry_row.reason, entry_row.source) == (
        f"flow:{run.id}:s1", "Thanks for joining", "flow")


def test_no_points_are_awarded_while_the_loyalty_program_is_off(session, shop, sending):
    flow = live_flow(session, shop, [{"type": "award_points", "points": 150}, email()])
    ada = shopper(session, shop)
    run = started(session, flow, ada)
    runner.advance(session, run, NOW)
    session.commit()
    assert steps_of(session, run)[0] == ("s1", "skipped",
                                         "the loyalty program is off: no points awarded")
    assert count(session, LedgerEntry) == 0
    assert messages_of(session, run) == ["s2"] and run.status == "completed"


def test_a_tag_the_profile_cannot_take_is_skipped_with_why(session, shop, sending):
    flow = live_flow(session, shop, [{"type": "tag", "tag": "vip, gold"}])
    run = started(session, flow, shopper(session, shop))
    runner.advance(session, run, NOW)
    session.commit()
    (step,) = steps_of(session, run)
    assert step[:2] == ("s1", "skipped") and "comma" in step[2]
    assert run.status == "completed"


def test_a_discount_step_makes_one_unique_code_on_shopify(app, session, shop, sending,
                                                          shopify):
    # given a flow with a discount and then an email
    flow = live_flow(session, shop, [
        {"type": "discount", "kind": "percentage", "value": 15, "expires_after_days": 7},
        email("Here is 15 % off")])
    ada, bob = shopper(session, shop), shopper(session, shop)
    runs = [started(session, flow, ada), entry.enter(session, flow, bob.id, "event:2",
                                                      {"event": {}}, NOW)]
    session.commit()
    for run in runs:
        runner.advance(session, run, NOW)
    session.commit()
    # when the worker makes the codes, and the step is retried afterwards
    drain(app)
    again = actions.discount(session, runs[0], flow, flow.definition["steps"][0], NOW)
    session.commit()
    drain(app)
    # then each run has its own code, made once on Shopify, issued, and the same on retry
    session.expire_all()
    codes = session.execute(select(Redemption.code, Redemption.status, Redemption.customer_id)
                            .order_by(Redemption.id)).all()
    assert [(status, customer) for _, status, customer in codes] == [(ISSUED, ada.id),
                                                                     (ISSUED, bob.id)]
    assert codes[0].code != codes[1].code
    assert again["code"] == codes[0].code
    assert shopify.creations == 2
    detail = session.execute(select(FlowRunStep.detail).where(
        FlowRunStep.run_id == runs[0].id, FlowRunStep.step_id == "s1")).scalar_one()
    assert detail["code"] == codes[0].code and detail["kind"] == "percentage"
    assert messages_of(session, runs[0]) == ["s2"]


def test_a_tag_step_tags_the_profile_once_and_splits_see_it(session, shop, sending):
    flow = live_flow(session, shop, [
        {"type": "tag", "tag": "Welcomed"},
        {"type": "split", "condition": {"field": "tags", "op": "contains", "value": "welcomed"},
         "yes": [email("Tagged")], "no": []}])
    ada = shopper(session, shop)
    run = started(session, flow, ada)
    runner.advance(session, run, NOW)
    actions.add_tag(session, run, flow, flow.definition["steps"][0], NOW)
    session.commit()
    tags = session.execute(select(CustomerTag.tag).where(
        CustomerTag.customer_id == ada.id)).scalars().all()
    assert tags == ["Welcomed"]
    assert [(s, d) for s, d, _ in steps_of(session, run)][:2] == [("s1", "done"), ("s2", "done")]
    assert messages_of(session, run) == ["s3"]


def test_tick_runs_the_flow_sweep(app, session, shop, sending, monkeypatch):
    # given a run whose step is due, and no job in any queue for it
    monkeypatch.setattr(flow_jobs, "maintain_messages", lambda s, now: {"resolved": 0})
    flow = live_flow(session, shop, [email()])
    run = started(session, flow, shopper(session, shop), now=datetime.now(UTC))
    # when every periodic job runs once
    outcomes = {o.job: o for o in run_periodic_jobs_once()}
    # then the flow sweep advanced it
    assert outcomes["jobs.flows.sweep_due"].ok, outcomes["jobs.flows.sweep_due"].summary
    db.session.expire_all()
    assert messages_of(session, run) == ["s1"]
    assert session.get(FlowRun, run.id).status == "completed"


def test_the_sweep_enters_lapsed_shoppers_once(app, session, shop, sending, monkeypatch):
    # given a win-back flow and a candidate finder naming one shopper
    from app.flows import candidates

    flow = live_flow(session, shop, [email()], trigger={"type": "lapsed", "factor": 3},
                     name="Win-back")
    ada = shopper(session, shop)
    monkeypatch.setattr(candidates, "lapsed", lambda s, shop_id, trigger, now, flow_id: [
        candidates.Candidate(ada.id, "lapsed:order-77", {"days_since_last_order": 200})])
    # when the sweep's entry runs twice
    now = datetime.now(UTC)
    assert runner.enter_candidates(session, now) == 1
    assert runner.enter_candidates(session, now + timedelta(hours=1)) == 0
    runner.sweep(session, now)
    # then the shopper entered once, under the candidate's key, and got the email once
    run = session.execute(select(FlowRun)).scalar_one()
    assert (run.flow_id, run.trigger_key) == (flow.id, "lapsed:order-77")
    assert run.context["event"] == {"days_since_last_order": 200}
    assert message_count(session) == 1


def test_a_failing_step_holds_up_no_other_run(session, shop, sending, monkeypatch):
    flow = live_flow(session, shop, [email()])
    ada, bob = shopper(session, shop), shopper(session, shop)
    broken = started(session, flow, ada)
    fine = entry.enter(session, flow, bob.id, "event:2", {"event": {}}, NOW)
    session.commit()
    real = runner.queue_email

    def fail_for_ada(session_, run, *args):
        if run.customer_id == ada.id:
            raise RuntimeError("template exploded")
        return real(session_, run, *args)

    monkeypatch.setattr(runner, "queue_email", fail_for_ada)
    result = runner.sweep(session, NOW)
    session.expire_all()
    assert result["failed"] == [broken.id]
    assert messages_of(session, fine) == ["s1"]
    assert session.get(FlowRun, broken.id).due_at == NOW + runner.RETRY_FAILED_AFTER
    assert exits.exit_reason(session, session.get(FlowRun, broken.id), NOW) is None
    assert session.get(Customer, ada.id) is not None
