"""Telling the platform a member's balance and tier, so themes can show them.

`mark_due` is called in the transaction that changed a balance or tier; it only marks the
member (one row per member, so a burst of orders is one write). The write itself is a job
(`jobs.loyalty`), after commit, retried on failure: it never blocks or rolls back the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.loyalty.models import Writeback

_W = Writeback.__table__


def mark_due(session: Session, shop_id: int, customer_ids: Iterable[int]) -> None:
    """Mark members whose balance or tier the platform must be told (idempotent)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    now = utcnow()
    insert = insert_for(session, _W)
    session.execute(
        insert.values([{"customer_id": i, "shop_id": shop_id, "due_at": now, "attempts": 0}
                       for i in ids])
        .on_conflict_do_update(index_elements=["customer_id"],
                               set_={"due_at": func.coalesce(_W.c.due_at, now)}))
