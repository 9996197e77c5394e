"""Asking a worker to drain a shop's inbox, at most one queued request per shop.

Called after the delivery's row is committed. If Redis is unreachable the delivery is
still safe in the inbox: the periodic sweep (or `worker --burst`) will enqueue it.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Retry

from app.queue import get_queue, get_redis

log = logging.getLogger(__name__)

DRAIN_JOB = "jobs.ingest.drain_shop"
DRAIN_TIMEOUT_SECONDS = 600


def drain_flag(shop_id: int) -> str:
    return f"sticky:drain-requested:{shop_id}"


def request_drain(shop_id: int, *, force: bool = False) -> bool:
    """Enqueue a drain of this shop unless one is already waiting. True if enqueued."""
    try:
        if not force and not get_redis().set(drain_flag(shop_id), 1, nx=True, ex=300):
            return False
        get_queue("ingest").enqueue(
            DRAIN_JOB, shop_id,
            job_timeout=DRAIN_TIMEOUT_SECONDS,
            retry=Retry(max=5, interval=[2, 10, 30, 120, 300]),
            result_ttl=300, failure_ttl=7 * 24 * 3600,
        )
        return True
    except RedisError:
        log.warning("inbox.enqueue_failed", extra={"shop_id": shop_id}, exc_info=True)
        return False
