"""Releasing pending points when their return window is over.

Any entry of kind "pending" (an order's award, a referral's) whose `available_at` has come is
released by one "release" entry (key `release:<pending entry id>`) of what is still pending
of it: the pending points less their pending reversals. A refund inside the window took its
points back as pending, so nothing it took is ever released; an award taken back in full is
never released at all. Run by `jobs.loyalty.release_due` every few minutes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from app.db import utcnow
from app.loyalty import ledger, writeback
from app.loyalty.models import PENDING, PENDING_STATUS, RELEASE, REVERSE, LedgerEntry

_L = LedgerEntry.__table__


def release_key(pending_id: int) -> str:
    return f"release:{pending_id}"


def due(session: Session, now: datetime, *, shop_id: int | None = None,
        limit: int = 500) -> list[tuple[int, int]]:
    """(shop id, entry id) of pending entries due by `now` that have something left to
    release and no release yet, oldest due first."""
    child = aliased(LedgerEntry)
    released = select(child.id).where(child.shop_id == LedgerEntry.shop_id,
                                      child.parent_id == LedgerEntry.id,
                                      child.kind == RELEASE).exists()
    taken_back = select(func.coalesce(func.sum(child.points), 0)).where(
        child.shop_id == LedgerEntry.shop_id, child.parent_id == LedgerEntry.id,
        child.kind == REVERSE, child.status == PENDING_STATUS).scalar_subquery()
    query = (select(LedgerEntry.shop_id, LedgerEntry.id)
             .where(LedgerEntry.kind == PENDING, LedgerEntry.available_at <= now,
                    ~released, LedgerEntry.points + taken_back > 0)
             .order_by(LedgerEntry.available_at, LedgerEntry.id).limit(limit))
    if shop_id is not None:
        query = query.where(LedgerEntry.shop_id == shop_id)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def release(session: Session, shop_id: int, entry_id: int,
            now: datetime | None = None) -> int:
    """Release what is left of one pending entry, if due; returns the points released.
    Takes the member's lock first, so a refund being handled meanwhile is seen. Does not
    commit."""
    now = now or utcnow()
    entry = session.execute(select(_L).where(_L.c.id == entry_id, _L.c.shop_id == shop_id,
                                             _L.c.kind == PENDING)).first()
    if entry is None or entry.available_at is None or entry.available_at > now:
        return 0
    ledger.lock_member(session, shop_id, entry.customer_id)
    # Read after the lock: reversals committed while we waited count.
    children = dict(session.execute(
        select(_L.c.kind, func.sum(_L.c.points))
        .where(_L.c.shop_id == shop_id, _L.c.parent_id == entry_id,
               and_(_L.c.kind.in_((REVERSE, RELEASE)),
                    (_L.c.status == PENDING_STATUS) | (_L.c.kind == RELEASE)))
        .group_by(_L.c.kind)).all())
    if children.get(RELEASE):
        return 0
    left = entry.points + (children.get(REVERSE) or 0)
    if left <= 0:
        return 0
    what = entry.reason.split(":", 1)[0] if entry.reason else "Pending points"
    new_id = ledger.append(session, shop_id, ledger.NewEntry(
        customer_id=entry.customer_id, kind=RELEASE, points=left,
        reason=f"{what}: return window over, {left} points can now be spent",
        source="release", key=release_key(entry_id), order_id=entry.order_id,
        platform_order_id=entry.platform_order_id, rate=entry.rate,
        program_version=entry.program_version, parent_id=entry_id, created_at=now))
    if new_id is None:
        return 0
    writeback.mark_due(session, shop_id, [entry.customer_id])
    return left


def release_due(session: Session, *, now: datetime | None = None,
                shop_id: int | None = None) -> int:
    """Release every due pending entry (of one shop, or all), one transaction each so no
    member stays locked longer than its own release. Returns the points released."""
    now = now or utcnow()
    total = 0
    while True:
        with session.begin():
            batch = due(session, now, shop_id=shop_id)
        for entry_shop, entry_id in batch:
            with session.begin():
                total += release(session, entry_shop, entry_id, now)
        if len(batch) < 500:
            return total
