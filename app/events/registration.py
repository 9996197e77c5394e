"""When a subscriber is born: the moment the database first records its name.

A subscriber that starts at the end receives exactly the events committed after that
moment: it gets a cursor at each shop's newest event, and a shop with no cursor later is a
shop whose events all came after (its cursor begins at 0). The first of these records it:

- the first `publish` by a process that knows the subscriber, in the publishing transaction
  and before appending, so that batch's events are delivered to it (app/events/outbox.py);
- a worker starting, a dispatch or the sweep, for a system where nothing is published.

A process remembers the names it has seen recorded, so publishing costs one query per
process until then, and nothing after.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.events.models import START_AT_END, EventCursor, EventSubscriber, StoredEvent
from app.events.registry import Registry
from app.shops.models import Shop

log = logging.getLogger(__name__)

_E = StoredEvent.__table__
_C = EventCursor.__table__
_S = EventSubscriber.__table__

_SEEN = "sticky.events.recorded"  # app.extensions: names known to be in the database


def _seen(app: Flask | None) -> set[str]:
    if app is None and has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault(_SEEN, set()) if app is not None else set()


def unrecorded(registry: Registry, app: Flask | None) -> bool:
    """True unless every registered name is known to be in the database (no query)."""
    seen = _seen(app)
    return any(name not in seen for name in registry.names)


def record_new(session: Session, registry: Registry, app: Flask | None = None) -> list[str]:
    """Record, in the caller's transaction, the subscribers the database does not know yet;
    returns their names. Call it before appending events in the same transaction."""
    seen = _seen(app)
    known = set(session.execute(select(_S.c.name)).scalars())
    seen.update(known)  # committed (or ours): safe to remember
    added = []
    for subscriber in registry:
        if subscriber.name in known:
            continue
        now = utcnow()
        inserted = session.execute(
            insert_for(session, _S)
            .values(name=subscriber.name, start=subscriber.start, registered_at=now)
            .on_conflict_do_nothing(index_elements=["name"]).returning(_S.c.name)
        ).first()
        if inserted is None:
            continue  # another process recorded it just now
        if subscriber.start == START_AT_END:
            head = select(func.max(_E.c.id)).where(_E.c.shop_id == Shop.id).scalar_subquery()
            rows = [{"subscriber": subscriber.name, "shop_id": shop_id, "last_event_id": last,
                     "attempts": 0, "updated_at": now}
                    for shop_id, last in session.execute(select(Shop.id, head)).all()
                    if last is not None]
            if rows:
                session.execute(insert_for(session, _C).on_conflict_do_nothing(
                    index_elements=["subscriber", "shop_id"]), rows)
        added.append(subscriber.name)
        log.info("events.subscriber_registered",
                 extra={"subscriber": subscriber.name, "start": subscriber.start})
    return added


def ensure_registered(session: Session, registry: Registry,
                      app: Flask | None = None) -> list[str]:
    """`record_new` in a transaction of its own (the session must have none open)."""
    if not unrecorded(registry, app):
        return []
    with session.begin():
        return record_new(session, registry, app)
