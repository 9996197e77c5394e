"""What the loyalty program holds about shoppers, for a `customers/data_request` export.
(`customers/redact` needs nothing here: these rows go with the profile, ON DELETE CASCADE;
referrals, which may name a friend without a profile, are in `referral_privacy`.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.models import LedgerEntry, LoyaltyMember


def loyalty_rows(session: Session, shop_id: int,
                 customer_ids: list[int]) -> tuple[list[LoyaltyMember], list[LedgerEntry]]:
    """The profiles' memberships (birthday, referral code) and every points entry."""
    if not customer_ids:
        return [], []
    members = list(session.execute(
        select(LoyaltyMember).where(LoyaltyMember.shop_id == shop_id,
                                    LoyaltyMember.customer_id.in_(customer_ids))
        .order_by(LoyaltyMember.customer_id)).scalars())
    points = list(session.execute(
        select(LedgerEntry).where(LedgerEntry.shop_id == shop_id,
                                  LedgerEntry.customer_id.in_(customer_ids))
        .order_by(LedgerEntry.id)).scalars())
    return members, points
