"""The worker process: an RQ worker plus a small periodic scheduler.

Periodic jobs are enqueued by whichever worker first claims the period in Redis
(`SET key NX EX period`), so running many workers never multiplies them.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from redis.exceptions import RedisError
from rq import Worker
from rq.serializers import JSONSerializer

from app.queue import QUEUE_NAMES, get_queue, get_redis
from app.sync.reconcile import RECONCILE_PERIOD_SECONDS

log = logging.getLogger(__name__)

# (job, seconds between runs)
PERIODIC_JOBS: tuple[tuple[str, int], ...] = (
    ("jobs.ingest.sweep_inbox", 60),
    ("jobs.events.sweep_events", 60),
    ("jobs.carts.mark_abandoned", 300),
    ("jobs.compliance.sweep_lifecycle_deliveries", 300),
    ("jobs.woocommerce.ensure_webhooks_all", 30 * 60),
    ("jobs.sync.reconcile_all", RECONCILE_PERIOD_SECONDS),
    ("jobs.loyalty_redeem.sweep_held_redemptions", 5 * 60),
    ("jobs.loyalty_writeback.sweep_writebacks", 5 * 60),
    # Each store once per local day, at the first run after its midnight.
    ("jobs.loyalty_daily.run_daily", 15 * 60),
    ("jobs.loyalty.release_due", 300),
    # Due flow steps, and the date and lapsed flows' entrants (app/flows/runner.py).
    ("jobs.flows.sweep_due", 60),
    # Each store's RFM cut points and scores, once a day (recency ages with the clock).
    ("jobs.analytics_rfm.refresh_due", 60 * 60),
    # A store's prediction models, refitted when their fit is a week old (or absent).
    ("jobs.predictions.refit_due", 60 * 60),
)


def enqueue_due_periodic_jobs(app: Flask) -> list[str]:
    redis = get_redis(app)
    enqueued = []
    for func, period in PERIODIC_JOBS:
        if redis.set(f"sticky:periodic:{func}", 1, nx=True, ex=period):
            get_queue("default", app).enqueue(func, job_timeout=600, result_ttl=600)
            enqueued.append(func)
    return enqueued


def _periodic_loop(app: Flask, stop: threading.Event) -> None:
    while not stop.wait(5):
        try:
            enqueue_due_periodic_jobs(app)
        except RedisError:
            log.warning("worker.periodic_enqueue_failed", exc_info=True)


def run_worker(app: Flask, *, burst: bool = False) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    redis = get_redis(app)
    queues = [get_queue(name, app) for name in QUEUE_NAMES]
    stop = threading.Event()
    from jobs.events import register_subscribers, sweep_events

    with app.app_context():
        register_subscribers()
    if burst:
        # Pick up anything stored while no worker ran (or whose job Redis lost).
        from jobs.ingest import sweep_inbox

        with app.app_context():
            sweep_inbox(older_than_seconds=0)
            sweep_events()
    else:
        threading.Thread(target=_periodic_loop, args=(app, stop), daemon=True,
                         name="sticky-periodic").start()
    worker = Worker(queues, connection=redis, serializer=JSONSerializer)
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()
