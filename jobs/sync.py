"""Sync jobs: history backfill and periodic reconciliation. Jobs take ids, never objects.

- `run_backfill(shop_id)`: import (or resume importing) a shop's history. The install flow
  enqueues it by this name; `enqueue_backfill` does so with a long timeout and retries.
- `reconcile_all()`: periodic (jobs/worker.py); enqueues `reconcile_shop` for every active
  shop, and `resume_backfill` for runs whose worker died (no progress for STALLED_AFTER).
  The local demo store is never read from its platform (app/shops/outbound.py).
- `reconcile_shop(shop_id)`: one reconciliation pass (app/sync/reconcile.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Retry
from sqlalchemy import func, select

from app.db import db, utcnow
from app.queue import get_queue
from app.shops.models import Shop
from app.shops.outbound import skip_outbound
from app.sync import backfill as backfill_runner
from app.sync import reconcile as reconcile_runner
from app.sync.models import RUNNING, BackfillRun
from app.sync.reconcile import RECONCILE_PERIOD_SECONDS
from jobs.context import app_context

log = logging.getLogger(__name__)

BACKFILL_TIMEOUT_SECONDS = 12 * 3600
STALLED_AFTER = timedelta(minutes=20)


def enqueue_backfill(shop_id: int) -> str:
    """Mark the shop's backfill queued and enqueue `run_backfill`; returns the job id."""
    with app_context():
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is not None:
                backfill_runner.queue_backfill(session, shop)
        job = get_queue("default").enqueue(
            "jobs.sync.run_backfill", shop_id, job_timeout=BACKFILL_TIMEOUT_SECONDS,
            retry=Retry(max=3, interval=[60, 300, 900]), result_ttl=86400)
        return job.id


def run_backfill(shop_id: int) -> dict:
    """Import the shop's history, resuming where a previous run stopped."""
    return _backfill(shop_id, resume_only=False)


def resume_backfill(shop_id: int) -> dict:
    """Finish an unfinished run (its worker died); does nothing if none is unfinished."""
    return _backfill(shop_id, resume_only=True)


def _backfill(shop_id: int, *, resume_only: bool) -> dict:
    with app_context():
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is not None and skip_outbound(shop, "history backfill"):
                return {"shop_id": shop_id, "skipped": "the local demo store"}
            try:
                run = backfill_runner.run_backfill(session, shop_id, resume_only=resume_only)
            except backfill_runner.BackfillError as exc:
                # Unknown, uninstalled or already running: nothing to retry.
                log.info("sync.backfill.skipped", extra={"shop_id": shop_id, "reason": str(exc)})
                return {"shop_id": shop_id, "skipped": str(exc)}
            return {"shop_id": shop_id, "run_id": run.id, "status": run.status,
                    "processed": run.processed, "total": run.total}


def reconcile_shop(shop_id: int) -> dict:
    with app_context():
        with db.new_session() as session:
            return reconcile_runner.reconcile_shop(session, shop_id).as_dict()


def reconcile_all() -> dict:
    """Enqueue a reconciliation pass per active shop; resume stalled backfills."""
    with app_context():
        with db.new_session() as session:
            active = session.execute(
                select(Shop).where(Shop.status == "active").order_by(Shop.id)).scalars()
            # The demo store is skipped here, with one line per pass, rather than by a job
            # per shop that would only skip.
            shop_ids = [shop.id for shop in active if not skip_outbound(shop, "reconciliation")]
            newest = (select(func.max(BackfillRun.id)).group_by(BackfillRun.shop_id)
                      .scalar_subquery())
            stalled = list(session.execute(
                select(BackfillRun.shop_id).join(Shop, Shop.id == BackfillRun.shop_id)
                .where(BackfillRun.id.in_(newest), Shop.status == "active", Shop.demo.is_(False),
                       BackfillRun.status == RUNNING,
                       BackfillRun.updated_at < utcnow() - STALLED_AFTER)).scalars())
        queue = get_queue("default")
        for shop_id in shop_ids:
            queue.enqueue("jobs.sync.reconcile_shop", shop_id, job_timeout=RECONCILE_PERIOD_SECONDS,
                          result_ttl=3600)
        for shop_id in stalled:
            log.warning("sync.backfill.resuming_stalled", extra={"shop_id": shop_id})
            queue.enqueue("jobs.sync.resume_backfill", shop_id,
                          job_timeout=BACKFILL_TIMEOUT_SECONDS, result_ttl=86400)
        return {"reconcile": shop_ids, "resumed_backfills": stalled}
