"""Jobs for app/uninstalled and Shopify's privacy requests (see app/compliance/service.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update

from app.compliance.dispatch import enqueue_lifecycle
from app.compliance.service import handle_delivery, stale_dispatched
from app.db import db, utcnow
from app.inbox.models import InboxEntry
from jobs.context import app_context

log = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=10)


def handle_lifecycle_delivery(inbox_id: int) -> dict:
    """Act on one stored lifecycle delivery; raises (and RQ retries) on unexpected errors."""
    with app_context() as app:
        try:
            with db.new_session() as session:
                return handle_delivery(session, inbox_id,
                                       batch_size=app.config["INGEST_BATCH_SIZE"])
        except Exception as exc:
            # Only the exception's type is kept: its text may quote personal data.
            with db.new_session() as session, session.begin():
                session.execute(update(InboxEntry).where(InboxEntry.id == inbox_id).values(
                    attempts=InboxEntry.attempts + 1,
                    error=f"{type(exc).__name__} while handling; will retry"))
            log.error("shopify.lifecycle.failed", extra={"inbox_id": inbox_id,
                                                         "error": type(exc).__name__})
            raise


def sweep_lifecycle_deliveries() -> dict:
    """Re-enqueue lifecycle deliveries still waiting after SWEEP_AFTER (a lost job, Redis
    down at receipt, retries exhausted): privacy requests must be acted on eventually."""
    with app_context():
        with db.new_session() as session, session.begin():
            ids = stale_dispatched(session, utcnow() - SWEEP_AFTER)
        requeued = [i for i in ids if enqueue_lifecycle(i)]
        if requeued:
            log.warning("shopify.lifecycle.sweep_requeued", extra={"inbox_ids": requeued})
        return {"requeued": requeued}
