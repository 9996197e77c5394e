"""`flask --app app events status|retry|replay`: subscribers' lag and failures, and fixes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from app.db import db
from app.events import admin
from app.events.models import StoredEvent
from app.events.queueing import request_dispatch
from app.events.registry import registry

events_cli = AppGroup("events", help="Domain-event subscribers: lag, failures, retry, replay.")

_WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _shop(ref: str | None):
    if ref is None:
        return None
    from app.shops.service import ShopError, find_shop

    # Each step has a session of its own, closed at once (on SQLite a read holds the lock).
    with db.new_session() as session:
        try:
            return find_shop(session, ref)
        except ShopError as exc:
            _fail(str(exc))


def _n(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def _at(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _queue(shop_ids: set[int]) -> str:
    queued = [shop_id for shop_id in sorted(shop_ids) if request_dispatch(shop_id, force=True)]
    if len(queued) == len(shop_ids):
        return "a worker delivers them next"
    return ("Redis did not take the request; a worker's periodic sweep delivers them within "
            "a minute")


@events_cli.command("status")
@click.option("--shop", "store", metavar="STORE", help="Only this store.")
@with_appcontext
def events_status(store: str | None) -> None:
    """Per subscriber: the stores it has events to go in, and what it is stuck on."""
    shop = _shop(store)
    reg = registry()
    with db.new_session() as session:
        total, shops = session.execute(select(
            func.count(), func.count(StoredEvent.shop_id.distinct())).select_from(StoredEvent)
        ).one()
    click.echo(f"event log: {_n(total, 'event')} of {_n(shops, 'store')}")
    if not len(reg):
        click.echo("No subscribers are registered (they are listed in app/subscribers.py).")
        return
    domains = _domains()
    with db.new_session() as own:
        report = admin.status(own, reg)
    for entry in report:
        if entry.registered_at is None:
            click.echo(f"{entry.name}: not started yet; a worker starts it at the "
                       f"{entry.start} of each store's log")
            continue
        lags = [s for s in entry.shops if shop is None or s.shop_id == shop.id]
        stuck = [s for s in lags if s.failed_event_id is not None]
        summary = "up to date" if not lags else (
            f"{_n(sum(s.behind for s in lags), 'event')} to go in {_n(len(lags), 'store')}"
            + (f", stuck in {len(stuck)}" if stuck else ""))
        click.echo(f"{entry.name} (since {_at(entry.registered_at)}): {summary}")
        for lag in lags:
            click.echo(f"  {domains.get(lag.shop_id, '?')} (store {lag.shop_id}): "
                       f"{_n(lag.behind, 'event')} to go, at event {lag.position} of {lag.head}, "
                       f"oldest waiting since {_at(lag.oldest_waiting_at)}")
            if lag.failed_event_id is not None:
                click.echo(f"    stuck on event {lag.failed_event_id} ({lag.failed_kind}) after "
                           f"{_n(lag.attempts, 'attempt')}, last {_at(lag.failed_at)}; next try "
                           f"{_at(lag.retry_at) if lag.retry_at else 'at the next dispatch'}")
                click.echo(f"    {lag.last_error}")


def _domains() -> dict[int, str]:
    from app.shops.models import Shop

    with db.new_session() as session:
        return dict(session.execute(select(Shop.id, Shop.domain)).all())


@events_cli.command("retry")
@click.argument("subscriber", required=False)
@click.option("--shop", "store", metavar="STORE", help="Only this store.")
@with_appcontext
def events_retry(subscriber: str | None, store: str | None) -> None:
    """Try stuck subscribers' failed events again now (all, or SUBSCRIBER's, or a store's)."""
    shop = _shop(store)
    try:
        with db.new_session() as session:
            pairs = admin.retry_now(session, registry(), subscriber, shop.id if shop else None)
    except admin.UnknownSubscriber as exc:
        _fail(str(exc))
    if not pairs:
        click.echo("Nothing is stuck.")
        return
    domains = _domains()
    for name, shop_id in pairs:
        click.echo(f"{name} on {domains.get(shop_id, '?')} (store {shop_id}): retrying")
    click.echo(f"{_n(len(pairs), 'retry')} queued; {_queue({s for _, s in pairs})}.")


@events_cli.command("replay")
@click.argument("subscriber")
@click.option("--shop", "store", metavar="STORE", required=True, help="The store to replay.")
@click.option("--since", type=_WHEN, metavar="DATE",
              help="Only events recorded at or after this time (UTC), e.g. 2026-11-01.")
@with_appcontext
def events_replay(subscriber: str, store: str, since: datetime | None) -> None:
    """Deliver a store's past events to SUBSCRIBER again (its effects must be idempotent)."""
    shop = _shop(store)
    assert shop is not None
    if since is not None:
        since = since.replace(tzinfo=UTC)
    try:
        with db.new_session() as session:
            n = admin.rewind(session, registry(), subscriber, shop.id, since)
    except admin.UnknownSubscriber as exc:
        _fail(str(exc))
    click.echo(f"{subscriber} rewound on {shop.domain}: {_n(n, 'event')} to deliver; "
               f"{_queue({shop.id})}.")
