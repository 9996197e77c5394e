"""The rewards widget's sentences: ways to earn, rewards, history entries, tier progress.

Pure functions of a Program, a reward or a ledger entry: the shopper's page, its JSON and the
panel's preview all say the same thing the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.loyalty.program import Program
from app.money import money_text

# What each ledger kind means to a shopper (the reason says what caused it).
KIND_WORDS = {
    "earn": "Earned",
    "pending": "On the way",
    "release": "Now spendable",
    "redeem": "Spent",
    "reverse": "Taken back",
    "expire": "Expired",
    "adjust": "Adjusted by the store",
}


def points_text(points: int) -> str:
    return f"{points:,} point{'' if abs(points) == 1 else 's'}"


def _number(value: Decimal) -> str:
    value = value.normalize() if value == value.to_integral() else value
    return f"{value:f}"


def ways_to_earn(program: Program, currency: str) -> list[dict[str, Any]]:
    """How a shopper earns under `program`, in the order a shopper meets them."""
    ways: list[dict[str, Any]] = []
    if program.signup_points:
        ways.append({"key": "signup", "title": "Create an account",
                     "points": program.signup_points,
                     "detail": f"{points_text(program.signup_points)} when you join."})
    if program.points_per_unit > 0:
        one = money_text(Decimal("1"), currency)
        detail = f"{_number(program.points_per_unit)} points for every {one} you spend"
        extras = [name for name, included in (("shipping", program.include_shipping),
                                               ("tax", program.include_tax)) if not included]
        if extras:
            detail += f" (not counting {' or '.join(extras)})"
        detail += "."
        if program.pending_days:
            detail += (f" They become spendable {program.pending_days} day"
                       f"{'' if program.pending_days == 1 else 's'} after your order "
                       f"{'is fulfilled' if program.award_on == 'fulfilled' else 'is paid'}.")
        boosted = [t for t in program.tiers if t.multiplier != 1]
        if boosted:
            detail += " " + "; ".join(f"{t.name} members earn {_number(t.multiplier)}×"
                                      for t in boosted) + "."
        ways.append({"key": "purchase", "title": "Shop with us", "points": None,
                     "rate": _number(program.points_per_unit), "detail": detail})
    if program.first_order_points:
        ways.append({"key": "first_order", "title": "Place your first order",
                     "points": program.first_order_points,
                     "detail": f"{points_text(program.first_order_points)} on top of what "
                               "the order earns."})
    if program.birthday_points:
        ways.append({"key": "birthday", "title": "Celebrate your birthday",
                     "points": program.birthday_points,
                     "detail": f"{points_text(program.birthday_points)} every year on your "
                               "birthday: tell us the date below."})
    if program.referrals_enabled:
        friend = reward_text(program.referral_friend_kind, program.referral_friend_value,
                             currency)
        detail = f"Your friend gets {friend} on their first order"
        if program.referral_advocate_points:
            detail += (f", and you earn {points_text(program.referral_advocate_points)} "
                       "once their order is paid")
            if program.pending_days:
                detail += " and the return window has passed"
        ways.append({"key": "referral", "title": "Refer a friend",
                     "points": program.referral_advocate_points or None,
                     "detail": detail + "."})
    return ways


def reward_text(kind: str, value: Decimal | str | None, currency: str) -> str:
    """What a reward gives: "$5.00 off", "10% off", "Free shipping"."""
    if kind == "free_shipping":
        return "free shipping"
    amount = Decimal(str(value or 0))
    if kind == "percentage":
        return f"{_number(amount)}% off"
    return f"{money_text(amount, currency)} off"


def reward_card(reward: Any, spendable: int | None, currency: str) -> dict[str, Any]:
    """A catalogue reward as the widget lists it; `spendable` None for a guest."""
    conditions = []
    if reward.minimum_order:
        conditions.append(f"on orders of {money_text(reward.minimum_order, currency)} or more")
    if reward.expires_after_days:
        conditions.append(f"use within {reward.expires_after_days} days")
    card = {
        "id": reward.id, "name": reward.name, "kind": reward.kind,
        "value": str(reward.value), "points_cost": reward.points_cost,
        "minimum_order": None if reward.minimum_order is None else str(reward.minimum_order),
        "expires_after_days": reward.expires_after_days,
        "description": reward_text(reward.kind, reward.value, currency).capitalize()
                       + (f" ({', '.join(conditions)})" if conditions else ""),
    }
    if spendable is not None:
        card["affordable"] = spendable >= reward.points_cost
        card["points_needed"] = max(0, reward.points_cost - spendable)
    return card


def history_line(entry: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry (as `ledger.entry_as_dict` gives it) with a sentence for the shopper."""
    words = KIND_WORDS.get(entry["kind"], entry["kind"].capitalize())
    description = f"{words}: {entry['reason']}" if entry.get("reason") else words
    if entry["kind"] == "pending" and entry.get("available_at"):
        when = _day(entry["available_at"])
        description += f" (spendable from {when})"
    return {"id": entry["id"], "kind": entry["kind"], "points": entry["points"],
            "status": entry["status"], "reason": entry["reason"],
            "created_at": entry["created_at"], "available_at": entry.get("available_at"),
            "description": description}


def _day(value: str | datetime | date) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{value:%B} {value.day}, {value.year}"


def day_text(value: date | None) -> str | None:
    return None if value is None else f"{value:%B} {value.day}"


def progress_view(progress: dict[str, Any] | None, program: Program,
                  currency: str) -> dict[str, Any] | None:
    """Where the member stands towards the next tier, with a percentage for the bar."""
    if not progress or not progress.get("next_tier"):
        return None
    next_tier = program.tier_named(progress["next_tier"])
    if next_tier is None:
        return None
    try:
        value = Decimal(str(progress.get("value") or "0"))
    except ArithmeticError:
        return None
    threshold = next_tier.threshold
    remaining = max(Decimal("0"), threshold - value)
    percent = 100 if threshold <= 0 else int(min(Decimal(100), value * 100 / threshold))
    basis = progress.get("basis") or program.tier_basis
    if basis == "points":
        left = f"Earn {points_text(int(remaining))} more"
    else:
        left = f"Spend {money_text(remaining, currency)} more"
    period = {"rolling_12_months": " (counting the last 12 months)",
              "calendar_year": " (counting this year)"}.get(program.tier_period, "")
    return {"basis": basis, "value": str(value), "threshold": str(threshold),
            "remaining": str(remaining), "percent": max(0, percent),
            "next_tier": next_tier.name,
            "sentence": (f"{left} to reach {next_tier.name}{period}." if remaining
                         else f"You have reached what {next_tier.name} needs.")}
