"""Domain-event delivery under failure: a killed worker, a retried job, two workers on one
shop, a lost dispatch request, and the append lock that keeps a shop's log in commit order."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app.db import db, utcnow
from app.events import DomainEvent, publish
from app.events import dispatch as dispatch_module
from app.events.dispatch import dispatch_shop
from app.events.models import EventCursor, StoredEvent
from app.events.queueing import dispatch_flag
from app.events.registry import registry
from app.queue import get_queue, get_redis
from jobs.events import DispatchIncomplete, sweep_events
from jobs.events import dispatch_shop as dispatch_job
from jobs.ingest import drain_shop
from tests.conftest import post_webhook, run_worker
from tests.eventlog import (
    BEHAVIOUR,
    bind,
    create_effects_table,
    cursor,
    drop_effects_table,
    handled,
    logged,
    recorder,
)
from tests.factories import checkout_payload, customer_payload, order_payload


@pytest.fixture
def effects(ctx):
    create_effects_table()
    yield
    drop_effects_table()


def orders(client, n: int) -> None:
    for i in range(n):
        assert post_webhook(client, "orders/create", order_payload(
            email=f"c{i % 3}@example.com", placed=i, updated=i)).status_code == 200


def apply_only(shop_id: int) -> None:
    """Drain the inbox in this process; the dispatch it asks for stays queued, not run."""
    db.session.rollback()
    drain_shop(shop_id)
    get_queue("default").empty()
    get_redis().delete(dispatch_flag(shop_id))


def test_a_worker_killed_between_events_loses_nothing_and_doubles_nothing(
        app, client, shop, effects, monkeypatch, tmp_path):
    bind(app, monkeypatch, recorder("ledger"))
    monkeypatch.setitem(app.config, "EVENTS_BATCH_SIZE", 5)
    marker = tmp_path / "killed"
    calls = {"n": 0}

    def die_on_the_eighth(event: DomainEvent) -> None:
        # The work-horse (a forked child, as in production) dies after handling its 8th
        # event: the first batch of 5 is committed, the second is cut off after 3.
        calls["n"] += 1
        if calls["n"] == 8 and not marker.exists():
            marker.write_text(str(event.id))
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setitem(BEHAVIOUR, "ledger", die_on_the_eighth)
    orders(client, 6)
    run_worker(app)

    events = logged(shop.id)
    assert len(events) == 3 + 6 * 2
    assert int(marker.read_text()) == events[7]
    assert handled("ledger", shop.id) == events[:5]  # nothing of the cut batch is visible
    assert cursor("ledger", shop.id).last_event_id == events[4]

    # A new worker (the sweep finds the shop behind) delivers the rest, once each.
    assert sweep_events()["requeued"] == [shop.id]
    run_worker(app)
    assert handled("ledger", shop.id) == events
    assert cursor("ledger", shop.id).last_event_id == events[-1]


def test_a_retried_dispatch_job_doubles_nothing(app, client, shop, effects, monkeypatch):
    bind(app, monkeypatch, recorder("first"), recorder("second"))
    orders(client, 4)
    apply_only(shop.id)
    events = logged(shop.id)
    real_deliver = dispatch_module.deliver
    outage = {"left": 1}

    def database_gone_for_second(session, subscriber, shop_id, **kw):
        if subscriber.name == "second" and outage["left"]:
            outage["left"] -= 1
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))
        return real_deliver(session, subscriber, shop_id, **kw)

    monkeypatch.setattr(dispatch_module, "deliver", database_gone_for_second)
    # The job fails (RQ will retry it) after "first" committed everything...
    with pytest.raises(DispatchIncomplete):
        dispatch_job(shop.id)
    assert handled("first", shop.id) == events
    assert handled("second", shop.id) == []
    # ...and the retry, and a duplicate run after it, hand nothing over twice.
    dispatch_job(shop.id)
    dispatch_job(shop.id)
    assert handled("first", shop.id) == events
    assert handled("second", shop.id) == events


def test_two_workers_dispatching_one_shop_deliver_each_event_once(app, client, shop, effects,
                                                                  monkeypatch):
    """On PostgreSQL the cursor row lock (FOR UPDATE) serializes them; on SQLite, BEGIN
    IMMEDIATE does."""
    bind(app, monkeypatch, recorder("ledger"))
    orders(client, 15)
    apply_only(shop.id)
    events = logged(shop.id)
    monkeypatch.setitem(BEHAVIOUR, "ledger", lambda event: time.sleep(0.004))
    start = threading.Barrier(2)
    delivered: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context(), db.new_session() as session:
                start.wait()
                result = dispatch_shop(session, registry(app), shop.id, batch_size=3)
                delivered.append(result.deliveries[0].delivered)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert handled("ledger", shop.id) == events  # each once, in log order
    assert sum(delivered) == len(events)


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="SQLite serializes every writer; PostgreSQL needs the append lock")
def test_an_append_waits_for_the_shops_earlier_append_to_commit(app, ctx, shop):
    """Ids are drawn after the lock, so a shop's ids increase in commit order: a cursor
    that read past id N never meets a smaller id committed later."""
    def event(ref: str) -> DomainEvent:
        return DomainEvent(shop.id, 1, "order_placed", ref, utcnow(), {})

    db.session.rollback()
    appended: dict[str, int] = {}
    with db.new_session() as first:
        first.begin()
        publish(first, [event("A")])
        appended["A"] = max(logged_uncommitted(first, shop.id))

        def second() -> None:
            with app.app_context(), db.new_session() as other, other.begin():
                publish(other, [event("B")])
                appended["B"] = max(logged_uncommitted(other, shop.id))

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and "B" not in appended  # waiting for the first to commit
        first.commit()
    thread.join(10)
    assert appended["A"] < appended["B"]


def logged_uncommitted(session, shop_id: int) -> list[int]:
    """The shop's event ids as this database session sees them (its own uncommitted ones
    included)."""
    return list(session.execute(select(StoredEvent.id).where(
        StoredEvent.shop_id == shop_id)).scalars())


def test_a_lost_dispatch_request_is_found_by_the_sweep(app, client, shop, effects, monkeypatch):
    bind(app, monkeypatch, recorder("ledger"))
    orders(client, 2)
    apply_only(shop.id)
    get_redis().flushdb()  # Redis lost the job and its flag
    run_worker(app)
    assert handled("ledger", shop.id) == []
    assert sweep_events()["requeued"] == [shop.id]
    assert sweep_events()["requeued"] == []  # one request waiting is enough
    run_worker(app)
    assert handled("ledger", shop.id) == logged(shop.id)
    assert sweep_events()["requeued"] == []  # nothing behind


def test_the_sweep_leaves_a_failing_subscriber_alone_until_its_backoff_ends(
        app, client, shop, effects, monkeypatch):
    bind(app, monkeypatch, recorder("flaky"))
    monkeypatch.setitem(BEHAVIOUR, "flaky", lambda event: 1 / 0)
    orders(client, 1)
    run_worker(app)
    assert cursor("flaky", shop.id).attempts == 1
    assert sweep_events()["requeued"] == []
    db.session.execute(update(EventCursor).values(retry_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert sweep_events()["requeued"] == [shop.id]


def test_abandoned_carts_are_published_and_delivered(app, client, shop, effects, monkeypatch):
    from jobs.carts import mark_abandoned

    bind(app, monkeypatch, recorder("flows", kinds={"cart_abandoned", "checkout_started"}))
    customer = customer_payload(email="cart@example.com")
    post_webhook(client, "customers/create", customer)
    post_webhook(client, "checkouts/create", checkout_payload(
        token="chk-1", email="cart@example.com", customer=customer))
    run_worker(app)
    db.session.rollback()
    assert mark_abandoned()["abandoned"] == {shop.id: 1}
    run_worker(app)
    assert handled("flows", shop.id) == logged(shop.id, {"checkout_started", "cart_abandoned"})
    assert len(handled("flows", shop.id)) == 2
