"""RFM: recency, frequency and monetary scores 1-5 by quintile within a shop, and the named
segment they land in (the rule table: app/profiles/rfm_rules.py).

Who is scored: the shop's profiles, not deleted, with at least one counted order
(`app.profiles.figures.counted_order`: not cancelled, voided or a test). Their figures on
`customers` already follow those rules, so the dimensions are read from there:

- recency   = whole days from the last order to the moment of scoring (`as_of`); fewer is
              better: 5 = most recent;
- frequency = `orders_count`; monetary = `total_spent` (net of refunds).

The quintile rule (ties always share a score): a customer's score is

    1 + floor(5 * below / n)

where n is the number of customers scored and `below` the number of them with a strictly
worse value (for recency: strictly more days). The lowest value always scores 1 and equal
values score the same, whatever their number; a score is reached only when at least a
fifth, two fifths, ... of the store is strictly below it. So a store with fewer than 5
distinct values uses fewer than 5 scores: if every customer has one order, all have F 1;
if 70% have one order and 30% two, the one-order customers score 1 and the two-order ones
1 + floor(5 * 0.7) = 4. (ntile would split equal values over different scores.)

The rule is stored as cut points (`rfm_cutoffs`, one row per shop): score s (2-5) is reached
by the smallest value (recency: the most days) that has at least (s - 1) fifths of the store
strictly below it; a score reached by nobody has no cut point. A customer's score is then the
number of cut points their value reaches, plus one: for a customer among those counted this
is exactly the formula above, and it lets `rescore_customers` score customers whose orders
changed against the stored cut points without ranking the whole store again. Their recency
is counted to the same `as_of` (an order placed after it counts as 0 days, the most recent).

Keeping current: the "analytics.rfm" domain-event subscriber (app/analytics/rfm_subscriber.py)
rescores the customers of each order and refund event; a periodic job
(jobs/analytics_rfm.py) recomputes each store's cut points and scores daily, since recency
ages with the clock. `refresh_shop` is set-based: three GROUP BY + window queries give the cut
points and one UPDATE writes the scores of the customers whose scores changed, on
PostgreSQL and SQLite alike (SQLite >= 3.25, for window functions). Neither function commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from app.analytics.rfm_models import RfmCutoffs
from app.db import UTCDateTime, insert_for, utcnow
from app.profiles.models import Customer
from app.profiles.rfm_rules import (
    DESCRIPTIONS,
    GRID,
    SEGMENTS,
    canonical_segment,
    fm_score,
    segment_for,
)
from app.profiles.writer import among_values
from app.shops.models import Shop

__all__ = ["DESCRIPTIONS", "SEGMENTS", "canonical_segment", "fm_score", "segment_for",
           "refresh_shop", "rescore_customers", "shops_due", "DIMENSIONS", "REFRESH_EVERY"]

_C = Customer.__table__
_K = RfmCutoffs.__table__
DIMENSIONS = ("recency", "frequency", "monetary")
# A store's cut points are recomputed when older than this (recency ages with the clock).
REFRESH_EVERY = timedelta(hours=24)
# A store never scored is scored whole by the first order event when it has at most this many
# buyers (a fraction of a second); a bigger one waits for the periodic refresh.
INLINE_REFRESH_BUYERS = 20_000


class whole_days(FunctionElement):  # noqa: N801 - used like a SQL function
    """`whole_days(later, earlier)`: the whole days from `earlier` to `later` (rounded down;
    negative when `earlier` is later), on both backends."""

    type = Integer()
    inherit_cache = True
    name = "whole_days"


@compiles(whole_days)
def _whole_days_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    # date_part is double precision (extract is numeric since PostgreSQL 14, and slower).
    return f"CAST(floor(date_part('epoch', {later} - {earlier}) / 86400) AS INTEGER)"


@compiles(whole_days, "sqlite")
def _whole_days_sqlite(element, compiler, **kw):
    # SQLite stores datetimes as text: julianday, in whole milliseconds so that exactly n
    # days is n (a double's rounding must not make it n - 1).
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return (f"(CAST(round((julianday({later}) - julianday({earlier})) * 86400000) AS INTEGER)"
            " / 86400000)")


def _days_since_last_order(as_of: datetime) -> ColumnElement:
    return whole_days(literal(as_of, UTCDateTime()), _C.c.last_order_at)


def scored(shop_id: int) -> ColumnElement[bool]:
    """The shop's customers that get scores: not deleted, with a counted order."""
    return and_(_C.c.shop_id == shop_id, _C.c.deleted_at.is_(None), _C.c.orders_count > 0,
                _C.c.last_order_at.is_not(None))


