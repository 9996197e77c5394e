"""The ledger's core: entries under natural keys, and balances that are their sum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db import db
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.loyalty.program import ProgramInvalid, points_for, read_program, save_program
from app.profiles.models import Customer


@pytest.fixture
def customer(shop, session):
    row = Customer(shop_id=shop.id, platform_customer_id="207119551", email="bob@example.com")
    session.add(row)
    session.commit()
    return row


def test_an_entry_under_a_key_already_used_changes_nothing(shop, customer, session):
    entry = ledger.NewEntry(customer_id=customer.id, kind="earn", points=120,
                            reason="Order #1001", source="order", key="order:450789469:purchase",
                            rate=Decimal("1"), amount=Decimal("120.50"))
    first = ledger.append(session, shop.id, entry)
    again = ledger.append(session, shop.id, entry)
    session.commit()

    assert first is not None and again is None
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    assert ledger.balance(session, shop.id, customer.id) == 120
    member = session.get(LoyaltyMember, customer.id)
    assert member.lifetime_points == 120 and member.pending_points == 0
    assert len(member.referral_code) == 8


def test_pending_points_move_to_the_balance_on_release(shop, customer, session):
    ledger.append(session, shop.id, ledger.NewEntry(
        customer_id=customer.id, kind="pending", points=50, status="pending", reason="Order",
        source="order", key="order:1:purchase"))
    member = session.get(LoyaltyMember, customer.id)
    session.refresh(member)
    assert member.pending_points == 50 and ledger.balance(session, shop.id, customer.id) == 0

    ledger.append(session, shop.id, ledger.NewEntry(
        customer_id=customer.id, kind="release", points=50, reason="Return window over",
        source="release", key="release:1"))
    session.commit()
    session.refresh(member)
    assert member.pending_points == 0 and ledger.balance(session, shop.id, customer.id) == 50
    assert member.lifetime_points == 50  # a release is not earned twice


def test_recompute_rebuilds_the_caches_from_the_ledger(shop, customer, session):
    for i, (kind, points, status) in enumerate([("earn", 100, "available"),
                                                ("pending", 40, "pending"),
                                                ("redeem", -30, "available"),
                                                ("reverse", -10, "pending")]):
        ledger.append(session, shop.id, ledger.NewEntry(
            customer_id=customer.id, kind=kind, points=points, status=status, reason="x",
            source="order", key=f"k{i}"))
    session.commit()
    session.execute(Customer.__table__.update().values(points_balance=999))
    session.execute(LoyaltyMember.__table__.update().values(pending_points=7, lifetime_points=7))

    assert ledger.recompute(session, shop.id) == 1
    session.commit()
    member = session.get(LoyaltyMember, customer.id)
    session.refresh(member)
    assert ledger.balance(session, shop.id, customer.id) == 70
    assert member.pending_points == 30 and member.lifetime_points == 130


def test_fractions_of_a_point_are_dropped():
    assert points_for(Decimal("12.99"), Decimal("1")) == 12
    assert points_for(Decimal("10.00"), Decimal("1.5")) == 15
    assert points_for(Decimal("-5"), Decimal("1")) == 0


def test_a_saved_program_is_a_new_version_and_bad_fields_are_named(shop, session):
    saved = save_program(session, shop.id, {"enabled": True, "points_per_unit": "2",
                                            "tiers": [{"name": "Silver", "threshold": "500",
                                                       "multiplier": "1.25"}]})
    again = save_program(session, shop.id, {"points_per_unit": "2"})
    session.commit()
    assert saved.version == 1 and again.version == 1
    assert read_program(db.session, shop.id).tiers[0].multiplier == Decimal("1.25")

    with pytest.raises(ProgramInvalid) as refused:
        save_program(session, shop.id, {"points_per_unit": "lots", "award_on": "shipped",
                                        "tiers": [{"name": "Gold", "threshold": "10"},
                                                  {"name": "gold", "threshold": "20"}]})
    assert set(refused.value.errors) == {"points_per_unit", "award_on", "tiers.1.name"}
    session.rollback()
    assert read_program(session, shop.id).version == 1
