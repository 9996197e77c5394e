"""The points ledger: appending entries, the balances they add up to, and rebuilding those.

The arithmetic, which `recompute` and the property tests check:

- **available balance** (`customers.points_balance`) = the sum of `points` of the entries
  whose `status` is "available" (earn, release, redeem, reverse of available points,
  expire, adjust);
- **pending points** (`loyalty_members.pending_points`) = the sum of `points` of the entries
  whose `status` is "pending" (a pending award, and the reversal of pending points) minus the
  points of the "release" entries (a release moves points from pending to available);
- **points earned** (`loyalty_members.lifetime_points`, what tiers by points count) = the sum
  of earn, pending, reverse and adjust entries: awards net of what was taken back;
- what a member can spend = the available balance minus the points held by redemptions the
  platform has not yet confirmed (`app.loyalty.redeem`).

Every change to a member's points goes through `append`, which inserts the entry under its
natural key (nothing happens if the key exists: the effect was already made) and moves the
caches in the same transaction. Callers that must read a balance before deciding (a
reversal under the "floor at zero" policy, a redemption) first take `lock_member`, so two
transactions can never both spend the same points.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.loyalty.models import (
    ADJUST,
    AVAILABLE,
    EARN,
    HELD,
    PENDING,
    PENDING_STATUS,
    REDEEM,
    RELEASE,
    REVERSE,
    LedgerEntry,
    LoyaltyMember,
    Redemption,
)
from app.profiles.models import Customer

_L = LedgerEntry.__table__
_M = LoyaltyMember.__table__
_C = Customer.__table__

EARNED_KINDS = (EARN, PENDING, REVERSE, ADJUST)
ACTIVITY_KINDS = (EARN, PENDING, REDEEM)  # earning or spending: expiry counts from the last
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed by hand


@dataclass(slots=True)
class NewEntry:
    customer_id: int
    kind: str
    points: int
    reason: str
    source: str
    key: str
    status: str = AVAILABLE
    order_id: int | None = None
    platform_order_id: str | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None
    program_version: int | None = None
    parent_id: int | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    available_at: datetime | None = None


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


def ensure_member(session: Session, shop_id: int, customer_id: int,
                  *, at: datetime | None = None) -> None:
    """Make the profile a member if it is not one yet (a unique referral code is drawn;
    a collision, one in 10^12, is drawn again)."""
    exists = select(_M.c.customer_id).where(_M.c.customer_id == customer_id)
    if session.execute(exists).first() is not None:
        return
    for _ in range(5):
        inserted = session.execute(insert_for(session, _M).values(
            customer_id=customer_id, shop_id=shop_id, pending_points=0, lifetime_points=0,
            referral_code=new_referral_code(), enrolled_at=at or utcnow(),
        ).on_conflict_do_nothing().returning(_M.c.customer_id)).first()
        if inserted is not None or session.execute(exists).first() is not None:
            return
    raise RuntimeError("could not draw a unique referral code")


def lock_member(session: Session, shop_id: int, customer_id: int) -> int:
    """Make sure the member exists and lock it until the transaction ends; returns the
    available balance. Everything that decides on a balance takes this lock first."""
    # One statement for a member that exists (every award but a shopper's first): the lock
    # and the balance together.
    query = (select(_C.c.points_balance)
             .select_from(_M.join(_C, _C.c.id == _M.c.customer_id))
             .where(_M.c.customer_id == customer_id, _M.c.shop_id == shop_id))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=_M)
    row = session.execute(query).first()
    if row is None:
        ensure_member(session, shop_id, customer_id)
        row = session.execute(query).first()
        if row is None:
            raise LookupError(f"customer {customer_id} is not in shop {shop_id}")
    return row[0] or 0


def balance(session: Session, shop_id: int, customer_id: int) -> int:
    return session.execute(select(_C.c.points_balance).where(
        _C.c.id == customer_id, _C.c.shop_id == shop_id)).scalar() or 0


def held_points(session: Session, shop_id: int, customer_id: int) -> int:
    return session.execute(select(func.coalesce(func.sum(Redemption.points), 0)).where(
        Redemption.shop_id == shop_id, Redemption.customer_id == customer_id,
        Redemption.status == HELD)).scalar() or 0


def spendable(session: Session, shop_id: int, customer_id: int) -> int:
    return balance(session, shop_id, customer_id) - held_points(session, shop_id, customer_id)


def append(session: Session, shop_id: int, entry: NewEntry) -> int | None:
    """Insert `entry` unless its key exists; returns the new entry's id, or None when the
    effect was already made. Moves the balances in the same transaction."""
    now = utcnow()
    values = asdict(entry)
    values["created_at"] = values["created_at"] or now
    inserted = session.execute(
        insert_for(session, _L).values(shop_id=shop_id, **values)
        .on_conflict_do_nothing(index_elements=["shop_id", "key"]).returning(_L.c.id)).first()
    if inserted is None:
        return None
    _move_caches(session, shop_id, entry, values["created_at"])
    return inserted[0]


def _move_caches(session: Session, shop_id: int, entry: NewEntry, at: datetime) -> None:
    if entry.status == AVAILABLE and entry.points:
        session.execute(update(_C).where(_C.c.id == entry.customer_id)
                        .values(points_balance=_C.c.points_balance + entry.points))
    member: dict[str, Any] = {}
    pending_delta = entry.points if entry.status == PENDING_STATUS else 0
    if entry.kind == RELEASE:
        pending_delta -= entry.points
    if pending_delta:
        member["pending_points"] = _M.c.pending_points + pending_delta
    if entry.kind in EARNED_KINDS and entry.points:
        member["lifetime_points"] = _M.c.lifetime_points + entry.points
    if entry.kind in ACTIVITY_KINDS:
        member["last_activity_at"] = case(
            (_M.c.last_activity_at.is_(None), at),
            (_M.c.last_activity_at < at, at), else_=_M.c.last_activity_at)
        member["expiry_warned_at"] = None
    if not member:
        ensure_member(session, shop_id, entry.customer_id, at=at)
        return
    # The update finds an existing member (nearly always); only when it finds none is the
    # member made first, then updated. Either way the member ends as if made beforehand.
    change = update(_M).where(_M.c.customer_id == entry.customer_id).values(**member)
    if session.execute(change.returning(_M.c.customer_id)).first() is None:
        ensure_member(session, shop_id, entry.customer_id, at=at)
        session.execute(change)


def _iso(value: datetime | None) -> str | None:
    """UTC as the rest of the API writes it: `2026-12-07T05:20:00Z`."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def entry_as_dict(row: Any) -> dict[str, Any]:
    """A ledger entry as the API shows it (in `points_ledger`)."""
    return {
        "id": row.id, "kind": row.kind, "points": row.points, "status": row.status,
        "reason": row.reason, "source": row.source, "order_id": row.order_id,
        "platform_order_id": row.platform_order_id,
        "rate": None if row.rate is None else str(row.rate.normalize()),
        "created_at": _iso(row.created_at),
        "available_at": _iso(row.available_at),
    }


