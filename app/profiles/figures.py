"""Per-customer figures: orders count, total spent net of refunds, first/last order, AOV.

Figures are always recomputed from the stored orders, never incremented, so they come out
right whatever order deliveries arrive in. `refresh_customer_figures` does it for the
profiles a batch touched (`ProfileStore.finish`); a history import defers them and runs
`refresh_all_customer_figures` once at the end.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import and_, case, false, func, or_, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.profiles.models import Customer, Order
from app.profiles.writer import among_values, lock_shop

_C = Customer.__table__
_O = Order.__table__


def counted_order(order=Order):
    """Orders that count towards a customer's figures (and the store's, app.analytics): not
    cancelled, not voided, not a test order (a merchant trying their checkout buys nothing)."""
    return and_(
        order.cancelled_at.is_(None),
        or_(order.financial_status.is_(None), order.financial_status != "voided"),
        order.test.is_(false()),
    )


def refresh_customer_figures(session: Session, shop_id: int, customer_ids: set[int]) -> None:
    """Recompute orders_count, total_spent (net of refunds), first/last order and AOV.

    Correlated subqueries, one index range scan of a customer's orders each: the plan stays
    good whatever the planner's statistics say (a batch often lands in freshly filled tables).
    """
    conn = session.connection()
    mine = and_(_O.c.customer_id == _C.c.id, counted_order(_O.c))
    count = select(func.count(_O.c.id)).where(mine).scalar_subquery()
    spent = select(
        func.coalesce(func.sum(_O.c.total_price - _O.c.total_refunded), 0)
    ).where(mine).scalar_subquery()
    for among in among_values(conn, _C.c.id, customer_ids):
        conn.execute(
            update(_C)
            .where(_C.c.shop_id == shop_id, among)
            .values(
                orders_count=count,
                total_spent=spent,
                first_order_at=select(func.min(_O.c.placed_at)).where(mine).scalar_subquery(),
                last_order_at=select(func.max(_O.c.placed_at)).where(mine).scalar_subquery(),
                updated_at=utcnow(),
            )
        )
        conn.execute(
            update(_C)
            .where(_C.c.shop_id == shop_id, among)
            .values(average_order_value=case(
                (_C.c.orders_count > 0, _C.c.total_spent / _C.c.orders_count), else_=None,
            ))
        )


def _refresh_figures_in_range(session: Session, shop_id: int, low: int, high: int) -> None:
    """Figures for the shop's profiles with ids in [low, high]: one aggregate over their
    orders feeding an UPDATE ... FROM, then a reset of those left with no counted order."""
    conn = session.connection()
    now = utcnow()
    figures = (
        select(_O.c.customer_id.label("cid"), func.count(_O.c.id).label("n"),
               func.sum(_O.c.total_price - _O.c.total_refunded).label("spent"),
               func.min(_O.c.placed_at).label("first"), func.max(_O.c.placed_at).label("last"))
        .where(_O.c.shop_id == shop_id, _O.c.customer_id.between(low, high),
               counted_order(_O.c))
        .group_by(_O.c.customer_id)
        .subquery()
    )
    conn.execute(
        update(_C).where(_C.c.shop_id == shop_id, _C.c.id == figures.c.cid)
        .values(orders_count=figures.c.n, total_spent=figures.c.spent,
                first_order_at=figures.c.first, last_order_at=figures.c.last,
                average_order_value=figures.c.spent / figures.c.n, updated_at=now)
    )
    conn.execute(
        update(_C).where(
            _C.c.shop_id == shop_id, _C.c.id.between(low, high),
            ~select(_O.c.id).where(_O.c.customer_id == _C.c.id, counted_order(_O.c)).exists(),
            or_(_C.c.orders_count != 0, _C.c.total_spent != 0, _C.c.first_order_at.is_not(None)),
        ).values(orders_count=0, total_spent=Decimal("0"), first_order_at=None,
                 last_order_at=None, average_order_value=None, updated_at=now)
    )


def refresh_all_customer_figures(session: Session, shop_id: int, *, chunk: int = 5000,
                                 progress=None) -> int:
    """Recompute every profile's figures, a range of ids at a time; returns how many.

    For after a history import (ProfileStore `defer_figures`), on fresh planner statistics.
    Commits nothing itself; `progress(n)` is called after each range with its size."""
    last_id = 0
    total = 0
    while True:
        ids = session.execute(
            select(_C.c.id).where(_C.c.shop_id == shop_id, _C.c.id > last_id)
            .order_by(_C.c.id).limit(chunk)
        ).scalars().all()
        if not ids:
            return total
        lock_shop(session, shop_id)
        _refresh_figures_in_range(session, shop_id, ids[0], ids[-1])
        last_id = ids[-1]
        total += len(ids)
        if progress is not None:
            progress(len(ids))
