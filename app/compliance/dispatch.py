"""Enqueueing lifecycle deliveries (app/uninstalled, privacy requests) for their own job."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Retry

from app.queue import get_queue, get_redis

log = logging.getLogger(__name__)

LIFECYCLE_JOB = "jobs.compliance.handle_lifecycle_delivery"


def _flag(inbox_id: int) -> str:
    return f"sticky:lifecycle-enqueued:{inbox_id}"


def enqueue_lifecycle(inbox_id: int, *, force: bool = False) -> bool:
    """Queue the job for one dispatched inbox row, at most once per 15 minutes. If Redis is
    down the row waits in the inbox and the periodic sweep enqueues it later."""
    try:
        if not get_redis().set(_flag(inbox_id), 1, nx=True, ex=900) and not force:
            return False
        get_queue("default").enqueue(
            LIFECYCLE_JOB, inbox_id, job_timeout=1800,
            retry=Retry(max=6, interval=[10, 60, 300, 900, 1800, 3600]),
            result_ttl=3600, failure_ttl=30 * 24 * 3600,
        )
        return True
    except RedisError:
        log.warning("shopify.lifecycle.enqueue_failed", extra={"inbox_id": inbox_id},
                    exc_info=True)
        return False
