"""The rewards catalogue: what members can spend their points on.

A reward is `{"id", "name", "kind", "value", "points_cost", "minimum_order",
"expires_after_days", "active"}` (`/api/loyalty/rewards`). Its rules:

- `kind` is "fixed_amount" (`value` is money off, in shop currency), "percentage" (`value`
  is a percentage, at most 100) or "free_shipping" (`value` is 0);
- `points_cost` is a whole number of points from 1 to 1,000,000;
- `minimum_order` is money or null (no minimum); `expires_after_days` is how long the code
  it makes stays usable, or null (never);
- deleting a reward is soft: `deleted_at` is set, it leaves every list and cannot be
  redeemed or changed, and the redemptions that name it keep it.

Every function is scoped to one shop (another shop's reward is "not found") and none commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.loyalty.models import LoyaltyReward
from app.loyalty.program import MAX_DAYS, MAX_POINTS, REWARD_KINDS, decimal_text
from app.money import format_money

FIXED_AMOUNT, PERCENTAGE, FREE_SHIPPING = REWARD_KINDS
FIELDS = ("name", "kind", "value", "points_cost", "minimum_order", "expires_after_days",
          "active")
REQUIRED = ("name", "kind", "points_cost")
MAX_NAME = 120
MAX_MONEY = Decimal("1000000")


class RewardInvalid(ValueError):
    """Some fields were refused: `errors` maps each to why, in words that read after the
    field's name. Nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        name, reason = next(iter(errors.items()))
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True)
class Reward:
    """A reward as checked, before it is stored."""

    name: str
    kind: str
    value: Decimal
    points_cost: int
    minimum_order: Decimal | None = None
    expires_after_days: int | None = None
    active: bool = True


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise ValueError(f"must be a name of 1 to {MAX_NAME} characters")
    return value.strip()


def _kind(value: Any) -> str:
    if value not in REWARD_KINDS:
        raise ValueError("must be one of " + ", ".join(f'"{k}"' for k in REWARD_KINDS))
    return value


def _value(value: Any) -> Decimal:
    return decimal_text(value, low=Decimal("0"), high=MAX_MONEY, what="an amount")


