"""Reconciliation: repair what webhooks missed by re-reading recently changed records.

Webhooks are not guaranteed. Every period, each active shop's orders and customers updated
since its watermark (`Shop.last_synced_at`, minus an overlap margin for clock skew and for
records written while the previous pass ran) are read from the platform and applied through
the profile store, exactly as a webhook would be. The watermark advances, to the time the
pass started, only after the whole pass succeeded; a failed pass is simply repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import LockError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.queue import get_redis
from app.shops.models import Shop
from app.shops.outbound import skip_outbound
from app.sync.apply import apply_batch
from app.sync.sources import reconcile_source_for
from connectors.sources import ReconcileSource

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
LOCK_SECONDS = 900
# How often every active store gets a pass: the worker's schedule (jobs/worker.py) reads it
# from here, and so does the Settings page that says when the next pass is due.
RECONCILE_PERIOD_SECONDS = 15 * 60


@dataclass
class ReconcileResult:
    shop_id: int
    since: datetime | None
    records: int = 0
    batches: int = 0
    skipped: str | None = None

    def as_dict(self) -> dict:
        return {"shop_id": self.shop_id, "since": self.since.isoformat() if self.since else None,
                "records": self.records, "batches": self.batches, "skipped": self.skipped}


def next_pass_due(shop: Shop) -> datetime | None:
    """When the next pass should start: one period after the last successful one began
    (None before the first). Passes run only while a worker runs, so it may be overdue."""
    if shop.last_synced_at is None:
        return None
    return shop.last_synced_at + timedelta(seconds=RECONCILE_PERIOD_SECONDS)


def window_start(shop: Shop, overlap: timedelta = OVERLAP) -> datetime | None:
    """Where this pass reads from: the watermark (or install time) minus the overlap."""
    start = shop.last_synced_at or shop.installed_at
    return start - overlap if start is not None else None


def reconcile_shop(session: Session, shop_id: int, *, source: ReconcileSource | None = None,
                   overlap: timedelta = OVERLAP) -> ReconcileResult:
    """One reconciliation pass for one shop. Safe to run twice; one at a time per shop."""
    shop = session.get(Shop, shop_id)
    if shop is None or shop.status != "active":
        return ReconcileResult(shop_id, None, skipped="not an active store")
    if skip_outbound(shop, "reconciliation"):
        return ReconcileResult(shop_id, None, skipped="the local demo store")
    lock = get_redis().lock(f"sticky:reconcile:{shop_id}", timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return ReconcileResult(shop_id, None, skipped="a pass is already running")
    try:
        pass_started = utcnow()
        since = window_start(shop, overlap)
        result = ReconcileResult(shop_id, since)
        source = source if source is not None else reconcile_source_for(session, shop)
        session.commit()  # end the read transaction; each batch below is its own
        for records in source.changed_since(since):
            apply_batch(session, shop_id, records)
            result.records += len(records)
            result.batches += 1
        shop = session.get(Shop, shop_id)
        if shop is not None and (shop.last_synced_at is None
                                 or shop.last_synced_at < pass_started):
            shop.last_synced_at = pass_started
        session.commit()
        log.info("sync.reconcile.done", extra=result.as_dict())
        return result
    finally:
        try:
            lock.release()
        except LockError:  # expired meanwhile; nothing to release
            log.info("sync.reconcile.lock_expired", extra={"shop_id": shop_id})
