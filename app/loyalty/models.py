"""The loyalty program's tables: program and its versions, tiers, members, the points ledger,
rewards, redemptions, referrals, tier changes and the platform write-back queue.

The ledger is the truth. `customers.points_balance` (the profile's column, read by the API and
the panel) and `loyalty_members.pending_points` / `lifetime_points` are caches of it, changed
in the same transaction as the entries they sum, and rebuilt by `app.loyalty.ledger.recompute`.

Every automatic entry carries a natural `key`, unique per shop (see `app.loyalty.keys`), so a
redelivered webhook, a status churn, a reconciliation, a backfill or a replayed event can
never make an entry twice.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow
from app.profiles.models import JsonType, Money

Rate = Numeric(18, 6)  # points per unit of shop currency, tier multiplier included

# Ledger entry kinds (the API's `kind`).
EARN, PENDING, RELEASE, REDEEM, REVERSE, EXPIRE, ADJUST = (
    "earn", "pending", "release", "redeem", "reverse", "expire", "adjust")
ENTRY_KINDS = (EARN, PENDING, RELEASE, REDEEM, REVERSE, EXPIRE, ADJUST)
# Entry status: which balance an entry moves. See `app.loyalty.ledger` for the arithmetic.
AVAILABLE, PENDING_STATUS = "available", "pending"
# Entry sources (what produced it).
SOURCES = ("order", "refund", "cancellation", "rule", "reward", "merchant", "referral",
           "expiry", "release")

# Redemption status.
HELD, ISSUED, FAILED, RELEASED = "held", "issued", "failed", "released"


class LoyaltyProgram(Base):
    """A store's program, as it is now. Each save is also kept as a `LoyaltyProgramVersion`,
    whose number every entry it produced records."""

    __tablename__ = "loyalty_programs"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"),
                                         primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The whole program as the API shows it (app.loyalty.program.Program.as_dict), tiers and
    # referral settings included: one row read per event, never a join.
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The store's local date of its last completed daily run (app.loyalty.daily).
    daily_run_on: Mapped[date | None] = mapped_column(Date)


class LoyaltyProgramVersion(Base):
    __tablename__ = "loyalty_program_versions"
    __table_args__ = (UniqueConstraint("shop_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType)
    saved_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoyaltyMember(Base):
    """A profile's place in the program. Created on its first entry, its sign-up, or when it
    asks for its referral link."""

    __tablename__ = "loyalty_members"
    __table_args__ = (
        UniqueConstraint("shop_id", "referral_code"),
        Index("ix_loyalty_members_shop_activity", "shop_id", "last_activity_at"),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                             primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    pending_points: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_points: Mapped[int] = mapped_column(Integer, default=0)  # earned, never spent
    tier: Mapped[str | None] = mapped_column(String(64))
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referral_code: Mapped[str] = mapped_column(String(16))
    birthday: Mapped[date | None] = mapped_column(Date)
    birthday_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # once a year
    # The last earning or spending: expiry counts from here.
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expiry_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """One immutable change to a member's points. Never updated, never deleted (except with
    the profile, by `customers/redact` or `shop/redact`)."""

    __tablename__ = "loyalty_ledger"
    __table_args__ = (
        UniqueConstraint("shop_id", "key"),
        Index("ix_loyalty_ledger_customer", "customer_id", "id"),
        Index("ix_loyalty_ledger_order", "shop_id", "order_id"),
        Index("ix_loyalty_ledger_due", "shop_id", "available_at",
              postgresql_where=text("kind = 'pending'"),
              sqlite_where=text("kind = 'pending'")),
        CheckConstraint("status IN ('available', 'pending')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=AVAILABLE)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    # The natural key (app.loyalty.keys), e.g. "order:4501:purchase".
    key: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[int | None] = mapped_column(BigId)  # orders.id, when an order caused it
    platform_order_id: Mapped[str | None] = mapped_column(String(64))
    # Points per unit of currency that produced it (tier multiplier included), and the money
    # it was computed on: a reversal uses these, never today's program.
    rate: Mapped[Decimal | None] = mapped_column(Rate)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    program_version: Mapped[int | None] = mapped_column(Integer)
    # The entry this one answers (a release or reversal of an award, ...).
    parent_id: Mapped[int | None] = mapped_column(BigId)
    created_by: Mapped[str | None] = mapped_column(String(320))  # manual adjustments
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoyaltyReward(Base):
    __tablename__ = "loyalty_rewards"
    __table_args__ = (Index("ix_loyalty_rewards_shop", "shop_id", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # fixed_amount | percentage | free_shipping
    value: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    points_cost: Mapped[int] = mapped_column(Integer)
    minimum_order: Mapped[Decimal | None] = mapped_column(Money)
    expires_after_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A deleted reward keeps its row: redemptions name it.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Redemption(Base):
    """Points exchanged for a discount code: held, then issued when the platform confirms the
    code (the `redeem` entry is written then), or released if it refuses."""

    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        UniqueConstraint("shop_id", "code"),
        UniqueConstraint("shop_id", "idempotency_key"),
        Index("ix_loyalty_redemptions_customer", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # NULL for a referred friend who has no profile yet (the code is made out to `email`).
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(320))
    reward_id: Mapped[int | None] = mapped_column(
        ForeignKey("loyalty_rewards.id", ondelete="SET NULL"))
    # What was redeemed, as it was then (the reward may change or go).
    reward: Mapped[dict[str, Any]] = mapped_column(JsonType)
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=HELD)
    code: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    platform_discount_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(16), default="reward")  # reward | referral
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Referral(Base):
    __tablename__ = "loyalty_referrals"
    __table_args__ = (
        UniqueConstraint("shop_id", "friend_email_normalized"),
        Index("ix_loyalty_referrals_advocate", "advocate_id", "created_at"),
        Index("ix_loyalty_referrals_ip", "shop_id", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    advocate_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    friend_customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"))
    friend_email: Mapped[str] = mapped_column(String(320))
    friend_email_normalized: Mapped[str] = mapped_column(String(320))
    friend_name: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    # invited | ordered | rewarded | blocked | approved | cancelled
    status: Mapped[str] = mapped_column(String(16))
    block_reason: Mapped[str | None] = mapped_column(Text)
    platform_order_id: Mapped[str | None] = mapped_column(String(64))
    friend_redemption_id: Mapped[int | None] = mapped_column(BigId)
    reviewed_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TierChange(Base):
    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (Index("ix_loyalty_tier_changes_customer", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    from_tier: Mapped[str | None] = mapped_column(String(64))
    to_tier: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    # What the member had on the tier's basis when it changed (money or points).
    basis_value: Mapped[Decimal | None] = mapped_column(Money)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Writeback(Base):
    """A member whose balance or tier the platform must be told; one row per member, so a
    burst of changes is one call."""

    __tablename__ = "loyalty_writebacks"
    __table_args__ = (Index("ix_loyalty_writebacks_due", "shop_id", "due_at"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                             primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # When to write next; NULL once the platform has what the ledger says.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    written_balance: Mapped[int | None] = mapped_column(Integer)
    written_tier: Mapped[str | None] = mapped_column(String(64))
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
