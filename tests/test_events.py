"""Domain-event subscribers: every event once and in order, failures that stop nothing else,
retry, replay, registration. Events come from real webhooks through the inbox and the
profile store; delivery runs in a real RQ worker unless a test needs to look inside."""

from __future__ import annotations

import ast
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.db import db, utcnow
from app.events import history
from app.events.dispatch import dispatch_shop
from app.events.models import EventCursor, StoredEvent
from app.events.registration import ensure_registered
from app.events.registry import Registry, Subscriber, registry
from app.inbox.models import InboxEntry
from app.profiles.models import Customer, Order
from app.queue import get_queue
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
from tests.factories import customer_payload, order_payload, ts

OTHER = "other-store.myshopify.com"


@pytest.fixture
def effects(ctx):
    create_effects_table()
    yield
    drop_effects_table()


def orders(client, n: int, *, shop_domain: str = "sticky-test.myshopify.com",
           start: int = 0) -> None:
    for i in range(start, start + n):
        assert post_webhook(client, "orders/create",
                            order_payload(email=f"c{i % 3}@example.com", placed=i, updated=i),
                            shop_domain=shop_domain).status_code == 200


def test_each_subscriber_sees_each_event_of_its_shop_once_in_order(
        app, client, shop, other_shop, effects, monkeypatch):
    bind(app, monkeypatch, recorder("ledger"), recorder("paid-only", kinds={"order_paid"}))
    orders(client, 6)
    orders(client, 4, shop_domain=OTHER)
    run_worker(app)

    # 3 guests (first order each), then placed + paid per order
    assert len(logged(shop.id)) == 3 + 6 * 2 and len(logged(other_shop.id)) == 3 + 4 * 2
    for shop_id in (shop.id, other_shop.id):
        assert handled("ledger", shop_id) == logged(shop_id)
        assert handled("paid-only", shop_id) == logged(shop_id, {"order_paid"})
        assert cursor("ledger", shop_id).last_event_id == logged(shop_id)[-1]
        # a subscriber that skips kinds still moves past them
        assert cursor("paid-only", shop_id).last_event_id == logged(shop_id)[-1]

    # a redelivered webhook publishes nothing; another dispatch hands over nothing twice
    entry = db.session.execute(select(InboxEntry).where(InboxEntry.shop_id == shop.id)
                               .limit(1)).scalar_one()
    assert post_webhook(client, "orders/create", None, body=entry.payload,
                        webhook_id=entry.delivery_key).status_code == 200
    before = len(logged())
    from jobs.events import dispatch_shop as dispatch_job

    db.session.rollback()
    dispatch_job(shop.id)
    run_worker(app)
    assert len(logged()) == before
    assert handled("ledger", shop.id) == logged(shop.id)


def test_without_subscribers_events_are_kept_and_no_dispatch_is_queued(app, client, shop):
    orders(client, 2)
    run_worker(app)
    assert len(logged(shop.id)) == 2 + 2 * 2  # two guests (c0, c1), placed + paid each
    assert len(get_queue("default")) == 0


def test_a_failing_subscriber_stops_neither_the_mirror_nor_another_and_succeeds_on_retry(
        app, client, shop, effects, monkeypatch):
    bind(app, monkeypatch, recorder("flaky"), recorder("steady"))
    broken = {"on": True}

    def fail_on_paid(event):
        if broken["on"] and event.kind == "order_paid":
            raise ValueError("award rule 7 is misconfigured")

    monkeypatch.setitem(BEHAVIOUR, "flaky", fail_on_paid)
    orders(client, 4)
    run_worker(app)

    # the mirror applied everything and the other subscriber saw everything
    assert db.session.execute(select(InboxEntry.status).distinct()).scalars().all() == [
        "processed"]
    assert len(db.session.execute(select(Order)).scalars().all()) == 4
    events = logged(shop.id)
    assert handled("steady", shop.id) == events
    # the failing one kept what came before the bad event, and nothing from it on
    first_paid = logged(shop.id, {"order_paid"})[0]
    assert handled("flaky", shop.id) == [e for e in events if e < first_paid]
    stuck = cursor("flaky", shop.id)
    assert stuck.failed_event_id == first_paid and stuck.attempts == 1
    assert stuck.last_event_id == max(e for e in events if e < first_paid)
    assert "ValueError: award rule 7 is misconfigured" in stuck.last_error
    assert stuck.retry_at > utcnow()

    # visible
    out = app.test_cli_runner().invoke(args=["events", "status"]).output
    lines = {line.split(" (since")[0]: line for line in out.splitlines() if "(since" in line}
    assert lines["steady"].endswith(": up to date")
    behind = len([e for e in events if e >= first_paid])
    assert lines["flaky"].endswith(f": {behind} events to go in 1 store, stuck in 1")
    assert f"stuck on event {first_paid} (order_paid) after 1 attempt," in out
    assert "award rule 7 is misconfigured" in out

    # retryable: once fixed, `events retry` delivers the rest, each event once
    broken["on"] = False
    result = app.test_cli_runner().invoke(args=["events", "retry", "flaky"])
    assert result.exit_code == 0 and "1 retry queued" in result.output
    assert f"flaky on {shop.domain} (store {shop.id}): retrying" in result.output
    run_worker(app)
    assert handled("flaky", shop.id) == events
    healed = cursor("flaky", shop.id)
    assert (healed.failed_event_id, healed.attempts, healed.last_error) == (None, 0, None)
    assert handled("steady", shop.id) == events
    out = app.test_cli_runner().invoke(args=["events", "status"]).output
    assert "flaky (since" in out and "up to date" in out and "stuck" not in out


