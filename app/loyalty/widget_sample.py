"""The widget as a sample member would see it under a program: the panel's live preview.

Nothing here reads or writes a profile: the member, their order and their history are made
up from the program (its rate, bonuses and tiers), so the merchant sees their own rules at
work as they edit them.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.db import utcnow
from app.loyalty import referrals
from app.loyalty.models import LoyaltyReward
from app.loyalty.program import Program, points_for
from app.loyalty.widget import program_facts
from app.loyalty.widget_words import history_line, progress_view, reward_card
from app.shops.models import Shop

SAMPLE_ORDER = Decimal("80.00")
SAMPLE_NAME = "Alex"
SAMPLE_CODE = "SAMPLE42"


def sample_view(program: Program, shop: Shop, rewards: list[LoyaltyReward]) -> dict[str, Any]:
    """`widget_view`'s shape for a made-up member who joined, ordered once, and is part way
    to the next tier."""
    tier = program.tiers[0] if len(program.tiers) >= 2 else None
    next_tier = program.tiers[1] if tier is not None else (
        program.tiers[0] if program.tiers else None)
    now = utcnow()
    entries: list[dict[str, Any]] = []

    def add(kind: str, points: int, reason: str, days_ago: int, status: str = "available",
            available_in: int | None = None) -> None:
        if points <= 0:
            return
        at = now - timedelta(days=days_ago)
        entries.append({
            "id": len(entries) + 1, "kind": kind, "points": points, "status": status,
            "reason": reason, "created_at": at.isoformat(),
            "available_at": (at + timedelta(days=available_in)).isoformat()
            if available_in is not None else None})

    add("earn", program.signup_points, "Joined the rewards program", 40)
    rate = program.points_per_unit * program.multiplier(tier.name if tier else None)
    order_points = points_for(SAMPLE_ORDER, rate)
    if program.pending_days:
        add("pending", order_points, "Order #1001", 3, status="pending",
            available_in=program.pending_days)
    else:
        add("earn", order_points, "Order #1001", 3)
    add("earn", program.first_order_points, "First order bonus (order #1001)", 3)
    entries.reverse()  # newest first, as the ledger lists them

    balance = sum(e["points"] for e in entries if e["status"] == "available")
    pending = sum(e["points"] for e in entries if e["status"] == "pending")
    progress = None
    if next_tier is not None:
        value = (next_tier.threshold * Decimal("0.6")).quantize(Decimal("1"))
        progress = progress_view({"tier": tier.name if tier else None,
                                  "next_tier": next_tier.name, "basis": program.tier_basis,
                                  "value": str(value)}, program, shop.currency)
    referral_url = (referrals.referral_url(shop, SAMPLE_CODE) if program.referrals_enabled
                    else None)
    return {
        "guest": False, "sample": True, "first_name": SAMPLE_NAME,
        "points_balance": balance, "pending_points": pending, "spendable_points": balance,
        "tier": tier.name if tier else None, "tier_perks": tier.perks if tier else "",
        "next_tier": next_tier.name if next_tier else None, "progress": progress,
        "rewards": [reward_card(r, balance, shop.currency) for r in rewards],
        "referral_url": referral_url,
        "referral_code": SAMPLE_CODE if program.referrals_enabled else None,
        "birthday": None, "birthday_text": None,
        "history": [history_line(e) for e in entries], "codes": [],
        **program_facts(program, shop),
    }
