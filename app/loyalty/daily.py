"""The program's daily run, once per store and local day: birthday bonuses, points expiry,
then tier retention and downgrade (after the other two, which can change points earned).

`jobs.loyalty_daily.run_daily` calls `run_due` often (it is cheap when nothing is due); a
store is run at its first call after local midnight in its time zone, and
`loyalty_programs.daily_run_on` records the local date once the run is complete. A run cut
short (a crash, a deploy) runs again at the next call: every effect has a natural key or is
decided again from the data (a tier already moved is not moved twice), so running twice
changes nothing. Two runs at once are safe for the same reasons, each member being locked
while it changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.loyalty import birthday, expiry, tiers
from app.loyalty.models import LoyaltyProgram
from app.loyalty.program import read_program
from app.loyalty.tier_basis import local_date
from app.settings.timezone import shop_zone
from app.shops.models import Shop

log = logging.getLogger(__name__)

# Birthdays of days the run missed (the worker was down) are still celebrated, this far back.
CATCH_UP_DAYS = 7


@dataclass
class DayRun:
    shop_id: int
    day: date
    birthdays: dict[str, int] = field(default_factory=dict)
    expiry: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"shop_id": self.shop_id, "day": self.day.isoformat(),
                "birthdays": self.birthdays, "expiry": self.expiry, "tiers": self.tiers}


def shops_with_enabled_programs(session: Session) -> list[int]:
    with session.begin():
        return list(session.execute(
            select(Shop.id).join(LoyaltyProgram, LoyaltyProgram.shop_id == Shop.id)
            .where(Shop.status == "active", LoyaltyProgram.enabled.is_(True))
            .order_by(Shop.id)).scalars())


def run_shop(session: Session, shop_id: int, now: datetime) -> DayRun | None:
    """Run the shop's day if it is due at `now`; None if it has run today (or is gone or
    disabled). Commits each part as it goes; the day is marked done last."""
    with session.begin():
        shop = session.get(Shop, shop_id)
        row = session.get(LoyaltyProgram, shop_id)
        if shop is None or row is None or not row.enabled:
            return None
        today = local_date(now, shop_zone(session, shop))
        last = row.daily_run_on
        if last is not None and last >= today:
            return None
    run = DayRun(shop_id, today)
    first = today - timedelta(days=CATCH_UP_DAYS - 1)
    if last is not None:
        first = max(first, last + timedelta(days=1))
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    with session.begin():
        shop = session.get(Shop, shop_id)
        assert shop is not None
        run.birthdays = birthday.award(session, shop, read_program(session, shop_id), days, now)
    with session.begin():
        run.expiry = expiry.run(session, shop, read_program(session, shop_id), now)
    with session.begin():
        run.tiers = tiers.review(session, shop, read_program(session, shop_id), now)
    with session.begin():
        session.execute(update(LoyaltyProgram).where(
            LoyaltyProgram.shop_id == shop_id,
            or_(LoyaltyProgram.daily_run_on.is_(None), LoyaltyProgram.daily_run_on < today))
            # updated_at says when the settings were saved: a run is not a save.
            .values(daily_run_on=today, updated_at=LoyaltyProgram.updated_at))
    log.info("loyalty.daily_run", extra=run.as_dict())
    return run
