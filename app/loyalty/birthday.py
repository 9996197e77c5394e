"""A shopper's birthday, which they give in the rewards widget, and its bonus.

- `set_birthday` refuses a date in the future (in the store's time zone) or before 1900, and
  a change less than a year after the last one: otherwise a shopper could move their birthday
  to today every month. Saving the same date again changes nothing.
- The bonus (`birthday_points`) is awarded by the daily run (`app.loyalty.daily`) on the
  member's birthday in the store's time zone — 29 February is celebrated on 28 February in
  other years — once per year (key `birthday:<customer id>:<year>`), only while the program
  is enabled, and only if the birthday was saved at least 30 days before. A birthday saved
  without a date of saving (imported with a profile) counts as saved long ago.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, extract, or_, select, update
from sqlalchemy.orm import Session

from app import events
from app.db import utcnow
from app.loyalty import ledger, notices, writeback
from app.loyalty.models import EARN, LoyaltyMember
from app.loyalty.program import Program
from app.loyalty.tier_basis import local_date, start_of_day
from app.settings.timezone import shop_zone
from app.shops.models import Shop

_M = LoyaltyMember.__table__

EARLIEST = date(1900, 1, 1)
CHANGE_EVERY = timedelta(days=365)
# A birthday earns its bonus only if it was saved this long before the day. Without it, a
# shopper who has not yet set a birthday could set it to today and collect the bonus at once
# (and, with the once-a-year change, again in the following months): the wait makes the
# bonus a birthday present rather than a button.
SAVED_BEFORE = timedelta(days=30)


class BirthdayRefused(ValueError):
    """Why this birthday cannot be saved, as a sentence for the shopper."""


def set_birthday(session: Session, shop_id: int, customer_id: int, birthday: date, *,
                 now: datetime | None = None) -> None:
    """Save the member's birthday (raises BirthdayRefused). Does not commit."""
    now = now or utcnow()
    if isinstance(birthday, datetime):
        birthday = birthday.date()
    if not isinstance(birthday, date):
        raise BirthdayRefused("Enter your birthday as a date, for example 1990-04-21.")
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise LookupError(f"no shop {shop_id}")
    today = local_date(now, shop_zone(session, shop))
    if birthday > today:
        raise BirthdayRefused("Your birthday cannot be in the future.")
    if birthday < EARLIEST:
        raise BirthdayRefused("Enter a birthday from 1900 onwards.")
    ledger.lock_member(session, shop_id, customer_id)
    current = session.execute(select(_M.c.birthday, _M.c.birthday_set_at)
                              .where(_M.c.customer_id == customer_id)).one()
    if current.birthday == birthday:
        return
    if current.birthday is not None and current.birthday_set_at is not None \
            and now < current.birthday_set_at + CHANGE_EVERY:
        next_change = local_date(current.birthday_set_at + CHANGE_EVERY, shop_zone(session, shop))
        raise BirthdayRefused(
            "Your birthday can be changed once a year; you can change it again from "
            f"{next_change:%d %B %Y}.")
    session.execute(update(_M).where(_M.c.customer_id == customer_id)
                    .values(birthday=birthday, birthday_set_at=now))


def celebrated_on(birthday: date, year: int) -> date:
    """The day a birthday is celebrated in `year` (29 February → 28 February)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def _born_on(day: date):
    same = and_(extract("month", _M.c.birthday) == day.month,
                extract("day", _M.c.birthday) == day.day)
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        return or_(same, and_(extract("month", _M.c.birthday) == 2,
                              extract("day", _M.c.birthday) == 29))
    return same


def award(session: Session, shop: Shop, program: Program, days: list[date],
          now: datetime) -> dict[str, int]:
    """Award the bonus to members whose birthday falls on one of `days` (local dates: the
    daily run passes today, and days it missed). Does not commit. Returns {"awarded": n}."""
    counts = {"awarded": 0}
    if not program.enabled or program.birthday_points <= 0:
        return counts
    zone = shop_zone(session, shop)
    for day in days:
        saved_by = start_of_day(day, zone) - SAVED_BEFORE
        members = session.execute(
            select(_M.c.customer_id).where(
                _M.c.shop_id == shop.id, _M.c.birthday.is_not(None), _born_on(day),
                or_(_M.c.birthday_set_at.is_(None), _M.c.birthday_set_at <= saved_by))
            .order_by(_M.c.customer_id)).scalars().all()
        for customer_id in members:
            if _award_one(session, shop.id, program, customer_id, day, now):
                counts["awarded"] += 1
    return counts


def _award_one(session: Session, shop_id: int, program: Program, customer_id: int,
               day: date, now: datetime) -> bool:
    key = f"birthday:{customer_id}:{day.year}"
    entry_id = ledger.append(session, shop_id, ledger.NewEntry(
        customer_id=customer_id, kind=EARN, points=program.birthday_points,
        reason="Birthday bonus", source="rule", key=key,
        program_version=program.version or None, created_at=now))
    if entry_id is None:
        return False
    data: dict[str, Any] = {"points": program.birthday_points, "reason": "Birthday bonus",
                            "birthday": day.isoformat(),
                            "balance": ledger.balance(session, shop_id, customer_id)}
    notices.record(session, shop_id, customer_id, events.POINTS_EARNED, key, now, data)
    writeback.mark_due(session, shop_id, [customer_id])
    return True
