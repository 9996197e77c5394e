"""Referrals: a member's link and code, the friend's welcome reward, the advocate's points.

(Contract; built by the referrals work.)
"""

from __future__ import annotations

from app.shops.models import Shop


def referral_url(shop: Shop, referral_code: str) -> str:
    """The link a member shares."""
    raise NotImplementedError
