"""Jobs that apply webhook deliveries and keep the inbox from stalling."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from app.db import db
from app.inbox.queueing import drain_flag, request_drain
from app.inbox.service import drain, purge_processed, shops_with_stale_pending
from app.queue import get_redis
from app.shops.models import Shop
from connectors import normalizer_for
from jobs.context import app_context

log = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(seconds=30)
KEEP_PROCESSED = timedelta(days=7)


def drain_shop(shop_id: int) -> dict:
    """Apply a shop's pending deliveries in batches; hand over after a minute for fairness."""
    with app_context() as app:
        # Cleared before reading, so a delivery stored from now on enqueues a new drain.
        get_redis().delete(drain_flag(shop_id))
        with db.new_session() as session:
            with session.begin():
                platform = session.execute(
                    select(Shop.platform).where(Shop.id == shop_id)
                ).scalar()
            if platform is None:
                return {"shop_id": shop_id, "skipped": "unknown shop"}
            result, more = drain(session, shop_id, normalizer_for(platform),
                                 batch_size=app.config["INGEST_BATCH_SIZE"])
        if more:
            request_drain(shop_id, force=True)
        summary = {"shop_id": shop_id, "processed": result.processed, "failed": result.failed,
                   "batches": result.batches, "events": result.event_kinds}
        log.info("inbox.drained", extra=summary)
        return summary


def sweep_inbox(older_than_seconds: float | None = None) -> dict:
    """Re-enqueue shops whose deliveries wait too long (e.g. Redis lost the job)."""
    older_than = SWEEP_AFTER if older_than_seconds is None else timedelta(
        seconds=older_than_seconds)
    with app_context():
        with db.new_session() as session:
            with session.begin():
                shop_ids = shops_with_stale_pending(session, older_than)
            purged = purge_processed(session, KEEP_PROCESSED)
        for shop_id in shop_ids:
            request_drain(shop_id, force=True)
        if shop_ids:
            log.warning("inbox.sweep_requeued", extra={"shop_ids": shop_ids})
        return {"requeued": shop_ids, "purged": purged}