def _cut_points(conn: Connection, shop_id: int, value: ColumnElement, *,
                fewer_is_better: bool) -> tuple[int, list[Any]]:
    """(customers counted, [cut point of score 2, 3, 4, 5]) of one dimension: its distinct
    values with their counts (GROUP BY), a running sum of the counts in order of quality
    (window) giving each value the number strictly worse, then per score the first value
    with enough below it."""
    values = select(value.label("v")).where(scored(shop_id)).subquery()
    grouped = (select(values.c.v, func.count().label("c")).group_by(values.c.v)).subquery()
    order = grouped.c.v.desc() if fewer_is_better else grouped.c.v.asc()
    ranked = select(grouped.c.v,
                    (func.sum(grouped.c.c).over(order_by=order) - grouped.c.c).label("below"),
                    func.sum(grouped.c.c).over().label("n")).subquery()
    first = func.max if fewer_is_better else func.min
    row = conn.execute(select(
        func.max(ranked.c.n),
        *[first(case((ranked.c.below * 5 >= k * ranked.c.n, ranked.c.v))) for k in (1, 2, 3, 4)],
    )).one()
    return int(row[0] or 0), list(row[1:])


def _score(value: ColumnElement, cuts: list[Any]) -> ColumnElement:
    """1 + the number of cut points `value` reaches (at least the cut; they rise with the
    score, and a missing one, never reached, is at the top)."""
    whens = [(value >= cut, score)
             for score, cut in sorted(zip((2, 3, 4, 5), cuts, strict=True), reverse=True)
             if cut is not None]
    return case(*whens, else_=1) if whens else literal(1)


def _recency_score(as_of: datetime, cuts: list[Any]) -> ColumnElement:
    """The recency score without date arithmetic in SQL: whole days since the last order
    at most c  <=>  the last order after `as_of` - (c + 1) days."""
    whens = [(_C.c.last_order_at > as_of - timedelta(days=cut + 1), score)
             for score, cut in sorted(zip((2, 3, 4, 5), cuts, strict=True), reverse=True)
             if cut is not None]
    return case(*whens, else_=1) if whens else literal(1)


