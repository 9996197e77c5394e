"""A shopper's referrals for Shopify's privacy requests: the ones that name them as the
friend (by profile or by email, canonical form included) or as the advocate."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from app.loyalty.fraud import canonical_email
from app.loyalty.models import Referral


def _naming(shop_id: int, customer_ids: list[int], emails: Iterable[str]):
    canonical = sorted({c for e in emails if (c := canonical_email(e))})
    match = [Referral.friend_email_normalized.in_(canonical)] if canonical else []
    if customer_ids:
        match += [Referral.advocate_id.in_(customer_ids),
                  Referral.friend_customer_id.in_(customer_ids)]
    return [Referral.shop_id == shop_id, or_(*match)] if match else None


def referrals_naming(session: Session, shop_id: int, customer_ids: list[int],
                     emails: Iterable[str]) -> list[Referral]:
    where = _naming(shop_id, customer_ids, emails)
    if where is None:
        return []
    return list(session.execute(select(Referral).where(*where).order_by(Referral.id)).scalars())


def erase_referrals(session: Session, shop_id: int, customer_ids: list[int],
                    emails: Iterable[str]) -> int:
    """Delete them; returns how many. The advocate's points stay in their ledger, whose
    entries name no friend."""
    where = _naming(shop_id, customer_ids, emails)
    if where is None:
        return 0
    return session.execute(delete(Referral).where(*where)).rowcount
