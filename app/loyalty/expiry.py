"""Points expiry: a member's points expire after `expiry_days` with no earning and no
spending, with a warning `expiry_warning_days` before (flows send it).

The rules, run by the daily job (`app.loyalty.daily`):

- **Inactivity** counts from `loyalty_members.last_activity_at`, which every earning or
  spending entry moves (`ledger.ACTIVITY_KINDS`); a member who never had any counts from
  enrolment. A manual adjustment, a release of pending points or an expiry is not activity.
- **What expires** is the whole available balance, less points held by a redemption the
  platform has not yet confirmed (they are being spent). Pending points do not expire: they
  are not available yet. An `expire` entry (source "expiry") takes them, under the natural
  key `expire:<customer id>:<last activity>`, so it happens once per period of inactivity
  however often the job runs; any activity starts a new period.
- **The warning** (`points_expiring`, once per period of inactivity: `expiry_warned_at`,
  cleared by activity) is published `expiry_warning_days` before, with the points, the
  moment they expire and the balance. Points never expire unwarned when warnings are on: a
  member first warned late (expiry was just switched on, or the job did not run) keeps their
  points for `expiry_warning_days` after the warning. Expiry publishes `points_expired`.
- `expiry_days` null: points never expire. A disabled program expires nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import events
from app.loyalty import ledger, notices, writeback
from app.loyalty.models import EXPIRE, LoyaltyMember
from app.loyalty.program import Program
from app.profiles.models import Customer
from app.shops.models import Shop

_M = LoyaltyMember.__table__
_C = Customer.__table__
# The daily run warns this much early rather than a day late.
WARNING_SLACK = timedelta(days=1)


def expiry_key(customer_id: int, last_activity: datetime) -> str:
    return f"expire:{customer_id}:{last_activity.isoformat()}"


def run(session: Session, shop: Shop, program: Program, now: datetime) -> dict[str, int]:
    """Warn and expire as the rules say, as of `now`. Does not commit. Returns
    {"warned": members, "expired": members, "points": points expired}."""
    counts = {"warned": 0, "expired": 0, "points": 0}
    if not program.enabled or program.expiry_days is None:
        return counts
    activity = func.coalesce(_M.c.last_activity_at, _M.c.enrolled_at)
    # The earliest inactivity that is due a warning or an expiry today.
    horizon = now - timedelta(days=program.expiry_days - program.expiry_warning_days) \
        + WARNING_SLACK
    candidates = session.execute(
        select(_M.c.customer_id).join(_C, _C.c.id == _M.c.customer_id)
        .where(_M.c.shop_id == shop.id, _C.c.points_balance > 0, activity <= horizon)
        .order_by(_M.c.customer_id)).scalars().all()
    for customer_id in candidates:
        done = _expire_or_warn(session, shop.id, program, customer_id, now)
        if done == "warned":
            counts["warned"] += 1
        elif done:
            counts["expired"] += 1
            counts["points"] += done
    return counts


def _expire_or_warn(session: Session, shop_id: int, program: Program, customer_id: int,
                    now: datetime) -> str | int | None:
    """One member, under its lock: "warned", the points expired, or None."""
    assert program.expiry_days is not None
    balance = ledger.lock_member(session, shop_id, customer_id)
    member = session.execute(select(_M.c.last_activity_at, _M.c.enrolled_at,
                                    _M.c.expiry_warned_at)
                             .where(_M.c.customer_id == customer_id)).one()
    last_activity = member.last_activity_at or member.enrolled_at
    points = balance - ledger.held_points(session, shop_id, customer_id)
    if points <= 0:
        return None
    expires_at = last_activity + timedelta(days=program.expiry_days)
    warn_days = timedelta(days=program.expiry_warning_days)
    if program.expiry_warning_days:
        warned = member.expiry_warned_at
        if warned is None or warned < last_activity:
            if now < expires_at - warn_days - WARNING_SLACK:
                return None
            expires_at = max(expires_at, now + warn_days)
            _warn(session, shop_id, customer_id, last_activity, points, balance, expires_at,
                  now)
            return "warned"
        expires_at = max(expires_at, warned + warn_days)
    if now < expires_at:
        return None
    key = expiry_key(customer_id, last_activity)
    since = last_activity.date().isoformat()
    entry_id = ledger.append(session, shop_id, ledger.NewEntry(
        customer_id=customer_id, kind=EXPIRE, points=-points, source="expiry", key=key,
        reason=f"{points:,} points expired: none earned or spent since {since}",
        program_version=program.version or None, created_at=now))
    if entry_id is None:
        return None  # expired already for this period of inactivity
    data: dict[str, Any] = {"points": points, "balance": balance - points,
                            "last_activity_at": last_activity.isoformat(),
                            "expired_at": now.isoformat()}
    notices.record(session, shop_id, customer_id, events.POINTS_EXPIRED, key, now, data)
    writeback.mark_due(session, shop_id, [customer_id])
    return points


def _warn(session: Session, shop_id: int, customer_id: int, last_activity: datetime,
          points: int, balance: int, expires_at: datetime, now: datetime) -> None:
    data = {"points": points, "balance": balance, "expires_at": expires_at.isoformat(),
            "days_left": max(0, (expires_at - now).days),
            "last_activity_at": last_activity.isoformat()}
    notices.record(session, shop_id, customer_id, events.POINTS_EXPIRING,
                   f"expiring:{customer_id}:{last_activity.isoformat()}", now, data)
    session.execute(update(_M).where(_M.c.customer_id == customer_id)
                    .values(expiry_warned_at=now))
