"""Birthdays: the dates a shopper may save, and the bonus on the day in the store's zone."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.db import db
from app.loyalty import ledger
from app.loyalty.birthday import BirthdayRefused, set_birthday
from app.loyalty.models import LedgerEntry
from app.loyalty.program import save_program
from tests.loyalty.daily_helpers import apply, customer_id, daily, person, set_up, timeline, utc


def _member(shop, key: str) -> int:
    apply(shop.id, person(key))
    return customer_id(shop.id, key)


def _save(shop, customer: int, birthday: date, now) -> None:
    set_birthday(db.session, shop.id, customer, birthday, now=now)
    db.session.commit()


def _bonuses(customer: int) -> list[str]:
    db.session.rollback()
    return list(db.session.execute(select(LedgerEntry.key).where(
        LedgerEntry.customer_id == customer, LedgerEntry.key.like("birthday:%"))
        .order_by(LedgerEntry.id)).scalars())


def test_refused_birthdays_say_why_and_change_nothing(shop):
    set_up(shop, timezone="Pacific/Auckland")
    ada = _member(shop, "ada")
    now = utc(2026, 3, 1, 9)  # 22:00 on 1 March in Auckland

    with pytest.raises(BirthdayRefused, match="cannot be in the future"):
        set_birthday(db.session, shop.id, ada, date(2026, 3, 2), now=now)
    with pytest.raises(BirthdayRefused, match="from 1900"):
        set_birthday(db.session, shop.id, ada, date(1899, 12, 31), now=now)
    # Today in Auckland is not in the future, although it is still 28 February elsewhere.
    set_birthday(db.session, shop.id, ada, date(2026, 3, 1), now=now)
    db.session.rollback()

    # A changed birthday within the year is refused.
    _save(shop, ada, date(1990, 6, 1), utc(2026, 3, 2))
    with pytest.raises(BirthdayRefused, match="once a year.*from 02 March 2027"):
        set_birthday(db.session, shop.id, ada, date(1990, 6, 2), now=utc(2026, 4, 1))
    db.session.rollback()
    _save(shop, ada, date(1990, 6, 1), utc(2026, 4, 1))  # the same date again: fine

    _save(shop, ada, date(1990, 6, 2), utc(2027, 3, 3))  # a year on: allowed
    with pytest.raises(BirthdayRefused):
        set_birthday(db.session, shop.id, ada, date(1990, 6, 3), now=utc(2027, 4, 1))


def test_the_bonus_comes_once_a_year_on_the_day_in_the_stores_zone(shop):
    set_up(shop, timezone="Asia/Tokyo", birthday_points=50)
    bob = _member(shop, "bob")
    _save(shop, bob, date(1990, 3, 15), utc(2025, 1, 1))

    daily(utc(2025, 3, 14, 14))  # 23:00 on 14 March in Tokyo
    assert _bonuses(bob) == []
    daily(utc(2025, 3, 14, 15, 30))  # 00:30 on 15 March in Tokyo, 14 March in UTC
    assert _bonuses(bob) == [f"birthday:{bob}:2025"]
    assert ledger.balance(db.session, shop.id, bob) == 50
    [earned] = timeline(bob, "points_earned")
    assert earned.data["points"] == 50 and earned.data["reason"] == "Birthday bonus"

    for day in (utc(2025, 3, 15, 12), utc(2025, 3, 16, 12)):
        daily(day)
    assert _bonuses(bob) == [f"birthday:{bob}:2025"]

    daily(utc(2026, 3, 15, 3))
    assert _bonuses(bob) == [f"birthday:{bob}:2025", f"birthday:{bob}:2026"]
    assert ledger.balance(db.session, shop.id, bob) == 100


def test_a_birthday_saved_less_than_30_days_before_earns_nothing_that_year(shop):
    set_up(shop, timezone="UTC", birthday_points=50)
    cy = _member(shop, "cy")
    _save(shop, cy, date(1985, 5, 10), utc(2026, 4, 20))  # 20 days before
    daily(utc(2026, 5, 10, 12))
    assert _bonuses(cy) == []
    daily(utc(2027, 5, 10, 12))
    assert _bonuses(cy) == [f"birthday:{cy}:2027"]


def test_29_february_is_celebrated_on_28_february_in_other_years(shop):
    set_up(shop, timezone="UTC", birthday_points=50)
    dee = _member(shop, "dee")
    _save(shop, dee, date(2000, 2, 29), utc(2026, 1, 1))

    daily(utc(2027, 2, 28, 12))
    assert _bonuses(dee) == [f"birthday:{dee}:2027"]
    daily(utc(2028, 2, 28, 12))  # 2028 has a 29 February
    assert _bonuses(dee) == [f"birthday:{dee}:2027"]
    daily(utc(2028, 2, 29, 12))
    assert _bonuses(dee) == [f"birthday:{dee}:2027", f"birthday:{dee}:2028"]


def test_a_missed_day_is_caught_up_and_a_disabled_program_awards_nothing(shop):
    set_up(shop, timezone="UTC", birthday_points=50)
    eve, fay = _member(shop, "eve"), _member(shop, "fay")
    _save(shop, eve, date(1990, 8, 1), utc(2026, 1, 1))
    _save(shop, fay, date(1990, 9, 1), utc(2026, 1, 1))
    daily(utc(2026, 7, 30, 12))
    daily(utc(2026, 8, 3, 12))  # no run on 1 August (the worker was down)
    assert _bonuses(eve) == [f"birthday:{eve}:2026"]

    save_program(db.session, shop.id, {"enabled": False})
    db.session.commit()
    daily(utc(2026, 9, 1, 12))
    assert _bonuses(fay) == []
