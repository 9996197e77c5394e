"""A flow's figures per flow, per step and per recipient, from the runs, messages, step
outcomes and attributed orders (hand-counted below)."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from app.db import db
from app.flows.attribution import attribute_order
from app.flows.stats import flow_stats, recipients, step_stats
from tests.flows.report_support import (
    NOW,
    days,
    make_flow,
    message_of,
    order_of,
    run_of,
    shopper,
    step_outcome,
)

SMART = "smart sending: another marketing email within 16 hours"


@contextmanager
def counted_queries():
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def a_month_of_welcome(session, shop):
    """Five entrants of the welcome flow and one of another flow, as hand-counted in the
    tests: Ada clicks and buys twice, Grace opens and unsubscribes, Lin is held out, Bob's
    mail fails, Cy has no consent."""
    welcome = make_flow(session, shop)
    other = make_flow(session, shop, name="Win back")
    ada, grace, lin, bob, cy = (shopper(session, shop) for _ in range(5))
    sent = NOW - days(10)

    run = run_of(session, welcome, ada, sent)
    message_of(session, run, "first", sent_at=sent, opened_at=sent + days(1),
               clicked_at=sent + days(1))
    message_of(session, run, "second", sent_at=sent + days(3), opened_at=sent + days(3))
    attribute_order(session, shop, order_of(session, ada, sent + days(2), "100.00"))
    attribute_order(session, shop, order_of(session, ada, sent + days(4), "25.50"))

    run = run_of(session, welcome, grace, sent)
    message_of(session, run, "first", sent_at=sent, opened_at=sent + days(1),
               unsubscribed_at=sent + days(1))
    message_of(session, run, "second", sent_at=sent + days(3), status="skipped", reason=SMART)
    step_outcome(session, run, "second", "skipped", SMART)  # the same skip, recorded twice

    run = run_of(session, welcome, lin, sent, holdout=True)
    step_outcome(session, run, "first", "holdout")

    run = run_of(session, welcome, bob, sent)
    message_of(session, run, "first", sent_at=sent, status="failed",
               reason="451 mailbox busy; not resent")
    message_of(session, run, "second", sent_at=sent + days(3), status="suppressed",
               reason="address refused")

    run = run_of(session, welcome, cy, sent, status="exited")
    step_outcome(session, run, "first", "skipped", "no consent")

    run = run_of(session, other, ada, sent)
    message_of(session, run, "first", sent_at=sent + days(5), clicked_at=sent + days(5),
               opened_at=sent + days(5))
    attribute_order(session, shop, order_of(session, ada, sent + days(6), "30.00"))
    # an editor's test send of the welcome email counts for nothing
    message_of(session, run_of(session, welcome, ada, sent), "first", sent_at=sent,
               opened_at=sent, clicked_at=sent, test=True)
    session.flush()
    return welcome, other, (ada, grace, lin, bob, cy)


def test_flow_figures_count_runs_messages_and_attributed_orders(session, shop):
    welcome, other, _ = a_month_of_welcome(session, shop)
    with counted_queries() as queries:
        figures = flow_stats(session, shop.id, [welcome.id, other.id, 999999])
    # the test send's run is an entrant (six runs); its message is not counted
    assert figures[welcome.id] == {"entered": 6, "held_out": 1, "sent": 3, "opened": 3,
                                   "clicked": 1, "converted": 2, "revenue": "125.50",
                                   "unsubscribed": 1}
    assert figures[other.id] == {"entered": 1, "held_out": 0, "sent": 1, "opened": 1,
                                 "clicked": 1, "converted": 1, "revenue": "30.00",
                                 "unsubscribed": 0}
    assert figures[999999]["entered"] == 0 and figures[999999]["revenue"] == "0.00"
    # grouped: one query for the currency and one per table, however many flows
    assert len(queries) <= 4


def test_another_shop_sees_none_of_these_figures(session, shop, other_shop):
    welcome, _, _ = a_month_of_welcome(session, shop)
    figures = flow_stats(session, other_shop.id, [welcome.id])
    assert figures[welcome.id]["entered"] == 0 and figures[welcome.id]["sent"] == 0
    assert step_stats(session, other_shop.id, welcome.id) == {}
    assert recipients(session, other_shop.id, welcome.id) == []


def test_step_figures_count_each_skipped_run_once_with_its_reason(session, shop):
    welcome, _, _ = a_month_of_welcome(session, shop)
    steps = step_stats(session, shop.id, welcome.id)
    assert set(steps) == {"first", "second"}
    first, second = steps["first"], steps["second"]
    assert {k: first[k] for k in ("sent", "failed", "suppressed", "skipped", "opened",
                                  "clicked", "unsubscribed", "converted", "revenue",
                                  "held_out")} == {
        "sent": 2, "failed": 1, "suppressed": 0, "skipped": 1, "opened": 2, "clicked": 1,
        "unsubscribed": 1, "converted": 2, "revenue": "125.50", "held_out": 1}
    assert first["skipped_reasons"] == {"no consent": 1}
    assert {k: second[k] for k in ("sent", "failed", "suppressed", "skipped", "opened",
                                   "converted", "revenue")} == {
        "sent": 1, "failed": 0, "suppressed": 1, "skipped": 1, "opened": 1, "converted": 0,
        "revenue": "0.00"}
    assert second["skipped_reasons"] == {SMART: 1}


def test_recipients_come_most_revenue_first(session, shop):
    welcome, other, (ada, grace, lin, bob, cy) = a_month_of_welcome(session, shop)
    rows = recipients(session, shop.id, welcome.id)
    assert [r["customer_id"] for r in rows] == [ada.id, grace.id, bob.id]
    assert rows[0] == {"customer_id": ada.id, "email": ada.email, "sent": 2, "opened": 2,
                       "clicked": 1, "unsubscribed": 0, "converted": 2, "revenue": "125.50"}
    assert (rows[1]["sent"], rows[1]["unsubscribed"], rows[1]["revenue"]) == (1, 1, "0.00")
    assert (rows[2]["sent"], rows[2]["converted"]) == (0, 0)
    assert [r["customer_id"] for r in recipients(session, shop.id, welcome.id, limit=1)] == [
        ada.id]
    assert [r["revenue"] for r in recipients(session, shop.id, other.id)] == ["30.00"]


def test_skip_reasons_that_differ_only_by_their_detail_count_as_one(session, shop):
    # given two runs stopped by orders, each reason naming its own order
    flow = make_flow(session, shop)
    for name in ("#1001", "#1002"):
        run = run_of(session, flow, shopper(session, shop), NOW, status="exited")
        step_outcome(session, run, "first", "skipped", f"order placed ({name})")
    session.flush()
    # then the step says one reason, twice
    assert step_stats(session, shop.id, flow.id)["first"]["skipped_reasons"] == {
        "order placed": 2}
