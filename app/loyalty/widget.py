"""What the storefront rewards widget shows a shopper.

`widget_view` is the one source of the widget's figures: the app proxy's page and JSON
(`GET /proxy/rewards`), the WooCommerce embed (`GET /embed/rewards`) and, with a sample member,
the panel's preview (`app.loyalty.widget_sample`). Everything in it is scoped to the shop and
to the one profile the caller authenticated; it never reads another profile.

The fixed names (DESIGN.md) are `points_balance`, `tier`, `next_tier` (tier names or null),
`rewards`, `referral_url` and `history`; the rest is what the page needs.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger, referrals, tiers
from app.loyalty.models import ISSUED, LoyaltyMember, LoyaltyReward, Redemption
from app.loyalty.program import Program, read_program
from app.loyalty.widget_words import (
    day_text,
    history_line,
    progress_view,
    reward_card,
    reward_text,
    ways_to_earn,
)
from app.money import money_text
from app.profiles.models import Customer
from app.shops.models import Shop

log = logging.getLogger(__name__)

HISTORY_SHOWN = 50
CODES_SHOWN = 10


def active_rewards(session: Session, shop_id: int) -> list[LoyaltyReward]:
    return list(session.scalars(
        select(LoyaltyReward).where(LoyaltyReward.shop_id == shop_id,
                                    LoyaltyReward.active.is_(True),
                                    LoyaltyReward.deleted_at.is_(None))
        .order_by(LoyaltyReward.points_cost, LoyaltyReward.id)))


def program_facts(program: Program, shop: Shop) -> dict[str, Any]:
    """The parts of the view that are the same for every shopper of the store."""
    return {
        "enabled": program.enabled,
        "currency": shop.currency,
        "store_name": shop.name or shop.domain,
        "ways_to_earn": ways_to_earn(program, shop.currency),
        "signup_points": program.signup_points,
        "tiers": [{"name": t.name, "threshold": str(t.threshold),
                   "threshold_text": (f"{int(t.threshold):,} points earned"
                                      if program.tier_basis == "points"
                                      else f"{money_text(t.threshold, shop.currency)} spent"),
                   "multiplier": str(t.multiplier), "perks": t.perks}
                  for t in program.tiers],
        "tier_basis": program.tier_basis,
        "referrals_enabled": program.referrals_enabled,
        "birthday_points": program.birthday_points,
    }


def guest_view(program: Program, shop: Shop, rewards: list[LoyaltyReward]) -> dict[str, Any]:
    """A shopper who is not signed in: how to join and how to earn, no figures."""
    return {
        "guest": True, "points_balance": None, "pending_points": None,
        "spendable_points": None, "tier": None, "next_tier": None, "progress": None,
        "rewards": [reward_card(r, None, shop.currency) for r in rewards],
        "referral_url": None, "history": [], "codes": [], "birthday": None,
        "first_name": None, **program_facts(program, shop),
    }


def widget_view(session: Session, shop: Shop, customer_id: int | None) -> dict[str, Any]:
    """{"points_balance", "tier", "next_tier", "rewards", "referral_url", "history", ...} for
    a signed-in shopper; for a guest (None), the program without a member's figures. The
    caller has authenticated `customer_id` as a profile of `shop`; a profile of another shop
    is treated as a guest. May create the member's row (to give it a referral code): the
    caller commits."""
    program = read_program(session, shop.id)
    rewards = active_rewards(session, shop.id)
    customer = None if customer_id is None else session.execute(
        select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop.id,
                               Customer.deleted_at.is_(None))).scalar_one_or_none()
    if customer is None:
        return guest_view(program, shop, rewards)

    member = session.get(LoyaltyMember, customer.id)
    if member is None and program.enabled and program.referrals_enabled:
        ledger.ensure_member(session, shop.id, customer.id)  # a referral link needs a code
        member = session.get(LoyaltyMember, customer.id)
    balance = ledger.balance(session, shop.id, customer.id)
    spendable = balance - ledger.held_points(session, shop.id, customer.id)
    progress = _tier_progress(session, shop, customer.id, program)
    tier_name = (progress or {}).get("tier", member.tier if member else None)
    next_tier = (progress or {}).get("next_tier", _next_tier_after(program, tier_name))
    return {
        "guest": False,
        "first_name": customer.first_name,
        "points_balance": balance,
        "pending_points": member.pending_points if member else 0,
        "spendable_points": spendable,
        "tier": tier_name,
        "tier_perks": (program.tier_named(tier_name).perks
                       if program.tier_named(tier_name) else ""),
        "next_tier": next_tier,
        "progress": progress_view(progress, program, shop.currency),
        "rewards": [reward_card(r, spendable, shop.currency) for r in rewards],
        "referral_url": _referral_url(shop, member, program),
        "referral_code": member.referral_code if member and program.referrals_enabled else None,
        "birthday": member.birthday.isoformat() if member and member.birthday else None,
        "birthday_text": day_text(member.birthday) if member else None,
        "history": [history_line(e) for e in ledger.entries(session, shop.id, customer.id,
                                                            limit=HISTORY_SHOWN)],
        "codes": _codes(session, shop, customer.id),
        **program_facts(program, shop),
    }


def _next_tier_after(program: Program, tier_name: str | None) -> str | None:
    names = [t.name for t in program.tiers]
    if tier_name is None:
        return names[0] if names else None
    if tier_name in names and names.index(tier_name) + 1 < len(names):
        return names[names.index(tier_name) + 1]
    return None


def _tier_progress(session: Session, shop: Shop, customer_id: int,
                   program: Program) -> dict[str, Any] | None:
    if not program.tiers:
        return None
    return tiers.progress(session, shop.id, customer_id, program)


def _referral_url(shop: Shop, member: LoyaltyMember | None, program: Program) -> str | None:
    if member is None or not (program.enabled and program.referrals_enabled):
        return None
    return referrals.referral_url(shop, member.referral_code)


def _codes(session: Session, shop: Shop, customer_id: int) -> list[dict[str, Any]]:
    """The member's discount codes, newest first, so a code stays findable after redeeming."""
    rows = session.scalars(
        select(Redemption).where(Redemption.shop_id == shop.id,
                                 Redemption.customer_id == customer_id,
                                 Redemption.status == ISSUED)
        .order_by(Redemption.id.desc()).limit(CODES_SHOWN))
    codes = []
    for row in rows:
        reward = row.reward or {}
        codes.append({
            "id": row.id, "code": row.code, "points": row.points,
            "name": reward.get("name") or "Reward",
            "description": reward_text(reward.get("kind", "fixed_amount"),
                                       reward.get("value"), shop.currency).capitalize(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        })
    return codes
