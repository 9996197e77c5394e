"""Seeing and steering subscribers: their lag and failures, retrying now, replaying.

Used by `flask --app app events ...` (app/events/cli.py); each function runs its own
transaction(s) on the session it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.events.dispatch import heads, locked_cursor
from app.events.models import EventCursor, EventSubscriber, StoredEvent
from app.events.registration import ensure_registered
from app.events.registry import Registry

_E = StoredEvent.__table__
_C = EventCursor.__table__
_S = EventSubscriber.__table__


class UnknownSubscriber(ValueError):
    pass


@dataclass(slots=True)
class ShopLag:
    shop_id: int
    position: int  # last event passed (0: none yet)
    head: int  # the shop's newest event
    behind: int  # events after the position
    oldest_waiting_at: datetime | None  # when the first of those was recorded
    attempts: int = 0
    failed_event_id: int | None = None
    failed_kind: str | None = None
    last_error: str | None = None
    failed_at: datetime | None = None
    retry_at: datetime | None = None


@dataclass(slots=True)
class SubscriberStatus:
    name: str
    registered_at: datetime | None  # None: no dispatcher has seen it yet
    start: str
    shops: list[ShopLag] = field(default_factory=list)  # shops it is behind on or stuck in

    @property
    def behind(self) -> int:
        return sum(s.behind for s in self.shops)

    @property
    def stuck(self) -> list[ShopLag]:
        return [s for s in self.shops if s.failed_event_id is not None]


def status(session: Session, registry: Registry) -> list[SubscriberStatus]:
    """Per registered subscriber: the shops where it has events to go, and its failures."""
    with session.begin():
        registered = {row.name: row.registered_at for row in session.execute(select(_S))}
        head_of = heads(session)
        report = []
        for subscriber in registry:
            entry = SubscriberStatus(subscriber.name, registered.get(subscriber.name),
                                     subscriber.start)
            report.append(entry)
            if entry.registered_at is None:
                continue
            cursors = {row.shop_id: row for row in session.execute(
                select(_C).where(_C.c.subscriber == subscriber.name))}
            for shop_id in sorted(set(head_of) | set(cursors)):
                cursor = cursors.get(shop_id)
                position = cursor.last_event_id if cursor is not None else 0
                head = head_of.get(shop_id, 0)
                failed = cursor is not None and cursor.failed_event_id is not None
                if head <= position and not failed:
                    continue
                waiting = session.execute(
                    select(func.count(), func.min(_E.c.recorded_at))
                    .where(_E.c.shop_id == shop_id, _E.c.id > position)).one()
                lag = ShopLag(shop_id, position, head, waiting[0], waiting[1])
                if failed:
                    lag.attempts, lag.failed_event_id = cursor.attempts, cursor.failed_event_id
                    lag.last_error, lag.failed_at = cursor.last_error, cursor.failed_at
                    lag.retry_at = cursor.retry_at
                    lag.failed_kind = session.execute(select(_E.c.kind).where(
                        _E.c.id == cursor.failed_event_id)).scalar()
                entry.shops.append(lag)
    return report


def _check(registry: Registry, name: str | None) -> None:
    if name is not None and name not in registry:
        known = ", ".join(registry.names) or "none are registered"
        raise UnknownSubscriber(f"no subscriber is named {name!r} (registered: {known})")


def retry_now(session: Session, registry: Registry, name: str | None = None,
              shop_id: int | None = None) -> list[tuple[str, int]]:
    """End the backoff of stuck cursors (all, one subscriber's, one shop's), so the next
    dispatch tries their failed event at once. Returns the (subscriber, shop) pairs."""
    _check(registry, name)
    with session.begin():
        query = (update(_C).where(_C.c.failed_event_id.is_not(None),
                                  _C.c.subscriber.in_(registry.names))
                 .values(retry_at=None, updated_at=utcnow())
                 .returning(_C.c.subscriber, _C.c.shop_id))
        if name is not None:
            query = query.where(_C.c.subscriber == name)
        if shop_id is not None:
            query = query.where(_C.c.shop_id == shop_id)
        return sorted((row.subscriber, row.shop_id) for row in session.execute(query))


def rewind(session: Session, registry: Registry, name: str, shop_id: int,
           since: datetime | None = None) -> int:
    """Move a subscriber's cursor back, to the start of the shop's log or to before the
    first event recorded at or after `since`; never forward (nothing is skipped). Clears a
    failure. Returns how many events it will now receive again or for the first time."""
    _check(registry, name)
    ensure_registered(session, registry)
    with session.begin():
        cursor = locked_cursor(session, name, shop_id)
        target = 0
        if since is not None:
            target = session.execute(select(func.coalesce(func.max(_E.c.id), 0)).where(
                _E.c.shop_id == shop_id, _E.c.recorded_at < since)).scalar_one()
        position = min(target, cursor.last_event_id)
        session.execute(update(_C).where(_C.c.subscriber == name, _C.c.shop_id == shop_id)
                        .values(last_event_id=position, attempts=0, failed_event_id=None,
                                last_error=None, failed_at=None, retry_at=None,
                                updated_at=utcnow()))
        return session.execute(select(func.count()).where(
            _E.c.shop_id == shop_id, _E.c.id > position)).scalar_one()
