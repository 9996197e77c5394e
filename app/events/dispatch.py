"""Handing each subscriber each shop's events, in order, once.

One transaction per (subscriber, shop, batch of events): lock the subscriber's cursor row
(FOR UPDATE on PostgreSQL, where several workers may dispatch one shop; SQLite serializes
writers anyway), read the events after it, run the handler on each in a savepoint, move the
cursor, commit. The handler's effects and the cursor commit together, so:

- a worker that dies mid-batch leaves both as they were, and the batch is read again;
- a job that runs twice (an RQ retry, two workers) finds the cursor already moved;
- a handler that raises has that event's savepoint rolled back; the cursor stops before it
  (later events of that shop wait: order is kept), the failure is stored on the cursor with a
  time to retry (backoff), and the events before it commit as usual.

Subscribers are dispatched one after the other, each in its own transactions, so one that
fails or is slow delays no other's effects from being committed.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.events.models import EventCursor, StoredEvent
from app.events.outbox import as_event
from app.events.registration import ensure_registered
from app.events.registry import Registry, Subscriber
from app.shops.models import Shop

log = logging.getLogger(__name__)

_E = StoredEvent.__table__
_C = EventCursor.__table__

BATCH_SIZE = 200  # events per transaction (config EVENTS_BATCH_SIZE)
BUDGET_SECONDS = 30.0  # per subscriber per job; the rest waits for the next job
BACKOFF_SECONDS = (30, 60, 120, 300, 900, 1800, 3600)  # then hourly, until it succeeds
ERROR_CHARS = 500


@dataclass(slots=True)
class Delivery:
    """What one dispatch did for one subscriber of one shop."""

    subscriber: str
    shop_id: int
    delivered: int = 0  # events moved past (handled, or of kinds it does not want)
    failed_event_id: int | None = None
    error: str | None = None
    waiting_until: datetime | None = None  # in backoff: nothing was tried
    more: bool = False  # stopped with events left (budget spent)


@dataclass(slots=True)
class ShopDispatch:
    shop_id: int
    deliveries: list[Delivery] = field(default_factory=list)
    # Subscribers the dispatcher itself could not serve (e.g. the database went away).
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def more(self) -> bool:
        return any(d.more for d in self.deliveries)

    def as_dict(self) -> dict:
        return {"shop_id": self.shop_id, "errors": self.errors, "subscribers": {
            d.subscriber: {"delivered": d.delivered, "failed_event_id": d.failed_event_id,
                           "waiting_until": d.waiting_until and d.waiting_until.isoformat(),
                           "more": d.more} for d in self.deliveries}}


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])


def describe(exc: BaseException) -> str:
    """`Type: message (at file:line in function)`, short enough to show in a status line."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {last.filename.rsplit('/', 2)[-1]}:{last.lineno} in {last.name})"
    message = f"{type(exc).__name__}: {exc}"
    return message[:ERROR_CHARS - len(where)] + where


# --- delivering ----------------------------------------------------------------------------------

def locked_cursor(session: Session, name: str, shop_id: int):
    query = select(_C).where(_C.c.subscriber == name, _C.c.shop_id == shop_id).with_for_update()
    row = session.execute(query).first()
    if row is None:
        session.execute(insert_for(session, _C).values(
            subscriber=name, shop_id=shop_id, last_event_id=0, attempts=0, updated_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["subscriber", "shop_id"]))
        row = session.execute(query).one()
    return row


def deliver(session: Session, subscriber: Subscriber, shop_id: int, *,
            limit: int = BATCH_SIZE, force: bool = False) -> Delivery:
    """Deliver up to `limit` of the shop's next events to `subscriber`, in one transaction.

    The subscriber must be registered (`ensure_registered`). `force` ignores a backoff.
    """
    result = Delivery(subscriber.name, shop_id)
    with session.begin():
        cursor = locked_cursor(session, subscriber.name, shop_id)
        now = utcnow()
        if cursor.retry_at is not None and cursor.retry_at > now and not force:
            result.waiting_until = cursor.retry_at
            return result
        rows = session.execute(
            select(_E).where(_E.c.shop_id == shop_id, _E.c.id > cursor.last_event_id)
            .order_by(_E.c.id).limit(limit)).all()
        if not rows and not cursor.attempts:
            return result
        position = cursor.last_event_id
        failure: BaseException | None = None
        batched = _handled_as_batch(session, subscriber, shop_id, rows)
        for row in () if batched else rows:
            if subscriber.wants(row.kind):
                try:
                    with session.begin_nested():
                        subscriber.handler(session, as_event(row))
                except Exception as exc:  # noqa: BLE001 - any handler error is the subscriber's
                    failure = exc
                    result.failed_event_id, result.error = row.id, describe(exc)
                    break
            position = row.id
            result.delivered += 1
        if batched:
            position, result.delivered = rows[-1].id, len(rows)
        values: dict = {"last_event_id": position, "updated_at": now}
        if failure is None:
            values.update(attempts=0, failed_event_id=None, last_error=None, failed_at=None,
                          retry_at=None)
            result.more = len(rows) == limit
        else:
            attempts = (cursor.attempts if cursor.failed_event_id == result.failed_event_id
                        else 0) + 1
            values.update(attempts=attempts, failed_event_id=result.failed_event_id,
                          last_error=result.error, failed_at=now,
                          retry_at=now + backoff(attempts))
        session.execute(update(_C).where(_C.c.subscriber == subscriber.name,
                                         _C.c.shop_id == shop_id).values(values))
    if failure is not None:
        failed = rows[result.delivered]
        # The message stays in the database (`events status`); the log names the event only.
        log.error("events.subscriber_failed", extra={
            "subscriber": subscriber.name, "shop_id": shop_id, "event_id": failed.id,
            "kind": failed.kind, "attempts": values["attempts"],
            "error": type(failure).__name__, "retry_at": values["retry_at"].isoformat()})
    return result


