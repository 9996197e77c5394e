"""Jobs that hand domain events to subscribers (app/events/dispatch.py). Ids in, never objects.

- `dispatch_shop(shop_id)`: enqueued after a commit that published events of the shop
  (app/events/queueing.py); brings every subscriber up to date on it.
- `sweep_events()`: periodic; dispatches shops with events a subscriber has not passed
  (a lost job, Redis down at commit, a failure whose backoff has run out).
"""

from __future__ import annotations

import logging

from app.db import db
from app.events.dispatch import BATCH_SIZE, lagging_shops
from app.events.dispatch import dispatch_shop as dispatch
from app.events.queueing import dispatch_flag, request_dispatch
from app.events.registration import ensure_registered
from app.events.registry import registry
from app.queue import get_redis
from jobs.context import app_context

log = logging.getLogger(__name__)


class DispatchIncomplete(RuntimeError):
    """The dispatcher could not serve a subscriber (not a handler failure): RQ retries."""


def dispatch_shop(shop_id: int) -> dict:
    with app_context() as app:
        # Cleared before reading, so events committed from now on enqueue a new dispatch.
        get_redis().delete(dispatch_flag(shop_id))
        subscribers = registry(app)
        if not len(subscribers):
            return {"shop_id": shop_id, "skipped": "no subscribers"}
        with db.new_session() as session:
            result = dispatch(session, subscribers, shop_id,
                              batch_size=app.config.get("EVENTS_BATCH_SIZE", BATCH_SIZE))
        if result.more:
            request_dispatch(shop_id, force=True)
        summary = result.as_dict()
        log.info("events.dispatched", extra=summary)
        if result.errors:
            raise DispatchIncomplete(f"shop {shop_id}: {sorted(result.errors)}")
        return summary


def sweep_events() -> dict:
    """Enqueue a dispatch of every shop some subscriber is behind on and may try now."""
    with app_context():
        subscribers = registry()
        if not len(subscribers):
            return {"requeued": []}
        with db.new_session() as session:
            ensure_registered(session, subscribers)
            with session.begin():
                shop_ids = lagging_shops(session, subscribers)
        requeued = [shop_id for shop_id in shop_ids if request_dispatch(shop_id)]
        if requeued:
            log.info("events.sweep_requeued", extra={"shop_ids": requeued})
        return {"requeued": requeued}


def register_subscribers() -> list[str]:
    """At worker start: record subscribers new to the database, so one added by this
    release starts at the end of the log as it is now (not at its first dispatch)."""
    with app_context():
        subscribers = registry()
        if not len(subscribers):
            return []
        with db.new_session() as session:
            return ensure_registered(session, subscribers)
