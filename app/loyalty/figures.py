"""The program's figures for the merchant: points issued, redeemed and outstanding, and what
the outstanding points are worth (the liability), each with its one-line definition.

What a point is worth: the best-value active fixed-amount reward's value divided by its
points cost (a $5 reward for 500 points makes a point worth $0.01), because that is the
most a member can turn a point into in money. Percentage and free-shipping rewards have no
value of their own (it depends on the order), so without an active fixed-amount reward
there is no value per point and no liability figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.loyalty.models import (
    ADJUST,
    EARN,
    PENDING,
    REDEEM,
    LedgerEntry,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyProgramVersion,
    LoyaltyReward,
)
from app.loyalty.rewards import FIXED_AMOUNT
from app.profiles.models import Customer

ISSUED_KINDS = (EARN, PENDING, ADJUST)

DEFINITIONS = {
    "issued": "Points given to members (orders, bonuses, referrals and manual additions), "
              "pending ones included, before any reversal.",
    "redeemed": "Points members exchanged for discount codes.",
    "outstanding": "Points members hold now and can spend (pending points not included).",
    "liability": "Outstanding points × what a point is worth in your best-value active "
                 "fixed-amount reward: what they would cost if all were spent.",
}
NO_POINT_VALUE = ("No fixed-amount reward is active, so there is no value per point and no "
                  "liability to show.")


@dataclass(frozen=True)
class PointValue:
    per_point: Decimal  # shop currency
    reward_id: int
    reward_name: str
    reward_value: Decimal
    points_cost: int


@dataclass(frozen=True)
class LoyaltyFigures:
    issued: int  # in the period asked for (all time without one)
    redeemed: int  # likewise
    outstanding: int  # now
    pending: int  # now
    members: int  # now
    point_value: PointValue | None
    liability: Decimal | None  # outstanding × point value; None without a point value


def point_value(session: Session, shop_id: int) -> PointValue | None:
    """The best-value active fixed-amount reward's money per point, or None."""
    rows = session.execute(select(
        LoyaltyReward.id, LoyaltyReward.name, LoyaltyReward.value, LoyaltyReward.points_cost,
    ).where(LoyaltyReward.shop_id == shop_id, LoyaltyReward.active.is_(True),
            LoyaltyReward.deleted_at.is_(None), LoyaltyReward.kind == FIXED_AMOUNT,
            LoyaltyReward.points_cost > 0)).all()
    best = None
    for row in rows:
        per_point = Decimal(row.value) / row.points_cost
        if best is None or per_point > best.per_point:
            best = PointValue(per_point, row.id, row.name, Decimal(row.value), row.points_cost)
    return best


def _between(column, since: datetime | None, until: datetime | None) -> list:
    where = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def program_figures(session: Session, shop_id: int, *, since: datetime | None = None,
                    until: datetime | None = None) -> LoyaltyFigures:
    """Issued and redeemed over [since, until) (all time when both are None); outstanding,
    pending and members as they are now. One aggregate over the shop's ledger (through
    `ix_loyalty_ledger_shop_created` for a period) and one over its members."""
    L = LedgerEntry
    issued, redeemed = session.execute(select(
        func.coalesce(func.sum(case((and_(L.kind.in_(ISSUED_KINDS), L.points > 0), L.points),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((L.kind == REDEEM, -L.points), else_=0)), 0),
    ).where(L.shop_id == shop_id, *_between(L.created_at, since, until))).one()
    outstanding, pending, members = session.execute(select(
        func.coalesce(func.sum(case((Customer.points_balance > 0, Customer.points_balance),
                                    else_=0)), 0),
        func.coalesce(func.sum(LoyaltyMember.pending_points), 0),
        func.count(),
    ).select_from(LoyaltyMember).join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(LoyaltyMember.shop_id == shop_id)).one()
    value = point_value(session, shop_id)
    liability = None if value is None else Decimal(int(outstanding)) * value.per_point
    return LoyaltyFigures(issued=int(issued), redeemed=int(redeemed),
                          outstanding=int(outstanding), pending=int(pending),
                          members=int(members), point_value=value, liability=liability)


def ever_enabled(session: Session, shop_id: int) -> bool:
    """Whether the program is on now or was ever saved switched on."""
    enabled = session.execute(select(LoyaltyProgram.enabled).where(
        LoyaltyProgram.shop_id == shop_id)).scalar()
    if enabled:
        return True
    if enabled is None:
        return False  # never saved
    for settings in session.execute(select(LoyaltyProgramVersion.settings).where(
            LoyaltyProgramVersion.shop_id == shop_id)).scalars():
        if (settings or {}).get("enabled"):
            return True
    return False
