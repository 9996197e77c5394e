"""A test subscriber for the domain-event tests: it records every event it is handed.

Each handled event becomes a row of `test_event_effects`, written through the dispatcher's
session like a real subscriber's effects (a points award, a flow run), so it commits or rolls
back with the subscriber's cursor. The table has no unique key on purpose: an event handled
twice shows up as two rows. `BEHAVIOUR[name](event)` runs after the row is written (to fail
or to kill the worker); a forked RQ work-horse inherits what the test put there.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, func, insert, select

from app.db import db
from app.events import DomainEvent, Subscriber
from app.events.models import EventCursor, StoredEvent
from app.events.registry import EXTENSION, init_app

effects = Table(
    "test_event_effects", MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber", String(64), nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("shop_id", BigInteger, nullable=False),
    Column("kind", String(48), nullable=False),
)

BEHAVIOUR: dict[str, Callable[[DomainEvent], None]] = {}


def recorder(name: str, **options) -> Subscriber:
    def handle(session, event: DomainEvent) -> None:
        session.execute(insert(effects).values(subscriber=name, event_id=event.id,
                                               shop_id=event.shop_id, kind=event.kind))
        hook = BEHAVIOUR.get(name)
        if hook is not None:
            hook(event)

    return Subscriber(name, handle, **options)


def bind(app: Flask, monkeypatch, *subscribers: Subscriber) -> None:
    """Register `subscribers` the way create_app does (config EVENT_SUBSCRIBERS), for this
    test only."""
    monkeypatch.setitem(app.extensions, EXTENSION, app.extensions[EXTENSION])
    monkeypatch.setitem(app.extensions, "sticky.events.recorded", set())
    monkeypatch.setitem(app.config, "EVENT_SUBSCRIBERS", list(subscribers))
    init_app(app)


def _read(query, scalars: bool = True):
    # A session of its own, closed at once: on SQLite an open read would hold the write lock.
    db.session.rollback()
    with db.new_session() as session:
        result = session.execute(query)
        return list(result.scalars()) if scalars else result.scalar_one_or_none()


def handled(name: str, shop_id: int | None = None) -> list[int]:
    """Event ids the subscriber's committed effects name, in the order they were written."""
    query = select(effects.c.event_id).where(effects.c.subscriber == name)
    if shop_id is not None:
        query = query.where(effects.c.shop_id == shop_id)
    return _read(query.order_by(effects.c.id))


def logged(shop_id: int | None = None, kinds: set[str] | None = None) -> list[int]:
    """Ids of the stored events, in log order."""
    query = select(StoredEvent.id).order_by(StoredEvent.id)
    if shop_id is not None:
        query = query.where(StoredEvent.shop_id == shop_id)
    if kinds is not None:
        query = query.where(StoredEvent.kind.in_(kinds))
    return _read(query)


def cursor(name: str, shop_id: int) -> EventCursor | None:
    return _read(select(EventCursor).where(EventCursor.subscriber == name,
                                           EventCursor.shop_id == shop_id), scalars=False)


def count_effects() -> int:
    return _read(select(func.count()).select_from(effects), scalars=False)


def create_effects_table() -> None:
    effects.drop(db.engine, checkfirst=True)
    effects.create(db.engine)


def drop_effects_table() -> None:
    db.session.rollback()
    db.session.close()
    effects.drop(db.engine, checkfirst=True)