def entries(session: Session, shop_id: int, customer_id: int, *, limit: int = 100,
            before_id: int | None = None) -> list[dict[str, Any]]:
    """A member's newest entries first."""
    query = select(_L).where(_L.c.shop_id == shop_id, _L.c.customer_id == customer_id)
    if before_id is not None:
        query = query.where(_L.c.id < before_id)
    rows = session.execute(query.order_by(_L.c.id.desc()).limit(limit)).all()
    return [entry_as_dict(row) for row in rows]


def adjust(session: Session, shop_id: int, customer_id: int, points: int, reason: str, *,
           created_by: str | None, key: str | None = None) -> dict[str, Any]:
    """A merchant's manual adjustment (positive or negative), with their reason. `key` (an
    Idempotency-Key the client sent) makes a retried request one adjustment. Does not commit."""
    lock_member(session, shop_id, customer_id)
    entry_key = f"adjust:{key}" if key else f"adjust:{secrets.token_hex(12)}"
    new_id = append(session, shop_id, NewEntry(
        customer_id=customer_id, kind=ADJUST, points=points, reason=reason, source="merchant",
        key=entry_key, created_by=created_by))
    row = session.execute(select(_L).where(_L.c.shop_id == shop_id, _L.c.key == entry_key)
                          ).one()
    if new_id is None and row.customer_id != customer_id:
        raise ValueError("this Idempotency-Key was already used for another customer")
    return entry_as_dict(row)


def recompute(session: Session, shop_id: int) -> int:
    """Rebuild every member's caches of a shop from its ledger (set-based); returns how many
    members were rewritten. The ledger is the truth; this is how it is proven and repaired."""
    sums = (
        select(
            _L.c.customer_id.label("customer_id"),
            func.coalesce(func.sum(case((_L.c.status == AVAILABLE, _L.c.points), else_=0)),
                          0).label("available"),
            func.coalesce(func.sum(case(
                (_L.c.status == PENDING_STATUS, _L.c.points),
                (_L.c.kind == RELEASE, -_L.c.points), else_=0)), 0).label("pending"),
            func.coalesce(func.sum(case((_L.c.kind.in_(EARNED_KINDS), _L.c.points),
                                        else_=0)), 0).label("earned"),
        ).where(_L.c.shop_id == shop_id).group_by(_L.c.customer_id).subquery()
    )
    members = session.execute(
        update(_M).where(_M.c.shop_id == shop_id, _M.c.customer_id == sums.c.customer_id)
        .values(pending_points=sums.c.pending, lifetime_points=sums.c.earned)).rowcount
    session.execute(
        update(_C).where(_C.c.shop_id == shop_id, _C.c.id == sums.c.customer_id)
        .values(points_balance=sums.c.available))
    # Members whose entries are all gone (none, today) would keep old figures: zero them.
    no_entries = ~select(_L.c.id).where(_L.c.customer_id == _C.c.id).exists()
    session.execute(update(_C).where(_C.c.shop_id == shop_id, _C.c.points_balance != 0,
                                     no_entries).values(points_balance=0))
    return members
