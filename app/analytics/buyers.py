"""Who ordered in which bucket of a period, in one ordered pass, and the buckets' sums
(PostgreSQL).

The Dashboard's distinct customers per day, week or month and the series' retention (a
customer of bucket b who had ordered in bucket b − 1) both ask, per customer, which buckets
they ordered in. Grouping the orders by (customer, bucket) and then sorting those pairs per
customer costs two hash tables and a sort of about a million rows for a year of a large
store. Here each customer's buckets are one 64-bit mask (`bit_or(1 << bucket)`), grouped
from the counted-orders index in customer order (`ix_orders_counted_customer`: no hash
table, no sort), and the counts per bucket are sums of the masks' bits.

A mask holds buckets 1 to 62: longer series (a year by day) keep the statements of
`app.analytics.metrics` and `app.analytics.kpis`, which give the same counts. Same counting
rules as everywhere (`counted_order`); orders with no customer are in no mask.

The sums per bucket (`bucket_sums`) are one plain aggregate per bucket over its range of
the counted orders' index, not a GROUP BY of a computed bucket number: PostgreSQL cannot
know the number follows the index's order and would hash every order (twice as slow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    and_,
    bindparam,
    column,
    func,
    literal,
    select,
    text,
    true,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from app.analytics.periods import Period, bucket_start, next_bucket
from app.profiles.figures import counted_order
from app.profiles.models import Order

MAX_BUCKETS = 62  # bits 1..62 of a signed 64-bit integer
_O = aliased(Order, name="o")


@dataclass(frozen=True)
class RetentionBounds:
    """The buckets of a period's series with the calendar bucket before the first: bucket 1
    is the one before; when the first bucket is cut by the period (`gap`), bucket 2 is its
    days before the period (left out); the period's buckets follow (`offset` + n for its
    n-th)."""

    bounds: list[datetime]
    gap: bool

    @property
    def offset(self) -> int:
        return 2 if self.gap else 1


def retention_bounds(period: Period) -> RetentionBounds:
    starts = period.buckets()
    first_calendar = starts[0]
    before = bucket_start(first_calendar - (next_bucket(first_calendar, period.interval)
                                            - first_calendar), period.interval)
    bounds = [period.bound(before), period.bound(first_calendar)]
    gap = first_calendar < period.first_day
    if gap:
        bounds.append(period.start)
    bounds += [period.bound(s) for s in starts[1:]]
    return RetentionBounds(bounds, gap)


@dataclass
class BucketBuyers:
    """`customers[i]`: customers with an order in bucket i; `both[(i, j)]`: those with an
    order in bucket i and in bucket j; `from_bucket`: those with an order in bucket
    `first` or later. With a `Whole` asked for, `whole` holds its figures."""

    customers: dict[int, int]
    both: dict[tuple[int, int], int]
    from_bucket: int
    whole: dict[str, Any] | None = None


@dataclass(frozen=True)
class Whole:
    """A period [start, end) and the one of the same length before it, [before, start): the
    KPIs' retention of the whole period and the days between orders (`app.analytics.kpis`
    says what they mean)."""

    before: datetime
    start: datetime


def fits(bounds: list[datetime]) -> bool:
    return len(bounds) <= MAX_BUCKETS


def _days(later, earlier):
    return func.extract("epoch", later - earlier) / 86400.0


def bucket_buyers(session: Session, shop_id: int, bounds: list[datetime], end: datetime,
                  pairs: list[tuple[int, int]], first: int = 1,
                  whole: Whole | None = None) -> BucketBuyers:
    """Bucket i is [bounds[i-1], bounds[i]) (the last one ends at `end`).

    With `whole`, each customer's whole history before `end` is grouped (the index is read
    whole anyway: the time is its last column), which also gives, per customer, their last
    order before the period, their first and last in it, and whether they ordered in the
    period before: `whole` = previous_period_customers, retained_customers and gap_days
    (the sum of the days between consecutive orders whose later one is in the period: per
    customer, it telescopes to their last order in it − their order before it, or − their
    first in it when they had none before)."""
    assert fits(bounds)
    numbers = bindparam(None, bounds, type_=ARRAY(DateTime(timezone=True)))
    bit = literal(1, BigInteger).op("<<")(func.width_bucket(_O.placed_at, numbers))
    at = _O.placed_at
    per = [func.bit_or(bit).label("m")]  # bit 0: before bounds[0] (whole history only)
    where = [_O.shop_id == shop_id, _O.customer_id.is_not(None), at < end, counted_order(_O)]
    if whole is None:
        where.append(at >= bounds[0])
    else:
        per += [func.max(at).filter(at < whole.start).label("last_before"),
                func.min(at).filter(at >= whole.start).label("first_in"),
                func.max(at).label("last_in"),
                func.count().filter(and_(at >= whole.before, at < whole.start)).label("was")]
    masks = select(*per).where(*where).group_by(_O.customer_id).subquery("masks")
    m = masks.c.m

    def having(*buckets: int):
        # Counted with a filter, not summed: sum() of a bigint is a numeric, slow here.
        bits = literal(sum(1 << i for i in buckets), BigInteger)
        return func.count().filter(m.op("&")(bits) == bits)

    n = len(bounds)
    columns = [func.count().filter(m.op(">>")(first) != 0)]
    columns += [having(i) for i in range(1, n + 1)]
    columns += [having(i, j) for i, j in pairs]
    if whole is not None:
        was, now = masks.c.was > 0, masks.c.first_in.is_not(None)
        columns += [func.count().filter(was), func.count().filter(and_(was, now)),
                    func.sum(_days(masks.c.last_in, func.coalesce(masks.c.last_before,
                                                                  masks.c.first_in)))
                    .filter(now)]
    # A year's customers are grouped in customer order from the index: the planner's
    # estimate of their number is far too low and it would build a hash table twice as slow
    # (1.9 s against 0.9 s on a million customers). For this statement only.
    session.execute(text("SET LOCAL enable_hashagg = off"))
    row = session.execute(select(*columns)).one()
    session.execute(text("SET LOCAL enable_hashagg = on"))
    counts = [int(v) for v in row[:1 + n + len(pairs)]]
    return BucketBuyers(
        customers={i: counts[i] for i in range(1, n + 1)},
        both={pair: counts[1 + n + k] for k, pair in enumerate(pairs)},
        from_bucket=counts[0],
        whole=None if whole is None else {
            "previous_period_customers": int(row[-3]), "retained_customers": int(row[-2]),
            "gap_days": row[-1]})

def bucket_sums(session: Session, shop_id: int, bounds: list[datetime], end: datetime
                ) -> dict[int, tuple[int, Decimal, int, Decimal]]:
    """Per bucket with orders (bucket i is [bounds[i-1], bounds[i]), the last one ends at
    `end`): (orders, revenue, orders with a customer, their revenue); revenue net of
    refunds."""
    ends = bounds[1:] + [end]
    spans = values(column("n", Integer), column("lo", DateTime(timezone=True)),
                   column("hi", DateTime(timezone=True)), name="spans").data(
        [(i, lo, hi) for i, (lo, hi) in enumerate(zip(bounds, ends, strict=True), start=1)])
    linked = _O.customer_id.is_not(None)
    sums = (select(func.count().label("orders"), func.sum(_O.total_price).label("price"),
                   func.sum(_O.total_refunded).label("refunded"),
                   func.count(_O.customer_id).label("linked"),
                   func.sum(_O.total_price).filter(linked).label("linked_price"),
                   func.sum(_O.total_refunded).filter(linked).label("linked_refunded"))
            .where(_O.shop_id == shop_id, _O.placed_at >= spans.c.lo, _O.placed_at < spans.c.hi,
                   counted_order(_O))
            .lateral("sums"))
    rows = session.execute(select(spans.c.n, sums).select_from(spans.join(sums, true())))
    zero = Decimal("0")
    return {int(row.n): (int(row.orders), (row.price or zero) - (row.refunded or zero),
                         int(row.linked),
                         (row.linked_price or zero) - (row.linked_refunded or zero))
            for row in rows if row.orders}