def _handled_as_batch(session: Session, subscriber: Subscriber, shop_id: int, rows) -> bool:
    """Hand the rows' wanted events to the subscriber's batch handler in one savepoint.
    False (and nothing done) when it has none or it raised: the caller then goes one event
    at a time."""
    if subscriber.batch_handler is None:
        return False
    wanted = [as_event(row) for row in rows if subscriber.wants(row.kind)]
    if not wanted:
        return False
    try:
        with session.begin_nested():
            subscriber.batch_handler(session, wanted)
    except Exception as exc:  # noqa: BLE001 - the one-by-one pass finds and records it
        log.info("events.batch_retried_one_by_one", extra={
            "subscriber": subscriber.name, "shop_id": shop_id, "events": len(wanted),
            "error": type(exc).__name__})
        return False
    return True


def dispatch_shop(session: Session, registry: Registry, shop_id: int, *,
                  batch_size: int = BATCH_SIZE, budget_seconds: float = BUDGET_SECONDS,
                  only: str | None = None, force: bool = False) -> ShopDispatch:
    """Bring every registered subscriber (or `only` that one) up to date on one shop.

    A subscriber stops at its first failing event or after `budget_seconds` (then `more`).
    An error of the dispatcher itself (not of a handler) is kept in `errors` and the next
    subscriber is served; the caller decides whether to retry.
    """
    result = ShopDispatch(shop_id)
    ensure_registered(session, registry)
    with session.begin():
        if session.get(Shop, shop_id) is None:
            return result  # deleted (shop/redact) with its log and cursors
    for subscriber in registry:
        if only is not None and subscriber.name != only:
            continue
        deadline = time.monotonic() + budget_seconds
        total = Delivery(subscriber.name, shop_id)
        try:
            while True:
                step = deliver(session, subscriber, shop_id, limit=batch_size, force=force)
                total.delivered += step.delivered
                total.failed_event_id, total.error = step.failed_event_id, step.error
                total.waiting_until = step.waiting_until
                if not step.more:
                    break
                if time.monotonic() > deadline:
                    total.more = True
                    break
        except Exception as exc:  # noqa: BLE001 - the next subscriber must still be served
            session.rollback()
            result.errors[subscriber.name] = describe(exc)
            log.error("events.dispatch_failed", extra={
                "subscriber": subscriber.name, "shop_id": shop_id,
                "error": type(exc).__name__})
        result.deliveries.append(total)
    return result


def heads(session: Session) -> dict[int, int]:
    """Each shop's newest event id (shops with events only); one index probe per shop."""
    head = select(func.max(_E.c.id)).where(_E.c.shop_id == Shop.id).scalar_subquery()
    return {shop_id: last for shop_id, last in session.execute(select(Shop.id, head)).all()
            if last is not None}


def lagging_shops(session: Session, registry: Registry) -> list[int]:
    """Shops with events some registered subscriber has not passed and may try now."""
    names = registry.names
    if not names:
        return []
    now = utcnow()
    cursors = {(row.subscriber, row.shop_id): row for row in session.execute(
        select(_C.c.subscriber, _C.c.shop_id, _C.c.last_event_id, _C.c.retry_at)
        .where(_C.c.subscriber.in_(names))).all()}
    behind = []
    for shop_id, head in sorted(heads(session).items()):
        for name in names:
            cursor = cursors.get((name, shop_id))
            if cursor is None or (cursor.last_event_id < head and (
                    cursor.retry_at is None or cursor.retry_at <= now)):
                behind.append(shop_id)
                break
    return behind
