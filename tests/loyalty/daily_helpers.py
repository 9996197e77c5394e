"""Helpers for the tests of tiers, expiry, birthdays and the daily run: a store's shoppers and
orders go through the profile store as the connectors hand them over, their domain events
through the real dispatcher to the loyalty subscriber, and time is passed explicitly
(`daily(now)`, entries' `created_at`), never frozen."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.db import db
from app.loyalty import ledger
from app.loyalty.models import LoyaltyMember, TierChange
from app.loyalty.program import save_program
from app.profiles.models import Customer, TimelineEvent
from app.profiles.store import ProfileStore
from app.shops.models import Shop
from connectors.records import CustomerRecord, OrderRecord, RefundRecord
from jobs.events import dispatch_shop, register_subscribers
from jobs.loyalty_daily import run_daily

TIERS = [{"name": "Bronze", "threshold": "0", "multiplier": "1"},
         {"name": "Silver", "threshold": "500", "multiplier": "1.25"},
         {"name": "Gold", "threshold": "1000", "multiplier": "1.5"}]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def set_up(shop: Shop, *, timezone: str = "America/New_York", **settings: Any) -> None:
    """The store's zone and an enabled program; the loyalty subscriber registered before any
    event is published (a subscriber new to the database starts at the end of the log)."""
    db.session.get(Shop, shop.id).timezone = timezone
    save_program(db.session, shop.id, {"enabled": True, **settings})
    db.session.commit()
    register_subscribers()


def person(key: str) -> CustomerRecord:
    return CustomerRecord(platform_id=f"cust-{key}", email=f"{key}@example.com",
                          first_name=key.title(), last_name="Tester",
                          created_at=utc(2024, 1, 1), updated_at=utc(2024, 1, 1))


def order(key: str, placed: datetime, total: str, who: CustomerRecord, **more) -> OrderRecord:
    return OrderRecord(platform_id=f"order-{key}", placed_at=placed, updated_at=placed,
                       currency="USD", total_price=Decimal(total), customer=who,
                       email=who.email, name=f"#{key}",
                       financial_status=more.pop("financial_status", "paid"), **more)


def refund(key: str, order_key: str, amount: str, at: datetime) -> RefundRecord:
    return RefundRecord(platform_id=f"refund-{key}", order_platform_id=f"order-{order_key}",
                        amount=Decimal(amount), refunded_at=at)


def apply(shop_id: int, *records) -> None:
    """Apply records as one batch, then hand the events to the subscribers."""
    store = ProfileStore(db.session, shop_id)
    for record in records:
        store.apply(record)
    store.finish()
    db.session.commit()
    db.session.close()
    dispatch_shop(shop_id)


def daily(now: datetime) -> dict:
    db.session.close()  # no open read transaction of the test's (SQLite's lock)
    return run_daily(now.isoformat())


def customer_id(shop_id: int, key: str) -> int:
    db.session.rollback()
    return db.session.execute(select(Customer.id).where(
        Customer.shop_id == shop_id, Customer.platform_customer_id == f"cust-{key}")).scalar_one()


def tier_of(customer: int) -> tuple[str | None, str | None]:
    """(loyalty_members.tier, customers.tier): the two must agree."""
    db.session.rollback()
    member = db.session.execute(select(LoyaltyMember.tier).where(
        LoyaltyMember.customer_id == customer)).scalar()
    profile = db.session.execute(select(Customer.tier).where(Customer.id == customer)).scalar()
    return member, profile


def changes(customer: int) -> list[TierChange]:
    db.session.rollback()
    return list(db.session.execute(select(TierChange).where(
        TierChange.customer_id == customer).order_by(TierChange.id)).scalars())


def timeline(customer: int, kind: str) -> list[TimelineEvent]:
    db.session.rollback()
    return list(db.session.execute(select(TimelineEvent).where(
        TimelineEvent.customer_id == customer, TimelineEvent.kind == kind)
        .order_by(TimelineEvent.id)).scalars())


def entry(shop_id: int, customer: int, kind: str, points: int, at: datetime, key: str,
          status: str = "available") -> None:
    ledger.append(db.session, shop_id, ledger.NewEntry(
        customer_id=customer, kind=kind, points=points, status=status, reason=kind,
        source="order" if kind != "redeem" else "reward", key=key, created_at=at))
    db.session.commit()
