"""Points expiry: a warning first, then the available balance expires once per period of
inactivity; earning or spending starts a new period; pending points never expire."""

from __future__ import annotations

from sqlalchemy import select

from app.db import db
from app.events.models import StoredEvent
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.loyalty.program import save_program
from tests.loyalty.daily_helpers import apply, customer_id, daily, entry, person, set_up, utc


def _member(shop, key: str) -> int:
    apply(shop.id, person(key))
    return customer_id(shop.id, key)


def _published(customer: int, kind: str) -> list[dict]:
    db.session.rollback()
    return list(db.session.execute(select(StoredEvent.data).where(
        StoredEvent.customer_id == customer, StoredEvent.kind == kind)
        .order_by(StoredEvent.id)).scalars())


def _expiries(customer: int) -> list[LedgerEntry]:
    db.session.rollback()
    return list(db.session.execute(select(LedgerEntry).where(
        LedgerEntry.customer_id == customer, LedgerEntry.kind == "expire")).scalars())


def test_points_are_warned_about_then_expire_once(shop):
    set_up(shop, expiry_days=365, expiry_warning_days=14)
    ada = _member(shop, "ada")
    entry(shop.id, ada, "earn", 120, utc(2025, 1, 10, 15), "order:1:purchase")

    daily(utc(2025, 12, 26, 12))  # 15 days and 3 hours before they expire: too early
    assert _published(ada, "points_expiring") == []

    daily(utc(2025, 12, 27, 12))  # 14 days and 3 hours before: the last run on time
    [warning] = _published(ada, "points_expiring")
    assert warning["points"] == 120 and warning["balance"] == 120
    assert warning["expires_at"] == "2026-01-10T15:00:00+00:00"
    assert db.session.get(LoyaltyMember, ada).expiry_warned_at is not None

    daily(utc(2025, 12, 28, 12))
    daily(utc(2026, 1, 10, 14))  # an hour before the year is up: still there
    assert len(_published(ada, "points_expiring")) == 1
    assert _expiries(ada) == [] and ledger.balance(db.session, shop.id, ada) == 120

    daily(utc(2026, 1, 11, 16))
    [expired] = _expiries(ada)
    assert expired.points == -120 and expired.source == "expiry"
    assert expired.key == f"expire:{ada}:2025-01-10T15:00:00+00:00"
    assert expired.reason == "120 points expired: none earned or spent since 2025-01-10"
    assert ledger.balance(db.session, shop.id, ada) == 0
    [notice] = _published(ada, "points_expired")
    assert notice["points"] == 120 and notice["balance"] == 0

    # An adjustment after the expiry, under the same inactivity: it expired once, that's all.
    ledger.adjust(db.session, shop.id, ada, 10, "goodwill", created_by="m@example.com")
    db.session.commit()
    daily(utc(2026, 1, 12, 16))
    assert len(_expiries(ada)) == 1 and len(_published(ada, "points_expired")) == 1


def test_earning_or_spending_starts_a_new_period(shop):
    set_up(shop, expiry_days=100, expiry_warning_days=10)
    bob = _member(shop, "bob")
    entry(shop.id, bob, "earn", 80, utc(2026, 1, 1, 12), "order:1:purchase")
    daily(utc(2026, 4, 2, 12))  # 91 days: warned
    assert len(_published(bob, "points_expiring")) == 1

    # He spends some: his points are active again, and the warning is cleared.
    entry(shop.id, bob, "redeem", -30, utc(2026, 4, 5, 12), "redeem:1")
    assert db.session.get(LoyaltyMember, bob).expiry_warned_at is None
    daily(utc(2026, 4, 12, 12))  # past the first 100 days: nothing expires
    assert _expiries(bob) == []

    daily(utc(2026, 7, 4, 12))  # 90 days after spending: a second warning
    warnings = _published(bob, "points_expiring")
    assert len(warnings) == 2 and warnings[1]["points"] == 50
    daily(utc(2026, 7, 14, 13))
    [expired] = _expiries(bob)
    assert expired.points == -50
    assert expired.key == f"expire:{bob}:2026-04-05T12:00:00+00:00"


def test_pending_points_do_not_expire(shop):
    set_up(shop, expiry_days=30, expiry_warning_days=0)
    cy = _member(shop, "cy")
    entry(shop.id, cy, "earn", 40, utc(2026, 1, 1, 12), "order:1:purchase")
    entry(shop.id, cy, "pending", 25, utc(2026, 1, 1, 12), "order:2:purchase",
          status="pending")

    daily(utc(2026, 2, 1, 12))

    [expired] = _expiries(cy)
    assert expired.points == -40
    assert ledger.balance(db.session, shop.id, cy) == 0
    assert db.session.get(LoyaltyMember, cy).pending_points == 25


def test_points_never_expire_unwarned_when_expiry_is_switched_on_late(shop):
    set_up(shop)
    dee = _member(shop, "dee")
    entry(shop.id, dee, "earn", 70, utc(2024, 1, 1, 12), "order:1:purchase")
    daily(utc(2026, 1, 1, 12))  # no expiry yet: nothing
    save_program(db.session, shop.id, {"expiry_days": 180, "expiry_warning_days": 14})
    db.session.commit()

    daily(utc(2026, 1, 2, 12))  # two years inactive: warned first, for 14 days from now
    [warning] = _published(dee, "points_expiring")
    assert warning["expires_at"] == "2026-01-16T12:00:00+00:00" and warning["days_left"] == 14
    daily(utc(2026, 1, 10, 12))
    assert _expiries(dee) == []
    daily(utc(2026, 1, 16, 13))
    assert [e.points for e in _expiries(dee)] == [-70]


def test_no_expiry_days_means_points_never_expire(shop):
    set_up(shop, expiry_days=None)
    eve = _member(shop, "eve")
    entry(shop.id, eve, "earn", 70, utc(2020, 1, 1, 12), "order:1:purchase")
    daily(utc(2026, 1, 2, 12))
    assert _expiries(eve) == [] and _published(eve, "points_expiring") == []
