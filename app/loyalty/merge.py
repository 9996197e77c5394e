"""A guest who registers keeps their points: the guest profile's loyalty rows move onto the
registered profile it is merged into (called by the profile store through the subscriber's
`merge` hook, in its transaction, before the guest's row is deleted)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.loyalty.ledger import ensure_member
from app.loyalty.models import (
    LedgerEntry,
    LoyaltyMember,
    Redemption,
    Referral,
    TierChange,
    Writeback,
)
from app.loyalty.writeback import mark_due
from app.profiles.models import Customer

_M = LoyaltyMember.__table__
_C = Customer.__table__


def merge_member(session: Session, shop_id: int, guest_id: int, into_id: int) -> None:
    guest = session.execute(select(_M).where(_M.c.customer_id == guest_id,
                                             _M.c.shop_id == shop_id)).first()
    if guest is None:
        return  # never a member: nothing to move
    ensure_member(session, shop_id, into_id, at=guest.enrolled_at)
    for model, column in ((LedgerEntry, LedgerEntry.customer_id),
                          (Redemption, Redemption.customer_id),
                          (Referral, Referral.advocate_id),
                          (Referral, Referral.friend_customer_id),
                          (TierChange, TierChange.customer_id)):
        session.execute(update(model).where(model.shop_id == shop_id, column == guest_id)
                        .values({column.key: into_id}))
    moved_balance = session.execute(select(_C.c.points_balance).where(
        _C.c.id == guest_id)).scalar() or 0
    session.execute(update(_C).where(_C.c.id == into_id)
                    .values(points_balance=_C.c.points_balance + moved_balance))
    into = session.execute(select(_M).where(_M.c.customer_id == into_id)).one()
    activity = [t for t in (into.last_activity_at, guest.last_activity_at) if t is not None]
    session.execute(update(_M).where(_M.c.customer_id == into_id).values(
        pending_points=_M.c.pending_points + guest.pending_points,
        lifetime_points=_M.c.lifetime_points + guest.lifetime_points,
        birthday=func.coalesce(_M.c.birthday, guest.birthday),
        birthday_set_at=(into.birthday_set_at if into.birthday is not None
                         else guest.birthday_set_at),
        last_activity_at=max(activity) if activity else None,
        enrolled_at=min(into.enrolled_at, guest.enrolled_at)))
    # The guest's write-back row goes with it; the registered profile's balance changed, so
    # the platform must be told (its own row, if any, stays and is due again).
    session.execute(Writeback.__table__.delete().where(Writeback.customer_id == guest_id))
    mark_due(session, shop_id, [into_id])
