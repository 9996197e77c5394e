"""Tiers: entry when a member crosses a threshold, daily retention and downgrade.

A member's tier is measured on the program's basis over its period (`app.loyalty.tier_basis`:
money spent on paid orders net of refunds, or points earned — never the spendable balance).

**Entry** happens on the event that crosses a threshold (an order paid or fulfilled, a
sign-up), once earning has run for it (`app.loyalty.tier_entry`, listed in
`app/loyalty/handlers.py` after the earning module): the member moves up at once. The order
that crosses the threshold earns at the tier it was placed in; the new multiplier applies
from the next award. An event never moves a member down.

**Retention and downgrade** are decided by the daily run (`review`, from
`app.loyalty.daily`), in the store's time zone:

- "rolling_12_months": the member holds the highest tier that the last 12 months meet. A tier
  reached mid-year is lost on the day its qualifying orders leave the window, and a refund or
  cancellation that brings the figure below the threshold moves the member down on the next
  daily run (never mid-day, on the refund itself).
- "calendar_year": a tier reached in year Y is kept through 31 December of Y+1. The member
  holds the higher of the tiers met by this year's figure and by last year's whole year.
- "lifetime": a tier is never lost, refunds included.

A program whose tiers were edited: a member on a tier the program no longer has (renamed or
removed) is placed, at the next daily run, in the tier their figure qualifies for (under
"lifetime" as well) — or sooner, by an event that qualifies them for one.

Every profile of the store counts, not only those that have earned points: orders imported
with the store's history count towards a spend tier (they award no points), so a merchant's
best customers have their tier from the first daily run after the program is enabled.

Every change writes a `TierChange` (from, to, the reason in words, the figure), sets
`loyalty_members.tier`/`tier_since` (the earning module reads the multiplier from there) and
the profile's `customers.tier`, puts a `tier_changed` fact on the timeline (published for
flows) and marks the member for the platform write-back. A disabled program moves no one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import events
from app.db import utcnow
from app.loyalty import notices, writeback
from app.loyalty.ledger import lock_member
from app.loyalty.models import LoyaltyMember, TierChange
from app.loyalty.program import Program, Tier
from app.loyalty.tier_basis import (
    amount_text,
    current_window,
    figure_text,
    higher,
    previous_year_window,
    qualifying,
    rank,
    threshold_text,
    value_string,
    values,
)
from app.profiles.models import Customer
from app.settings.timezone import shop_zone
from app.shops.models import Shop

_M = LoyaltyMember.__table__
_C = Customer.__table__
ZERO = Decimal("0")


@dataclass(frozen=True)
class Standing:
    """Where a member stands at `as_of`: the figure of the current period, the tier it meets,
    and (calendar year) last year's figure and tier."""

    value: Decimal
    met: Tier | None
    words: str
    last_year_value: Decimal | None = None
    last_year_met: Tier | None = None
    last_year_words: str = ""


class Context:
    """What evaluating one shop needs, read once."""

    def __init__(self, session: Session, shop: Shop, program: Program) -> None:
        self.shop = shop
        self.program = program
        self.zone: ZoneInfo = shop_zone(session, shop)
        self.currency = shop.currency or "USD"

    def standings(self, session: Session, as_of: datetime, customer_ids: list[int] | None,
                  fill: Iterable[int] = ()) -> dict[int, Standing]:
        """Standings of `customer_ids` (None: everyone with a figure), and of the members in
        `fill` (no figure: zero)."""
        program = self.program
        window = current_window(program.tier_period, as_of, self.zone)
        now_values = values(session, self.shop.id, program.tier_basis, window, customer_ids)
        last: dict[int, Decimal] = {}
        last_window = None
        if program.tier_period == "calendar_year":
            last_window = previous_year_window(as_of, self.zone)
            last = values(session, self.shop.id, program.tier_basis, last_window, customer_ids)
        ids = set(now_values) | set(last) | set(customer_ids or ()) | set(fill)
        out = {}
        for cid in ids:
            value = now_values.get(cid, ZERO)
            standing = Standing(value, qualifying(program, value), window.words)
            if last_window is not None:
                prior = last.get(cid, ZERO)
                standing = Standing(value, standing.met, window.words, prior,
                                    qualifying(program, prior), last_window.words)
            out[cid] = standing
        return out

    def standing(self, session: Session, customer_id: int, as_of: datetime) -> Standing:
        return self.standings(session, as_of, [customer_id])[customer_id]


# --- deciding ------------------------------------------------------------------------------


def daily_target(ctx: Context, current: str | None, standing: Standing) -> Tier | None:
    """The tier the retention rules give the member today (see the module's rules)."""
    program = ctx.program
    if program.tier_period == "calendar_year":
        return higher(program, standing.met, standing.last_year_met)
    if program.tier_period == "lifetime":
        return higher(program, standing.met, program.tier_named(current))
    return standing.met


def _reason(ctx: Context, current: str | None, to: Tier | None, standing: Standing) -> str:
    program, basis, cur = ctx.program, ctx.program.tier_basis, ctx.currency
    figure = f"{figure_text(basis, standing.value, cur)} {standing.words}"
    gone = current is not None and program.tier_named(current) is None
    if gone:
        return (f"{current} is no longer a tier of the program; {figure} "
                + (f"meets {to.name} ({threshold_text(basis, to, cur)})" if to
                   else "meets no tier"))
    if rank(program, to.name if to else None) > rank(program, current):
        assert to is not None
        if standing.met is not None and standing.met.name == to.name:
            return f"Reached {to.name}: {figure} (needs {threshold_text(basis, to, cur)})"
        return (f"Reached {to.name}: {figure_text(basis, standing.last_year_value or ZERO, cur)}"
                f" {standing.last_year_words}, kept through this year")
    left = program.tier_named(current)
    assert left is not None
    if program.tier_period == "calendar_year":
        figure += (f" and {amount_text(basis, standing.last_year_value or ZERO, cur)} "
                   f"{standing.last_year_words}")
    moved = f"Moved from {left.name} to {to.name}" if to else f"Left {left.name}"
    return f"{moved}: {figure}, below {left.name}'s {threshold_text(basis, left, cur)}"


