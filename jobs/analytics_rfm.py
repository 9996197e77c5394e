"""RFM's daily refresh (app/analytics/rfm.py): periodic (jobs/worker.py), hourly, and cheap
when every store is recent (one query). A store is refreshed when its cut points are more
than a day old, or when it has customers to score and was never scored. Orders keep their
customers' scores current in between (the "analytics.rfm" subscriber); this moves the cut
points and everyone's recency with the clock."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from app.analytics.rfm import refresh_shop, shops_due
from app.db import db, utcnow
from jobs.context import app_context

log = logging.getLogger(__name__)


class RfmRefreshFailed(RuntimeError):
    """Some stores' refreshes failed (each is logged); the others ran. The next run retries."""


def refresh_due(now: str | None = None) -> dict:
    """Refresh every due store; `now` (ISO 8601, for tests) defaults to the clock."""
    at = datetime.fromisoformat(now) if now else utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    refreshed: list[int] = []
    failed: list[int] = []
    with app_context():
        with db.new_session() as session:
            shop_ids = shops_due(session, at)
        for shop_id in shop_ids:
            with db.new_session() as session:
                try:
                    result = refresh_shop(session, shop_id, now=at)
                    session.commit()
                except Exception:  # noqa: BLE001 - one store's failure stops no other
                    session.rollback()
                    log.exception("rfm.refresh_failed", extra={"shop_id": shop_id})
                    failed.append(shop_id)
                    continue
            log.info("rfm.refreshed", extra=result)
            refreshed.append(shop_id)
    if failed:
        raise RfmRefreshFailed(f"the RFM refresh failed for stores {failed}; refreshed "
                               f"{refreshed}")
    return {"stores_refreshed": refreshed}