def _points(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POINTS:
        raise ValueError(f"must be a whole number of points from 1 to {MAX_POINTS:,}")
    return value


def _minimum(value: Any) -> Decimal | None:
    if value is None:
        return None
    return decimal_text(value, low=Decimal("0"), high=MAX_MONEY, what="an amount of money")


def _days(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValueError(f"must be a whole number of days from 1 to {MAX_DAYS}, or null "
                         "for never")
    return value


def _active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_RULES = {"name": _name, "kind": _kind, "value": _value, "points_cost": _points,
          "minimum_order": _minimum, "expires_after_days": _days, "active": _active}


def _check_whole(reward: Reward, errors: dict[str, str]) -> None:
    """The rules between fields: what `value` may be depends on `kind`."""
    if "value" in errors or "kind" in errors:
        return
    if reward.kind == FREE_SHIPPING and reward.value != 0:
        errors["value"] = "must be 0 for free shipping (the reward is the shipping itself)"
    elif reward.kind == PERCENTAGE and not 0 < reward.value <= 100:
        errors["value"] = "must be a percentage above 0 and at most 100"
    elif reward.kind == FIXED_AMOUNT and reward.value <= 0:
        errors["value"] = "must be an amount of money above 0"


def validate(data: Any, current: Reward | None = None) -> Reward:
    """A reward from `data` (decoded JSON). Without `current` it is a new reward: name,
    kind and points_cost are required, and value unless it is free shipping. With `current`
    it is a change: fields left out keep their values. Raises RewardInvalid naming every
    wrong field; unknown fields are refused (a typo must not look saved)."""
    if not isinstance(data, dict):
        raise RewardInvalid({"body": 'must be a JSON object, e.g. {"name": "$5 off", '
                                     '"kind": "fixed_amount", "value": "5", '
                                     '"points_cost": 500}'})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("id", "deleted_at"):
            continue  # shown by GET, sent back by clients that PUT what they read
        rule = _RULES.get(name)
        if rule is None:
            errors[str(name)] = "is not a field of a reward (they are " + ", ".join(FIELDS) + ")"
            continue
        try:
            clean[name] = rule(value)
        except ValueError as refused:
            errors[name] = str(refused)
    if current is None:
        for name in REQUIRED:
            if name not in data:
                errors.setdefault(name, "is required")
        if "value" not in data:
            if clean.get("kind") == FREE_SHIPPING:
                clean["value"] = Decimal("0")
            elif "kind" in clean:
                errors["value"] = "is required"
        base = Reward(name="", kind=FIXED_AMOUNT, value=Decimal("0"), points_cost=1)
    else:
        base = current
        if clean.get("kind") == FREE_SHIPPING and "value" not in clean:
            clean["value"] = Decimal("0")
    merged = Reward(**{**base.__dict__, **clean})
    _check_whole(merged, errors)
    if errors:
        raise RewardInvalid(errors)
    return merged


def _decimal_text(value: Decimal) -> str:
    value = Decimal(value)
    return str(value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize())


def reward_as_dict(row: LoyaltyReward, currency: str | None) -> dict[str, Any]:
    """A reward as the API shows it: money as strings in the shop's currency's minor unit,
    a percentage as written ("15", "12.5")."""
    value = (format_money(row.value, currency) if row.kind == FIXED_AMOUNT
             else _decimal_text(row.value))
    return {
        "id": row.id, "name": row.name, "kind": row.kind, "value": value,
        "points_cost": row.points_cost,
        "minimum_order": format_money(row.minimum_order, currency),
        "expires_after_days": row.expires_after_days, "active": row.active,
    }


def _as_reward(row: LoyaltyReward) -> Reward:
    return Reward(name=row.name, kind=row.kind, value=Decimal(row.value),
                  points_cost=row.points_cost,
                  minimum_order=None if row.minimum_order is None else Decimal(row.minimum_order),
                  expires_after_days=row.expires_after_days, active=row.active)


def list_rewards(session: Session, shop_id: int, *, active_only: bool = False
                 ) -> list[LoyaltyReward]:
    """The shop's rewards (deleted ones left out), cheapest first."""
    query = select(LoyaltyReward).where(LoyaltyReward.shop_id == shop_id,
                                        LoyaltyReward.deleted_at.is_(None))
    if active_only:
        query = query.where(LoyaltyReward.active.is_(True))
    return list(session.execute(query.order_by(LoyaltyReward.points_cost,
                                               LoyaltyReward.id)).scalars())


def get_reward(session: Session, shop_id: int, reward_id: int) -> LoyaltyReward | None:
    """One of the shop's rewards, or None (another shop's, deleted, or no such id)."""
    return session.execute(select(LoyaltyReward).where(
        LoyaltyReward.id == reward_id, LoyaltyReward.shop_id == shop_id,
        LoyaltyReward.deleted_at.is_(None))).scalar_one_or_none()


def create_reward(session: Session, shop_id: int, data: Any) -> LoyaltyReward:
    reward = validate(data)
    row = LoyaltyReward(shop_id=shop_id, **reward.__dict__)
    session.add(row)
    session.flush()
    return row


def update_reward(session: Session, row: LoyaltyReward, data: Any) -> LoyaltyReward:
    """Apply a partial change to `row` (from `get_reward`): all of it or none."""
    reward = validate(data, current=_as_reward(row))
    for name, value in reward.__dict__.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return row


def delete_reward(session: Session, row: LoyaltyReward) -> None:
    """Soft delete: the row stays for the redemptions that name it."""
    now = utcnow()
    row.deleted_at, row.active, row.updated_at = now, False, now
    session.flush()