def change_tier(session: Session, ctx: Context, customer_id: int, current: str | None,
                to: Tier | None, standing: Standing, at: datetime) -> int:
    """Record and apply one change (the member is locked by the caller). Returns the
    TierChange's id."""
    shop_id = ctx.shop.id
    reason = _reason(ctx, current, to, standing)
    to_name = to.name if to else None
    change = TierChange(shop_id=shop_id, customer_id=customer_id, from_tier=current,
                        to_tier=to_name, reason=reason, basis_value=standing.value,
                        occurred_at=at)
    session.add(change)
    session.flush()
    session.execute(update(_M).where(_M.c.customer_id == customer_id, _M.c.shop_id == shop_id)
                    .values(tier=to_name, tier_since=at))
    session.execute(update(_C).where(_C.c.id == customer_id, _C.c.shop_id == shop_id)
                    .values(tier=to_name))
    if current is not None and ctx.program.tier_named(current) is None:
        direction = "changed"  # from a tier the program no longer has
    else:
        up = rank(ctx.program, to_name) > rank(ctx.program, current)
        direction = "up" if up else "down"
    notices.record(session, shop_id, customer_id, events.TIER_CHANGED,
                   f"tier-change:{change.id}", at, {
                       "from": current, "to": to_name, "direction": direction,
                       "reason": reason, "basis": ctx.program.tier_basis,
                       "value": value_string(ctx.program.tier_basis, standing.value)})
    writeback.mark_due(session, shop_id, [customer_id])
    return change.id


def _current_tier(session: Session, shop_id: int, customer_id: int) -> str | None:
    return session.execute(select(_M.c.tier).where(
        _M.c.customer_id == customer_id, _M.c.shop_id == shop_id)).scalar()


# --- entry ---------------------------------------------------------------------------------


def raised(session: Session, ctx: Context, customer_id: int, as_of: datetime) -> Tier | None:
    """The higher tier the member's figure at `as_of` meets, if any (entry only moves up)."""
    current = _current_tier(session, ctx.shop.id, customer_id)
    met = ctx.standing(session, customer_id, as_of).met
    if met is not None and rank(ctx.program, met.name) > rank(ctx.program, current):
        return met
    return None


def enter(session: Session, shop: Shop, program: Program, customer_id: int,
          as_of: datetime) -> int | None:
    """Move the member up if their figure at `as_of` meets a higher tier (an event's
    moment); returns the TierChange's id, or None. Never moves down. Does not commit."""
    ctx = Context(session, shop, program)
    if raised(session, ctx, customer_id, as_of) is None:
        return None
    lock_member(session, shop.id, customer_id)
    to = raised(session, ctx, customer_id, as_of)  # again, under the lock
    if to is None:
        return None
    current = _current_tier(session, shop.id, customer_id)
    return change_tier(session, ctx, customer_id, current, to,
                       ctx.standing(session, customer_id, as_of), as_of)


# --- retention and downgrade, daily --------------------------------------------------------


def review(session: Session, shop: Shop, program: Program, now: datetime) -> dict[str, int]:
    """Apply the retention rules to every member of the shop as of `now` (the daily run).
    Does not commit. Returns {"up": n, "down": n}."""
    counts = {"up": 0, "down": 0}
    if not program.enabled:
        return counts
    members = dict(session.execute(select(_M.c.customer_id, _M.c.tier)
                                   .where(_M.c.shop_id == shop.id)).all())
    if not program.tiers and not any(members.values()):
        return counts
    ctx = Context(session, shop, program)
    standings = ctx.standings(session, now, None, fill=members)
    for customer_id, standing in sorted(standings.items()):
        current = members.get(customer_id)
        target = daily_target(ctx, current, standing)
        if (target.name if target else None) == current:
            continue
        # Again under the lock: an event may have moved the member since the scan.
        lock_member(session, shop.id, customer_id)
        current = _current_tier(session, shop.id, customer_id)
        standing = ctx.standing(session, customer_id, now)
        target = daily_target(ctx, current, standing)
        if (target.name if target else None) == current:
            continue
        up = rank(program, target.name if target else None) > rank(program, current)
        change_tier(session, ctx, customer_id, current, target, standing, now)
        counts["up" if up else "down"] += 1
    return counts


# --- the widget ----------------------------------------------------------------------------


def progress(session: Session, shop_id: int, customer_id: int,
             program: Program, *, as_of: datetime | None = None) -> dict[str, Any]:
    """{"tier", "next_tier", "basis", "value", "needed"}: where the member stands on the
    tier basis over the program's period, and what the next tier needs (strings for
    amounts)."""
    basis = program.tier_basis
    shop = session.get(Shop, shop_id)
    current = _current_tier(session, shop_id, customer_id)
    if shop is None or not program.tiers:
        return {"tier": current, "next_tier": None, "basis": basis, "value": None,
                "needed": None}
    ctx = Context(session, shop, program)
    standing = ctx.standing(session, customer_id, as_of or utcnow())
    place = rank(program, current)
    following = program.tiers[place + 1] if place + 1 < len(program.tiers) else None
    needed = None
    if following is not None:
        needed = value_string(basis, max(ZERO, following.threshold - standing.value))
    return {"tier": current, "next_tier": following.name if following else None,
            "basis": basis, "value": value_string(basis, standing.value), "needed": needed}
