"""Saved segments as flow filters and split conditions: membership is checked when the
filter runs, against the segment's rules as of that moment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from app.flows import conditions, entry, exits, runner
from app.flows.models import RUN_EXITED, Message
from app.flows.segment_filters import flows_using_segment
from app.segments.service import create_segment
from tests.flows.engine_support import (  # noqa: F401 - `sending_fixture`: a fixture
    NOW,
    email,
    live_flow,
    sending_fixture,
    shopper,
    wait,
)

RECENT_BIG = {"all": [{"field": "total_spent", "op": "gte", "value": "100"},
                      {"field": "last_order_at", "op": "within_last_days", "value": 30}]}


def segment(session, shop, rules=RECENT_BIG, name="Recent big spenders"):
    saved = create_segment(session, shop, {"name": name, "rules": rules})
    session.commit()
    return saved


def test_the_segment_condition_is_checked_and_named_by_path():
    assert conditions.validate({"field": "segment", "op": "in", "value": [3, "4"]}) == {}
    assert conditions.validate({"field": "segment", "op": "gt", "value": 3}) == {
        ".op": "segment takes one of eq, ne, in, not_in"}
    assert ".value" in conditions.validate({"field": "segment", "op": "in", "value": ["x"]})
    facts = conditions.Facts({"segment": {3}}, {})
    assert conditions.evaluate({"field": "segment", "op": "in", "value": [3, 9]}, facts)
    assert not conditions.evaluate({"field": "segment", "op": "not_in", "value": [3]}, facts)
    assert conditions.evaluate({"field": "segment", "op": "ne", "value": 9}, facts)


def test_a_flow_filter_on_a_segment_lets_in_only_its_members(session, shop, sending):
    # given a segment of recent big spenders and a flow filtered on it
    big = segment(session, shop)
    flow = live_flow(session, shop, [email("Thanks, big spender")],
                     flow_filters=[{"field": "segment", "op": "in", "value": [big.id]}])
    ada = shopper(session, shop, total_spent=Decimal("250"), orders_count=2,
                  last_order_at=NOW - timedelta(days=5))
    old = shopper(session, shop, total_spent=Decimal("250"), orders_count=2,
                  last_order_at=NOW - timedelta(days=45))
    small = shopper(session, shop, total_spent=Decimal("20"), orders_count=1,
                    last_order_at=NOW - timedelta(days=5))
    # when all three trigger the flow
    runs = {c.id: entry.enter(session, flow, c.id, f"event:{c.id}", {"event": {}}, NOW)
            for c in (ada, old, small)}
    session.commit()
    # then only the member entered
    assert runs[ada.id] is not None
    assert runs[old.id] is None and runs[small.id] is None
    # and the flow is named as a user of the segment
    assert flows_using_segment(session, shop.id, big.id) == ["Test flow"]


def test_a_shopper_who_leaves_the_segment_leaves_the_flow(session, shop, sending):
    # given a member waiting a day before an email
    big = segment(session, shop)
    flow = live_flow(session, shop, [wait(60 * 24), email("Still big?")],
                     flow_filters=[{"field": "segment", "op": "eq", "value": big.id}])
    ada = shopper(session, shop, total_spent=Decimal("150"), orders_count=1,
                  last_order_at=NOW - timedelta(days=29, hours=12))
    run = entry.enter(session, flow, ada.id, "event:1", {"event": {}}, NOW)
    session.commit()
    runner.advance(session, run, NOW)
    session.commit()
    # when the day has passed, the last order is now more than 30 days old: the rule is
    # time-relative and nobody rebuilt anything
    later = NOW + timedelta(days=1, minutes=1)
    assert exits.exit_reason(session, run, later) == exits.FILTERS_FAILED
    runner.advance(session, run, later)
    session.commit()
    # then the run stopped without sending
    assert run.status == RUN_EXITED
    assert session.execute(select(Message.id).where(Message.run_id == run.id)).first() is None


def test_a_split_step_on_a_segment_sends_members_down_yes(session, shop, sending):
    vip = segment(session, shop, {"all": [{"field": "tags", "op": "contains", "value": "vip"}]},
                  name="VIPs")
    flow = live_flow(session, shop, [
        {"type": "split", "condition": {"field": "segment", "op": "in", "value": [vip.id]},
         "yes": [email("For VIPs")], "no": [email("For everyone")]}])
    member = shopper(session, shop, tags="VIP, Newsletter")
    other = shopper(session, shop)
    subjects = {}
    for customer in (member, other):
        run = entry.enter(session, flow, customer.id, f"event:{customer.id}", {"event": {}}, NOW)
        session.commit()
        runner.advance(session, run, NOW)
        session.commit()
        subjects[customer.id] = list(session.execute(
            select(Message.subject).where(Message.run_id == run.id)).scalars())
    assert subjects == {member.id: ["For VIPs"], other.id: ["For everyone"]}


def test_a_segment_a_flow_filters_on_is_not_deleted(client, session, shop, sending):
    from tests.customer_helpers import api_key_headers

    big = segment(session, shop)
    live_flow(session, shop, [email()], name="Big spender thanks",
              flow_filters=[{"field": "segment", "op": "in", "value": [big.id]}])
    headers = api_key_headers(session, shop)
    refused = client.delete(f"/api/segments/{big.id}", headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["flows"] == ["Big spender thanks"]
    assert client.get(f"/api/segments/{big.id}", headers=headers).status_code == 200