def test_a_failure_is_logged_and_retried_with_backoff(app, ctx, client, shop, effects,
                                                      monkeypatch, caplog):
    orders(client, 1)
    run_worker(app)  # applied with no subscriber; delivered in this process below
    bind(app, monkeypatch, recorder("flaky", start="beginning"))
    monkeypatch.setitem(BEHAVIOUR, "flaky", lambda e: 1 / 0)
    reg = registry(app)
    first = logged(shop.id)[0]

    with caplog.at_level(logging.ERROR, logger="app.events.dispatch"), \
            db.new_session() as session:
        dispatch_shop(session, reg, shop.id)
    failure = [r for r in caplog.records if r.getMessage() == "events.subscriber_failed"]
    assert [(r.subscriber, r.event_id, r.error, r.attempts) for r in failure] == [
        ("flaky", first, "ZeroDivisionError", 1)]
    # in backoff: another dispatch does not call the handler
    with db.new_session() as session:
        dispatch_shop(session, reg, shop.id)
    assert cursor("flaky", shop.id).attempts == 1
    # once the backoff has run out it is tried again, and waits longer
    db.session.execute(update(EventCursor).values(retry_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    with db.new_session() as session:
        dispatch_shop(session, reg, shop.id)
    again = cursor("flaky", shop.id)
    assert again.attempts == 2 and again.retry_at - again.failed_at == timedelta(seconds=60)
    assert handled("flaky") == []  # the failing event's effects never committed


def test_replay_delivers_a_shops_past_events_again(app, client, shop, other_shop, effects,
                                                   monkeypatch):
    bind(app, monkeypatch, recorder("loyalty"))
    orders(client, 3)
    orders(client, 2, shop_domain=OTHER)
    run_worker(app)
    first_pass = logged(shop.id)
    assert handled("loyalty", shop.id) == first_pass

    result = app.test_cli_runner().invoke(args=["events", "replay", "loyalty", "--shop",
                                                shop.domain])
    assert result.exit_code == 0, result.output
    assert f"{len(first_pass)} events to deliver" in result.output
    run_worker(app)
    assert handled("loyalty", shop.id) == first_pass + first_pass
    assert handled("loyalty", other_shop.id) == logged(other_shop.id)  # not replayed

    # --since: only the events recorded from then on
    cut = first_pass[4]
    db.session.execute(update(StoredEvent).where(StoredEvent.id < cut).values(
        recorded_at=utcnow() - timedelta(days=3)))
    db.session.commit()
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    result = app.test_cli_runner().invoke(args=["events", "replay", "loyalty", "--shop",
                                                str(shop.id), "--since", since])
    assert result.exit_code == 0, result.output
    run_worker(app)
    assert handled("loyalty", shop.id) == first_pass * 2 + [e for e in first_pass if e >= cut]


def test_replay_and_retry_refuse_unknown_names_and_stores(app, shop, monkeypatch, effects):
    bind(app, monkeypatch, recorder("loyalty"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["events", "replay", "loyalty2", "--shop", shop.domain])
    assert result.exit_code == 2 and "no subscriber is named 'loyalty2'" in result.output
    assert "registered: loyalty" in result.output
    result = runner.invoke(args=["events", "replay", "loyalty", "--shop", "nope.myshopify.com"])
    assert result.exit_code == 2 and "no connected store matches" in result.output
    result = runner.invoke(args=["events", "retry", "nobody"])
    assert result.exit_code == 2
    assert runner.invoke(args=["events", "retry"]).output.strip() == "Nothing is stuck."


def test_history_reads_past_events_without_moving_a_cursor(app, ctx, client, shop, effects,
                                                           monkeypatch):
    orders(client, 5)
    run_worker(app)
    bind(app, monkeypatch, recorder("backtest"))
    db.session.rollback()
    ensure_registered(db.session, registry(app))
    position = cursor("backtest", shop.id).last_event_id
    seen = list(history(db.session, shop.id, page=2))
    assert [e.id for e in seen] == logged(shop.id)
    paid = list(history(db.session, shop.id, kinds={"order_paid"}))
    assert [e.kind for e in paid] == ["order_paid"] * 5
    assert all(e.data["currency"] == "USD" and e.shop_id == shop.id for e in paid)
    late = list(history(db.session, shop.id, occurred_from=seen[-1].occurred_at))
    assert late and all(e.occurred_at >= seen[-1].occurred_at for e in late)
    assert cursor("backtest", shop.id).last_event_id == position


def test_a_new_subscriber_starts_at_the_end_unless_told_the_beginning(
        app, client, shop, effects, monkeypatch):
    orders(client, 2)
    run_worker(app)
    past = logged(shop.id)
    bind(app, monkeypatch, recorder("new-flow"), recorder("analytics", start="beginning"))
    orders(client, 1, start=10)
    run_worker(app)
    news = [e for e in logged(shop.id) if e not in past]
    assert news and handled("new-flow", shop.id) == news
    assert handled("analytics", shop.id) == past + news


def test_a_store_connected_after_a_subscriber_started_gets_all_its_events(
        app, client, shop, effects, monkeypatch):
    bind(app, monkeypatch, recorder("ledger"))
    db.session.rollback()
    assert ensure_registered(db.session, registry(app)) == ["ledger"]
    from app.shops.service import connect_shopify_by_token

    late = connect_shopify_by_token(db.session, OTHER, "shpat_late")
    db.session.commit()
    orders(client, 2, shop_domain=OTHER)
    run_worker(app)
    assert handled("ledger", late.id) == logged(late.id) != []


def test_a_merged_guest_hands_its_events_to_the_registered_profile(app, client, shop, effects,
                                                                   monkeypatch):
    """Stored events of a guest merged in a later batch, and events of a guest merged in
    the batch that published them, both name the profile that remains."""
    bind(app, monkeypatch, recorder("ledger"))
    earlier = customer_payload(email="old@example.com", updated=0)
    post_webhook(client, "customers/create", earlier)
    post_webhook(client, "orders/create", order_payload(email="new@example.com"))
    run_worker(app)
    assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 2
    post_webhook(client, "customers/update",
                 dict(earlier, email="new@example.com", updated_at=ts(90)))
    same_batch = customer_payload(email="old2@example.com", updated=0)
    post_webhook(client, "customers/create", same_batch)
    post_webhook(client, "orders/create", order_payload(email="new2@example.com"))
    post_webhook(client, "customers/update",
                 dict(same_batch, email="new2@example.com", updated_at=ts(90)))
    run_worker(app)

    db.session.rollback()
    profiles = dict(db.session.execute(select(Customer.email_normalized, Customer.id)).all())
    assert sorted(profiles) == ["new2@example.com", "new@example.com"]
    named = set(db.session.execute(select(StoredEvent.customer_id)).scalars())
    assert named == set(profiles.values())
    for profile in profiles.values():
        kinds = db.session.execute(select(StoredEvent.kind).where(
            StoredEvent.customer_id == profile)).scalars().all()
        assert sorted(kinds).count("order_placed") == 1
    assert handled("ledger", shop.id) == logged(shop.id)


def test_subscribers_are_registered_by_unique_valid_names():
    with pytest.raises(ValueError, match="two subscribers are named 'a'"):
        Registry([Subscriber("a", print), Subscriber("a", print)])
    with pytest.raises(ValueError, match="subscriber name"):
        Subscriber("Loyalty Points", print)
    with pytest.raises(ValueError, match="unknown event kinds"):
        Subscriber("a", print, kinds={"order_payed"})
    with pytest.raises(ValueError, match="start must be"):
        Subscriber("a", print, start="now")


def test_the_app_binds_the_registry_of_app_subscribers(app):
    from app.subscribers import SUBSCRIBERS

    assert registry(app).names == [s.name for s in SUBSCRIBERS]


def test_the_profile_store_imports_no_subscriber():
    root = Path(__file__).resolve().parent.parent
    for path in (root / "app" / "profiles").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name in ("app", "app.events") or not name.startswith(
                    ("app.subscribers", "app.loyalty", "app.flows", "app.analytics", "jobs")
                ), f"{path.name} imports {name}"
