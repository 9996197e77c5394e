"""Jobs that write members' balance and tier to the platform (app/loyalty/writeback.py).
Ids in, never objects.

- `write_back_shop(shop_id)`: enqueued after a commit that marked members of the shop;
  writes every member due now.
- `sweep_writebacks()`: periodic (jobs/worker.py); requests a write for every shop with
  members due (a lost request, Redis down at commit, a failure whose backoff has run out).
"""

from __future__ import annotations

import logging

from app.db import db
from app.loyalty import writeback
from app.queue import get_redis
from jobs.context import app_context

log = logging.getLogger(__name__)

SWEEP_PERIOD_SECONDS = 5 * 60


def write_back_shop(shop_id: int) -> dict:
    with app_context():
        # Cleared before reading, so members marked from now on request a new write.
        get_redis().delete(writeback.requested_flag(shop_id))
        with db.new_session() as session:
            return writeback.write_due(session, shop_id).as_dict()


def sweep_writebacks() -> dict:
    with app_context():
        with db.new_session() as session:
            shop_ids = writeback.due_shops(session)
        requested = [shop_id for shop_id in shop_ids if writeback.request_write(shop_id)]
    if requested:
        log.info("loyalty.writeback.sweep_requested", extra={"shop_ids": requested})
    return {"requested": requested}
