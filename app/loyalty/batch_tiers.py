"""Tier entry for a run of order events, set-based (`app.loyalty.batch`).

`tier_entry.enter_on_event` measures each shopper's figure at their event's moment and moves
them up when it meets a higher tier. Here the figures of the whole run are one grouped query
(each shopper over their own window) and the current tiers one more; the shoppers whose tier
rises are locked, measured again under the lock (as `tiers.enter` does) and moved up
together, with what `tiers.change_tier` records for each.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.orm import Session

from app import events
from app.loyalty import writeback
from app.loyalty.batch_earning import lock_members
from app.loyalty.models import LedgerEntry, LoyaltyMember, TierChange
from app.loyalty.notices import record_many
from app.loyalty.program import Program, Tier
from app.loyalty.tier_basis import (
    CHUNK,
    basis_query,
    current_window,
    qualifying,
    rank,
    value_string,
)
from app.loyalty.tiers import Context, Standing
from app.loyalty.tiers import _reason as tier_reason
from app.profiles.models import Customer, Order
from app.shops.models import Shop

_O = Order.__table__
_L = LedgerEntry.__table__
_M = LoyaltyMember.__table__
_C = Customer.__table__
_X = TierChange.__table__
ZERO = Decimal("0")


def enter_run(session: Session, shop: Shop, program: Program,
              moments: dict[int, datetime]) -> None:
    """Move up every shopper of `moments` (customer id → their event's moment) whose figure
    then meets a higher tier than theirs."""
    if not moments:
        return
    ids = sorted(moments)
    current = dict(session.execute(select(_M.c.customer_id, _M.c.tier).where(
        _M.c.customer_id.in_(ids), _M.c.shop_id == shop.id)).all())
    ctx = Context(session, shop, program)
    windows = {cid: current_window(program.tier_period, moments[cid], ctx.zone) for cid in ids}
    figures = _all_figures(session, shop.id, program.tier_basis, windows)
    risers = [cid for cid in ids
              if _rise(program, current.get(cid), figures.get(cid, ZERO)) is not None]
    if not risers:
        return
    # Again under the members' locks (as `tiers.enter`): the figure may have moved since.
    locked = lock_members(session, shop.id, risers)
    figures = _all_figures(session, shop.id, program.tier_basis,
                           {cid: windows[cid] for cid in risers})
    changes = []
    for cid in risers:
        from_tier = locked[cid][0]
        value = figures.get(cid, ZERO)
        to = _rise(program, from_tier, value)
        if to is not None:
            changes.append((cid, from_tier, to, Standing(value, to, windows[cid].words)))
    _change(session, ctx, changes, moments)


def _rise(program: Program, tier: str | None, value: Decimal) -> Tier | None:
    """The tier `value` meets when it is higher than `tier` (entry only moves up)."""
    met = qualifying(program, value)
    if met is not None and rank(program, met.name) > rank(program, tier):
        return met
    return None


def _change(session: Session, ctx: Context, changes: list, moments: dict[int, datetime]
            ) -> None:
    """`tiers.change_tier` for every (customer id, from, to, standing) of `changes`: the
    changes recorded, members and profiles moved, `tier_changed` facts published, the
    members marked for the write-back; a statement per table for all of them."""
    if not changes:
        return
    shop_id, program = ctx.shop.id, ctx.program
    rows = [{"shop_id": shop_id, "customer_id": cid, "from_tier": from_tier,
             "to_tier": to.name, "reason": tier_reason(ctx, from_tier, to, standing),
             "basis_value": standing.value, "occurred_at": moments[cid]}
            for cid, from_tier, to, standing in changes]
    change_ids = dict(session.execute(insert(_X).returning(_X.c.customer_id, _X.c.id),
                                      rows).all())
    ids = sorted(change_ids)
    new_tier = case(*[(_M.c.customer_id == r["customer_id"], r["to_tier"]) for r in rows])
    since = case(*[(_M.c.customer_id == r["customer_id"], r["occurred_at"]) for r in rows])
    session.execute(update(_M).where(_M.c.customer_id.in_(ids), _M.c.shop_id == shop_id)
                    .values(tier=new_tier, tier_since=since))
    session.execute(update(_C).where(_C.c.id.in_(ids), _C.c.shop_id == shop_id).values(
        tier=case(*[(_C.c.id == r["customer_id"], r["to_tier"]) for r in rows])))
    facts = []
    for row in rows:
        from_tier = row["from_tier"]
        gone = from_tier is not None and program.tier_named(from_tier) is None
        facts.append((row["customer_id"], f"tier-change:{change_ids[row['customer_id']]}",
                      row["occurred_at"], {
                          "from": from_tier, "to": row["to_tier"],
                          "direction": "changed" if gone else "up", "reason": row["reason"],
                          "basis": program.tier_basis,
                          "value": value_string(program.tier_basis, row["basis_value"])}))
    record_many(session, shop_id, events.TIER_CHANGED, facts)
    writeback.mark_due(session, shop_id, ids)


def _all_figures(session: Session, shop_id: int, basis: str, windows: dict
                 ) -> dict[int, Decimal]:
    ids = sorted(windows)
    figures: dict[int, Decimal] = {}
    for i in range(0, len(ids), CHUNK):
        figures.update(_figures(session, shop_id, basis,
                                {cid: windows[cid] for cid in ids[i:i + CHUNK]}))
    return figures


def _figures(session: Session, shop_id: int, basis: str, windows: dict) -> dict[int, Decimal]:
    """`tier_basis.values` for several shoppers, each over their own window."""
    query, who, when = basis_query(shop_id, basis)
    each = []
    for cid, window in windows.items():
        inside = [who == cid, when < window.before]
        if window.start is not None:
            inside.append(when >= window.start)
        each.append(and_(*inside))
    rows = session.execute(query.where(who.in_(sorted(windows)), or_(*each))
                           .group_by(who)).all()
    return {cid: Decimal(total or 0) for cid, total in rows}
