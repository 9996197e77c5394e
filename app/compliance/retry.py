"""Failed deliveries get another go, each on its own path: `flask --app app inbox retry` and
the Settings page's Retry buttons both come here.

Here rather than in app/inbox because it routes Shopify's privacy and lifecycle requests back
to their own job (app/compliance), and the inbox knows nothing of compliance.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from app.compliance.dispatch import enqueue_lifecycle
from app.compliance.service import DISPATCHED, LIFECYCLE_TOPICS
from app.inbox.models import FAILED, PENDING, InboxEntry
from app.inbox.queueing import request_drain
from app.inbox.service import shops_with_stale_pending
from app.shops.models import Shop


def retry_failed(session: Session, shop_id: int | None = None, *,
                 entry_id: int | None = None) -> int:
    """Give failed deliveries (of one shop; or just one delivery) another go. Store data goes
    back to the drain; a Shopify privacy or lifecycle request goes back to its own job (the
    drain would only mark it processed, acting on nothing). Returns how many.

    Starts and commits its own transaction: call it with no transaction open."""
    with session.begin():
        failed = [InboxEntry.status == FAILED]
        if shop_id is not None:
            failed.append(InboxEntry.shop_id == shop_id)
        if entry_id is not None:
            failed.append(InboxEntry.id == entry_id)
        lifecycle = and_(InboxEntry.topic.in_(sorted(LIFECYCLE_TOPICS)), InboxEntry.shop_id.in_(
            select(Shop.id).where(Shop.platform == "shopify")))
        lifecycle_ids = list(session.execute(
            update(InboxEntry).where(*failed, lifecycle)
            .values(status=DISPATCHED, error=None).returning(InboxEntry.id)).scalars())
        store_data = session.execute(
            update(InboxEntry).where(*failed).values(status=PENDING, error=None)).rowcount
    for lifecycle_id in lifecycle_ids:
        enqueue_lifecycle(lifecycle_id, force=True)
    return store_data + len(lifecycle_ids)


def requeue_failed(session: Session, shop_id: int | None = None, *,
                   entry_id: int | None = None) -> int:
    """`retry_failed`, then ask a worker to drain every store that now has pending
    deliveries (forced: a drain flag left by a lost job must not hold the retry back).
    If Redis is down the deliveries still wait, pending, for the periodic sweep."""
    n = retry_failed(session, shop_id, entry_id=entry_id)
    for pending_shop_id in shops_with_stale_pending(session, timedelta(0)):
        if shop_id is None or pending_shop_id == shop_id:
            request_drain(pending_shop_id, force=True)
    session.commit()  # end the read: the caller may open its own transaction next
    return n
