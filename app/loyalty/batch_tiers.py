"""Tier entry for a run of order events, set-based (`app.loyalty.batch`).

`tier_entry.enter_on_event` measures each shopper's figure at their event's moment and moves
them up when it meets a higher tier. Here the figures of the whole run are one grouped query
(each shopper over their own window) and the current tiers one more; only the shoppers whose
tier rises go through `tiers.enter`, which checks again under the member's lock and records
the change.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.loyalty.ledger import EARNED_KINDS
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.loyalty.program import Program
from app.loyalty.tier_basis import CHUNK, current_window, qualifying, rank
from app.loyalty.tiers import enter
from app.profiles.figures import counted_order
from app.profiles.models import Order
from app.profiles.timeline import PAID_STATES
from app.settings.timezone import shop_zone
from app.shops.models import Shop

_O = Order.__table__
_L = LedgerEntry.__table__
_M = LoyaltyMember.__table__


def enter_run(session: Session, shop: Shop, program: Program,
              moments: dict[int, datetime]) -> None:
    """Move up every shopper of `moments` (customer id → their event's moment) whose figure
    then meets a higher tier than theirs."""
    if not moments:
        return
    ids = sorted(moments)
    current = dict(session.execute(select(_M.c.customer_id, _M.c.tier).where(
        _M.c.customer_id.in_(ids), _M.c.shop_id == shop.id)).all())
    zone = shop_zone(session, shop)
    windows = {cid: current_window(program.tier_period, moments[cid], zone) for cid in ids}
    figures: dict[int, Decimal] = {}
    for i in range(0, len(ids), CHUNK):
        figures.update(_figures(session, shop.id, program.tier_basis,
                                {cid: windows[cid] for cid in ids[i:i + CHUNK]}))
    for cid in ids:
        met = qualifying(program, figures.get(cid, Decimal("0")))
        if met is not None and rank(program, met.name) > rank(program, current.get(cid)):
            enter(session, shop, program, cid, moments[cid])


def _figures(session: Session, shop_id: int, basis: str, windows: dict) -> dict[int, Decimal]:
    """`tier_basis.values` for several shoppers, each over their own window."""
    if basis == "spend":
        who, when = _O.c.customer_id, _O.c.placed_at
        query = (select(who, func.sum(_O.c.total_price - _O.c.total_refunded))
                 .where(_O.c.shop_id == shop_id, counted_order(_O.c),
                        _O.c.financial_status.in_(sorted(PAID_STATES))))
    else:
        who, when = _L.c.customer_id, _L.c.created_at
        query = (select(who, func.sum(_L.c.points))
                 .where(_L.c.shop_id == shop_id, _L.c.kind.in_(EARNED_KINDS)))
    each = []
    for cid, window in windows.items():
        inside = [who == cid, when < window.before]
        if window.start is not None:
            inside.append(when >= window.start)
        each.append(and_(*inside))
    rows = session.execute(query.where(who.in_(sorted(windows)), or_(*each))
                           .group_by(who)).all()
    return {cid: Decimal(total or 0) for cid, total in rows}
