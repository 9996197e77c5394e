"""`flask --app app inbox retry`: failed deliveries get another go, each on its own path.

Here rather than in app/inbox because it routes Shopify's privacy and lifecycle requests back
to their own job (app/compliance), and the inbox knows nothing of compliance.
"""

from __future__ import annotations

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from app.compliance.dispatch import enqueue_lifecycle
from app.compliance.service import DISPATCHED, LIFECYCLE_TOPICS
from app.inbox.models import FAILED, PENDING, InboxEntry
from app.shops.models import Shop


def retry_failed(session: Session, shop_id: int | None = None) -> int:
    """Give failed deliveries another go. Store data goes back to the drain; a Shopify
    privacy or lifecycle request goes back to its own job (the drain would only mark it
    processed, acting on nothing)."""
    with session.begin():
        failed = [InboxEntry.status == FAILED]
        if shop_id is not None:
            failed.append(InboxEntry.shop_id == shop_id)
        lifecycle = and_(InboxEntry.topic.in_(sorted(LIFECYCLE_TOPICS)), InboxEntry.shop_id.in_(
            select(Shop.id).where(Shop.platform == "shopify")))
        lifecycle_ids = list(session.execute(
            update(InboxEntry).where(*failed, lifecycle)
            .values(status=DISPATCHED, error=None).returning(InboxEntry.id)).scalars())
        store_data = session.execute(
            update(InboxEntry).where(*failed).values(status=PENDING, error=None)).rowcount
    for entry_id in lifecycle_ids:
        enqueue_lifecycle(entry_id, force=True)
    return store_data + len(lifecycle_ids)