def segment_case(r: ColumnElement, f: ColumnElement, m: ColumnElement) -> ColumnElement:
    """`segment_for` in SQL: a simple CASE on r * 16 + f + m (one value per R and F + M),
    which the database evaluates once per row however many branches the table has."""
    return case({score * 16 + total: row[total // 2 - 1]
                 for score, row in GRID.items() for total in range(2, 11)},
                value=r * 16 + f + m)


def _apply(conn: Connection, shop_id: int, cuts: RfmCutoffs | dict, now: datetime,
           among: ColumnElement[bool]) -> tuple[int, int]:
    """Score the shop's customers matched by `among` against `cuts`, writing only those
    whose scores change; clear those no longer scored. Returns (changed, cleared).

    One UPDATE reading each row's own columns (no join): the scores are short CASEs on
    `last_order_at`, `orders_count` and `total_spent`, the segment a CASE on them."""
    get = cuts.get if isinstance(cuts, dict) else lambda name: getattr(cuts, name)
    r = _recency_score(get("as_of"), [get(f"recency_cut_{s}") for s in (2, 3, 4, 5)])
    f = _score(_C.c.orders_count, [get(f"frequency_cut_{s}") for s in (2, 3, 4, 5)])
    m = _score(_C.c.total_spent, [get(f"monetary_cut_{s}") for s in (2, 3, 4, 5)])
    segment = segment_case(r, f, m)
    changed = conn.execute(
        update(_C).where(scored(shop_id), among, or_(
            _C.c.rfm_recency.is_distinct_from(r), _C.c.rfm_frequency.is_distinct_from(f),
            _C.c.rfm_monetary.is_distinct_from(m), _C.c.rfm_segment.is_distinct_from(segment)))
        .values(rfm_recency=r, rfm_frequency=f, rfm_monetary=m, rfm_segment=segment,
                rfm_scored_at=now)
    ).rowcount
    cleared = conn.execute(
        update(_C).where(_C.c.shop_id == shop_id, among, not_(scored(shop_id)),
                         or_(_C.c.rfm_recency.is_not(None), _C.c.rfm_segment.is_not(None)))
        .values(rfm_recency=null(), rfm_frequency=null(), rfm_monetary=null(),
                rfm_segment=null(), rfm_scored_at=now)
    ).rowcount
    return changed, cleared


def refresh_shop(session: Session, shop_id: int, *, now: datetime | None = None) -> dict:
    """Recompute the shop's cut points as of `now` (default: the clock) and every customer's
    scores and segment. Set-based; writes only the customers whose scores change. Returns
    {"shop_id", "customers_scored", "changed", "cleared", "as_of"}. Does not commit."""
    now = now or utcnow()
    conn = session.connection()
    n, recency = _cut_points(conn, shop_id, _days_since_last_order(now), fewer_is_better=True)
    _, frequency = _cut_points(conn, shop_id, _C.c.orders_count, fewer_is_better=False)
    _, monetary = _cut_points(conn, shop_id, _C.c.total_spent, fewer_is_better=False)
    row: dict[str, Any] = {"shop_id": shop_id, "as_of": now, "computed_at": now,
                           "customers_scored": n}
    for dimension, cuts in (("recency", recency), ("frequency", frequency),
                            ("monetary", monetary)):
        row.update({f"{dimension}_cut_{s}": cut for s, cut in zip((2, 3, 4, 5), cuts,
                                                                   strict=True)})
    conn.execute(insert_for(session, _K).values(**row).on_conflict_do_update(
        index_elements=["shop_id"], set_={k: v for k, v in row.items() if k != "shop_id"}))
    changed, cleared = _apply(conn, shop_id, row, now, true())
    session.expire_all()  # customers loaded before see their new scores
    return {"shop_id": shop_id, "customers_scored": n, "changed": changed,
            "cleared": cleared, "as_of": now.isoformat()}


def rescore_customers(session: Session, shop_id: int, customer_ids: Iterable[int],
                      now: datetime | None = None) -> dict:
    """Score these customers of the shop against its stored cut points (their figures have
    changed). A shop never scored is refreshed whole instead when it is small (up to
    INLINE_REFRESH_BUYERS buyers); a larger one is left to the periodic refresh
    (`shops_due`), so that no event's transaction rewrites a big store's customers. Does
    not commit."""
    ids = {int(i) for i in customer_ids}
    if not ids:
        return {"shop_id": shop_id, "changed": 0, "cleared": 0}
    cuts = session.get(RfmCutoffs, shop_id)
    if cuts is None:
        buyers = session.execute(select(func.count()).select_from(
            select(_C.c.id).where(_C.c.shop_id == shop_id, _C.c.orders_count > 0)
            .limit(INLINE_REFRESH_BUYERS + 1).subquery())).scalar_one()
        if buyers > INLINE_REFRESH_BUYERS:
            return {"shop_id": shop_id, "changed": 0, "cleared": 0,
                    "deferred": "not scored yet: the periodic refresh scores the store"}
        return refresh_shop(session, shop_id, now=now)
    now = now or utcnow()
    conn = session.connection()
    changed = cleared = 0
    for among in among_values(conn, _C.c.id, ids):
        c, d = _apply(conn, shop_id, cuts, now, among)
        changed, cleared = changed + c, cleared + d
    return {"shop_id": shop_id, "changed": changed, "cleared": cleared}


def shops_due(session: Session, now: datetime | None = None) -> list[int]:
    """Installed shops whose cut points are older than REFRESH_EVERY, or that have never
    been scored but have a customer to score. One query; cheap when every store is recent.
    An uninstalled store keeps its scores as they were (nothing new arrives)."""
    now = now or utcnow()
    shops = Shop.__table__
    never = and_(
        ~exists().where(_K.c.shop_id == shops.c.id),
        exists().where(_C.c.shop_id == shops.c.id, _C.c.orders_count > 0),
    )
    stale = exists().where(_K.c.shop_id == shops.c.id, _K.c.computed_at < now - REFRESH_EVERY)
    return list(session.execute(
        select(shops.c.id).where(shops.c.status != "uninstalled", or_(never, stale))
        .order_by(shops.c.id)).scalars())
