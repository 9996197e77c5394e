"""Asking a worker to dispatch a shop's new events, at most one queued request per shop.

Called after the events' transaction has committed. If Redis is unreachable the events are
still in the log: the periodic sweep (`jobs.events.sweep_events`) finds them.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Retry

from app.queue import get_queue, get_redis

log = logging.getLogger(__name__)

DISPATCH_JOB = "jobs.events.dispatch_shop"
DISPATCH_TIMEOUT_SECONDS = 600


def dispatch_flag(shop_id: int) -> str:
    return f"sticky:events-dispatch-requested:{shop_id}"


def request_dispatch(shop_id: int, *, force: bool = False) -> bool:
    """Enqueue a dispatch of this shop unless one is already waiting. True if enqueued."""
    try:
        if not force and not get_redis().set(dispatch_flag(shop_id), 1, nx=True, ex=300):
            return False
        get_queue("default").enqueue(
            DISPATCH_JOB, shop_id,
            job_timeout=DISPATCH_TIMEOUT_SECONDS,
            retry=Retry(max=3, interval=[5, 30, 120]),
            result_ttl=300, failure_ttl=7 * 24 * 3600,
        )
        return True
    except RedisError:
        log.warning("events.enqueue_failed", extra={"shop_id": shop_id}, exc_info=True)
        return False
