"""A subscriber's batch handler: a dispatch batch's wanted events in one call and one
savepoint, and, when it raises, the same events one by one, so a failure still stops the
cursor at the exact event that fails and nothing is handled twice."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from app.db import db
from app.events import DomainEvent, Subscriber
from app.events.dispatch import dispatch_shop
from app.events.queueing import dispatch_flag
from app.events.registry import registry
from app.queue import get_queue, get_redis
from jobs.ingest import drain_shop
from tests.conftest import post_webhook
from tests.eventlog import (
    bind,
    create_effects_table,
    cursor,
    drop_effects_table,
    effects,
    handled,
    logged,
)
from tests.factories import order_payload


@pytest.fixture
def effects_table(ctx):
    create_effects_table()
    yield
    drop_effects_table()


def orders_applied(client, shop_id: int, n: int) -> None:
    """n guest orders through the webhook route and the inbox; their events wait in the log."""
    for i in range(n):
        assert post_webhook(client, "orders/create", order_payload(
            email=f"c{i % 2}@example.com", placed=i, updated=i)).status_code == 200
    db.session.rollback()
    drain_shop(shop_id)
    get_queue("default").empty()
    get_redis().delete(dispatch_flag(shop_id))


def write(session, name: str, event: DomainEvent) -> None:
    session.execute(insert(effects).values(subscriber=name, event_id=event.id,
                                           shop_id=event.shop_id, kind=event.kind))


def batching(name: str, *, batch_fails: bool = False, fail_on: int | None = None,
             kinds: set[str] | None = None):
    """A subscriber with both handlers, and the list of what each was handed."""
    calls: dict[str, list] = {"batch": [], "one": []}

    def handle(session, event: DomainEvent) -> None:
        calls["one"].append(event.id)
        write(session, name, event)
        if event.id == fail_on:
            raise ValueError(f"event {event.id} is broken")

    def handle_batch(session, events: list[DomainEvent]) -> None:
        calls["batch"].append([e.id for e in events])
        for event in events:
            write(session, name, event)  # rolled back with the batch's savepoint if it raises
            if batch_fails and event is events[-1] or event.id == fail_on:
                raise ValueError("the batch broke")

    return Subscriber(name, handle, kinds=kinds, batch_handler=handle_batch), calls


def dispatch(app, shop_id: int):
    db.session.rollback()
    with db.new_session() as session:
        return dispatch_shop(session, registry(app), shop_id, batch_size=200)


def test_a_batch_handler_is_handed_the_wanted_events_at_once_in_log_order(
        app, client, shop, effects_table, monkeypatch):
    subscriber, calls = batching("paid", kinds={"order_paid"})
    bind(app, monkeypatch, subscriber)
    dispatch(app, shop.id)  # registers it: it starts at the end of the (empty) log
    orders_applied(client, shop.id, 5)

    result = dispatch(app, shop.id)

    paid = logged(shop.id, {"order_paid"})
    assert len(paid) == 5
    assert calls == {"batch": [paid], "one": []}
    assert handled("paid", shop.id) == paid
    assert cursor("paid", shop.id).last_event_id == logged(shop.id)[-1]
    assert result.deliveries[0].delivered == len(logged(shop.id))

    # Nothing new: the batch handler is not called with nothing.
    dispatch(app, shop.id)
    assert calls["batch"] == [paid]


def test_a_failing_batch_goes_one_by_one_and_stops_at_the_exact_failing_event(
        app, client, shop, effects_table, monkeypatch):
    subscriber, calls = batching("ledger", kinds={"order_paid"})
    bind(app, monkeypatch, subscriber)
    dispatch(app, shop.id)
    orders_applied(client, shop.id, 4)
    paid = logged(shop.id, {"order_paid"})
    broken = paid[2]
    subscriber, calls = batching("ledger", kinds={"order_paid"}, fail_on=broken)
    bind(app, monkeypatch, subscriber)

    result = dispatch(app, shop.id)

    assert calls["batch"] == [paid]
    assert calls["one"] == paid[:3]  # one by one until the broken one
    # The batch's writes were rolled back; the events before the broken one are handled once.
    assert handled("ledger", shop.id) == paid[:2]
    state = cursor("ledger", shop.id)
    assert state.failed_event_id == broken and "is broken" in state.last_error
    assert state.last_event_id == max(e for e in logged(shop.id) if e < broken)
    assert result.deliveries[0].failed_event_id == broken

    # Fixed: the retry (a batch again) starts at the broken event and hands over the rest once.
    subscriber, calls = batching("ledger", kinds={"order_paid"})
    bind(app, monkeypatch, subscriber)
    db.session.rollback()
    with db.new_session() as session:
        dispatch_shop(session, registry(app), shop.id, force=True)
    assert calls["batch"] == [paid[2:]]
    assert handled("ledger", shop.id) == paid
    state = cursor("ledger", shop.id)
    assert state.failed_event_id is None and state.last_event_id == logged(shop.id)[-1]


def test_a_batch_that_fails_only_as_a_batch_still_delivers_each_event_once(
        app, client, shop, effects_table, monkeypatch):
    subscriber, calls = batching("all", batch_fails=True)
    bind(app, monkeypatch, subscriber)
    dispatch(app, shop.id)
    orders_applied(client, shop.id, 3)

    dispatch(app, shop.id)

    everything = logged(shop.id)
    assert calls["batch"] == [everything] and calls["one"] == everything
    assert handled("all", shop.id) == everything
    state = cursor("all", shop.id)
    assert state.failed_event_id is None and state.last_event_id == everything[-1]
