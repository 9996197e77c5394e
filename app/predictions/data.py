"""From stored orders to the models' inputs: one row per buyer, purchases counted by day.

The rules, as in the paper and everywhere else in the app:
- only counted orders (`app.profiles.figures.counted_order`: not cancelled, voided or test),
  valued net of refunds; guest orders (no profile) are left out;
- a day is a UTC calendar day; several orders on one day are one transaction whose value
  is their sum;
- x (frequency) = the number of distinct later days with an order, t_x (recency) = days
  from the first to the last order day, T (age) = days from the first order day to the
  as-of day; m (monetary) = the mean value of the repeat days (the first day left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import Float, Integer, and_, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from app.predictions.grouping import group_rows
from app.profiles.figures import counted_order
from app.profiles.models import Order
from app.profiles.writer import among_values

_O = Order.__table__
EPOCH = date(1970, 1, 1)


class utc_day(FunctionElement):  # noqa: N801 - used like a SQL function
    """`utc_day(column)`: the UTC calendar day of a datetime as days since 1970-01-01."""

    type = Integer()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _utc_day_postgresql(element, compiler, **kw):
    (column,) = list(element.clauses)
    return f"CAST(floor(extract(epoch FROM {compiler.process(column, **kw)}) / 86400) AS integer)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element, compiler, **kw):
    (column,) = list(element.clauses)
    return f"CAST(julianday({compiler.process(column, **kw)}) - 2440587.5 AS integer)"


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


def end_of_day(day: date) -> datetime:
    """The first instant after `day` (orders placed before it are on or before `day`)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(slots=True)
class Summary:
    """Per-buyer model inputs, in days, aligned arrays."""

    customer_id: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary: np.ndarray
    first_day: np.ndarray

    def __len__(self) -> int:
        return int(self.customer_id.size)


def _days(shop_id: int, through: date, among=None):
    """(customer, day, value) of a shop's counted orders on days <= `through` (of the
    customers `among` matches, a condition on orders.customer_id, if given)."""
    day = utc_day(_O.c.placed_at)
    conditions = [_O.c.shop_id == shop_id, _O.c.customer_id.is_not(None), counted_order(_O.c),
                  _O.c.placed_at < end_of_day(through)]
    if among is not None:
        conditions.append(among)
    return (
        select(_O.c.customer_id.label("cid"), day.label("day"),
               cast(func.sum(_O.c.total_price - _O.c.total_refunded), Float).label("value"))
        .where(*conditions).group_by(_O.c.customer_id, day)
    )


def summary(session: Session, shop_id: int, as_of: date,
            customer_ids: set[int] | None = None) -> Summary:
    """The model inputs of the shop's buyers (or of `customer_ids` among them) as of the end
    of `as_of`: one aggregate query in the database, one row per buyer."""
    conn = session.connection()
    # The customers' condition goes on the orders themselves (an index range per customer),
    # not on the aggregate: rescoring a few customers must not aggregate the whole store.
    filters = [None] if customer_ids is None else list(among_values(conn, _O.c.customer_id,
                                                                    customer_ids))
    rows: list = []
    for among in filters:
        days = _days(shop_id, as_of, among).cte("days")
        grouped = (select(days.c.cid, func.count().label("n"), func.min(days.c.day).label("first"),
                          func.max(days.c.day).label("last"),
                          func.sum(days.c.value).label("total"))
                   .group_by(days.c.cid)).subquery("per")
        query = (select(grouped.c.cid, grouped.c.n, grouped.c.first, grouped.c.last,
                        grouped.c.total, days.c.value)
                 .join_from(grouped, days, and_(days.c.cid == grouped.c.cid,
                                                days.c.day == grouped.c.first)))
        rows.extend(conn.execute(query).all())
    return summary_from_rows(rows, day_number(as_of))


def _columns(rows, count: int) -> list[np.ndarray]:
    """Result rows to one float array per column (np.array on Row objects is very slow)."""
    if not rows:
        return [np.zeros(0) for _ in range(count)]
    return [np.asarray(column, dtype=float) for column in zip(*rows, strict=True)]


def summary_from_rows(rows, as_of_day: int) -> Summary:
    """Rows of (customer id, days with orders, first day, last day, total value, first day's
    value) to a Summary."""
    cid, days, first, last, total, first_value = _columns(rows, 6)
    frequency = days - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, (total - first_value) / frequency, 0.0)
    return Summary(customer_id=cid.astype(np.int64), frequency=frequency,
                   recency=last - first, age=as_of_day - first, monetary=monetary,
                   first_day=first.astype(np.int64))


def transactions_of(session: Session, shop_id: int, customer_ids, through: date
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer id, day, value) arrays, one row per customer and day with counted orders
    on or before `through`, for `customer_ids` only."""
    conn = session.connection()
    rows: list = []
    for among in among_values(conn, _O.c.customer_id, {int(c) for c in customer_ids}):
        rows.extend(conn.execute(_days(shop_id, through, among)))
    cid, day, value = _columns(rows, 3)
    return cid.astype(np.int64), day.astype(np.int64), value


def summary_from_transactions(customer_ids, days, values, as_of_day: int) -> Summary:
    """The same summary from plain arrays of transactions (customer id, day number, value),
    for scripts and benchmarks; transactions after `as_of_day` are ignored."""
    cid = np.asarray(customer_ids, dtype=np.int64)
    day = np.asarray(days, dtype=np.int64)
    value = np.asarray(values, dtype=float)
    keep = day <= as_of_day
    cid, day, value = cid[keep], day[keep], value[keep]
    if cid.size == 0:
        return summary_from_rows([], as_of_day)
    (pair_cid, pair_day), inverse, _ = group_rows(cid, day)
    day_value = np.bincount(inverse, weights=value, minlength=pair_cid.size)
    order = np.lexsort((pair_day, pair_cid))  # by customer, then day
    pair_cid, pair_day, day_value = pair_cid[order], pair_day[order], day_value[order]
    customers, start, count = np.unique(pair_cid, return_index=True, return_counts=True)
    first, last = pair_day[start], pair_day[start + count - 1]
    total = np.add.reduceat(day_value, start)
    frequency = (count - 1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, (total - day_value[start]) / frequency, 0.0)
    return Summary(customer_id=customers, frequency=frequency,
                   recency=(last - first).astype(float), age=(as_of_day - first).astype(float),
                   monetary=monetary, first_day=first)


def last_order_day(session: Session, shop_id: int) -> date | None:
    """The UTC day of the shop's latest counted order by a profile, if any."""
    latest = session.connection().execute(
        select(func.max(_O.c.placed_at)).where(
            _O.c.shop_id == shop_id, _O.c.customer_id.is_not(None), counted_order(_O.c))
    ).scalar()
    if latest is None:
        return None
    if isinstance(latest, str):  # SQLite without type processing in an aggregate
        latest = datetime.fromisoformat(latest)
    return latest.date() if latest.tzinfo is None else latest.astimezone(UTC).date()
