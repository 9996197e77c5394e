"""Apply a batch of neutral records through the profile store in one transaction.

The one write path shared by backfill and reconciliation (and the same ProfileStore the
webhook drain uses), so every source ends in the same normalize → upsert → figures code and
its stale-update guards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.profiles.store import ProfileStore
from connectors.records import Record

log = logging.getLogger(__name__)

# PostgreSQL: deadlock detected, serialization failure. A sync batch racing the webhook
# drain on the same customers can hit either; the whole batch is simply tried again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3


def _retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def apply_batch(session: Session, shop_id: int, records: list[Record],
                then: Callable[[], None] | None = None, *, defer_figures: bool = False,
                history_before: datetime | None = None,
                while_writing: Callable[[], None] | None = None) -> int:
    """Apply `records`, run `then()` (bookkeeping to commit with them), commit.

    `defer_figures`, `history_before`, `while_writing`: see ProfileStore. With
    `defer_figures` the caller refreshes customer figures when done.

    Returns the number of domain events published. On a deadlock the transaction is rolled
    back and the batch retried; any other error rolls back and propagates.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            published = 0
            if records:
                store = ProfileStore(session, shop_id, defer_figures=defer_figures,
                                     history_before=history_before,
                                     while_writing=while_writing)
                store.prefetch(records)
                for record in records:
                    store.apply(record)
                published = len(store.finish())
            if then is not None:
                then()
            session.commit()
            return published
        except DBAPIError as exc:
            session.rollback()
            if attempt == ATTEMPTS or not _retryable(exc):
                raise
            log.warning("sync.batch_retry", extra={"shop_id": shop_id, "attempt": attempt})
            time.sleep(0.2 * attempt)
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")
