"""What every ledger-affecting event goes through, made cheaper without changing what it
does: the program parsed once per loaded version, the member's lock and balance in one
statement, a member made by the first entry that needs one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.loyalty import ledger
from app.loyalty.models import LoyaltyMember, LoyaltyProgram
from app.loyalty.program import read_program, save_program
from app.profiles.models import Customer


@pytest.fixture
def customer(shop, session):
    row = Customer(shop_id=shop.id, platform_customer_id="207119551", email="bob@example.com")
    session.add(row)
    session.commit()
    return row


def test_the_program_is_parsed_once_per_version_and_a_save_is_seen_at_once(shop, session):
    save_program(session, shop.id, {"enabled": True, "points_per_unit": "2"})
    session.commit()

    first = read_program(session, shop.id)
    session.commit()
    assert read_program(session, shop.id) is first  # reloaded, the same document: not parsed

    save_program(session, shop.id, {"points_per_unit": "3"})  # same session, not committed
    changed = read_program(session, shop.id)
    assert changed.points_per_unit == 3 and changed.version == first.version + 1

    session.rollback()  # the save is undone
    assert read_program(session, shop.id) is first

    # A document changed without a new version (by hand) is still read as it is.
    row = session.get(LoyaltyProgram, shop.id)
    row.settings = {**row.settings, "points_per_unit": "5"}
    assert read_program(session, shop.id).points_per_unit == 5


def test_locking_a_shopper_makes_them_a_member_and_returns_their_balance(shop, customer,
                                                                         other_shop, session):
    assert ledger.lock_member(session, shop.id, customer.id) == 0
    assert session.get(LoyaltyMember, customer.id) is not None
    ledger.append(session, shop.id, ledger.NewEntry(
        customer_id=customer.id, kind="earn", points=70, reason="Order", source="order",
        key="order:1:purchase"))
    assert ledger.lock_member(session, shop.id, customer.id) == 70
    with pytest.raises(LookupError):
        ledger.lock_member(session, other_shop.id, customer.id)


@pytest.mark.parametrize("kind,status", [("earn", "available"), ("pending", "pending"),
                                         ("expire", "available")])
def test_the_first_entry_of_a_shopper_enrols_them_at_its_time(shop, customer, session, kind,
                                                               status):
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    points = -5 if kind == "expire" else 40
    ledger.append(session, shop.id, ledger.NewEntry(
        customer_id=customer.id, kind=kind, points=points, status=status, reason="r",
        source="order", key=f"{kind}:1", created_at=at))
    session.commit()

    member = session.execute(select(LoyaltyMember).where(
        LoyaltyMember.customer_id == customer.id)).scalar_one()
    assert member.enrolled_at == at and member.shop_id == shop.id
    assert member.pending_points == (40 if status == "pending" else 0)
    assert member.lifetime_points == (40 if kind in ("earn", "pending") else 0)
    assert member.last_activity_at == (at if kind in ("earn", "pending") else None)
    assert ledger.balance(session, shop.id, customer.id) == (points if status == "available"
                                                             else 0)
