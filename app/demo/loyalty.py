"""The demo store's loyalty program: switched on, with tiers and rewards, the first time the
demo runs (a program the merchant has already saved is left as it is).

The seeded history is from before the install, so it earns nothing (as for a real store);
points come with the simulator's orders, from the first minute of `./dev demo`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty.models import LoyaltyProgram
from app.loyalty.program import save_program
from app.loyalty.rewards import create_reward

DEMO_PROGRAM = {
    "enabled": True, "points_per_unit": "1", "award_on": "paid", "pending_days": 0,
    "signup_points": 50, "first_order_points": 100, "birthday_points": 200,
    "negative_balance": "floor_zero", "expiry_days": 365, "expiry_warning_days": 30,
    "tier_basis": "spend", "tier_period": "rolling_12_months",
    "tiers": [{"name": "Bronze", "threshold": "0", "multiplier": "1"},
              {"name": "Silver", "threshold": "300", "multiplier": "1.25",
               "perks": "Free shipping on every order"},
              {"name": "Gold", "threshold": "1000", "multiplier": "1.5",
               "perks": "Early access to new collections"}],
    "referrals_enabled": True, "referral_advocate_points": 250,
    "referral_friend_kind": "fixed_amount", "referral_friend_value": "10",
}
DEMO_REWARDS = (
    {"name": "$5 off", "kind": "fixed_amount", "value": "5", "points_cost": 500,
     "expires_after_days": 90},
    {"name": "10% off", "kind": "percentage", "value": "10", "points_cost": 900,
     "minimum_order": "40", "expires_after_days": 90},
    {"name": "Free shipping", "kind": "free_shipping", "value": "0", "points_cost": 300},
)


def ensure_demo_program(session: Session, shop_id: int) -> bool:
    """Set the program up unless the store has one; returns whether it did. No commit."""
    if session.execute(select(LoyaltyProgram.shop_id).where(
            LoyaltyProgram.shop_id == shop_id)).first() is not None:
        return False
    save_program(session, shop_id, DEMO_PROGRAM, saved_by="demo")
    for reward in DEMO_REWARDS:
        create_reward(session, shop_id, reward)
    return True
