"""Cohorts by month of first order: the retention matrix and the revenue of each cohort.

A customer's cohort is the month (in the shop's time zone) of their first counted order
(`customers.first_order_at`: the counting rules of `app.analytics.kpis`; an order with no
customer and no email belongs to no cohort). The range asked for chooses the cohorts (the
months from its first day's to its last day's); each cohort is then followed from its
month to the current one, whatever the range:

- month 0 is the cohort's own month: the share of the cohort who ordered a second time in
  it (everyone in it ordered once, by definition);
- month k (k ≥ 1) is the k-th calendar month after it: the share of the cohort who placed at
  least one order in that month;
- revenue: the cohort's counted orders' revenue (net of refunds) in each month, cumulated
  from month 0, in total and per customer of the cohort.

The current month is still running: its cells are marked incomplete. One statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from app.analytics.metrics import Buckets, aggregate_settings
from app.analytics.periods import MONTH, Period, next_bucket, store_today
from app.money import format_money
from app.profiles.figures import counted_order
from app.profiles.models import Customer, Order
from app.shops.models import Shop

DEFINITIONS: dict[str, str] = {
    "cohort": "Customers whose first counted order was placed in that month (shop's time "
              "zone).",
    "size": "Customers in the cohort.",
    "month_0": "Share of the cohort who ordered a second time in their first month.",
    "month_n": "Month N: share of the cohort who ordered at least once in the N-th calendar "
               "month after their first.",
    "revenue": "Revenue of the cohort's orders in that month (net of refunds; cancelled, "
               "voided and test orders left out).",
    "cumulative_revenue": "The cohort's revenue from its first month to that one.",
    "cumulative_revenue_per_customer": "Cumulative revenue divided by the cohort's size.",
}
RATE = Decimal("0.0001")
_O = aliased(Order, name="o")


@dataclass
class Cell:
    offset: int  # months after the cohort's month (0: its own)
    month: date  # the first day of that month
    customers: int  # month 0: with a second order in it; later: with an order in it
    orders: int
    revenue: Decimal
    cumulative_revenue: Decimal
    complete: bool  # False for the current month

    def retention(self, size: int) -> Decimal | None:
        return (Decimal(self.customers) / size).quantize(RATE) if size else None


@dataclass
class Cohort:
    month: date
    size: int
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Cohorts:
    period: Period
    currency: str
    today: date
    cohorts: list[Cohort]

    @property
    def max_offset(self) -> int:
        return max((len(c.cells) - 1 for c in self.cohorts), default=-1)


def month_starts(first: date, last: date) -> list[date]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = next_bucket(month, MONTH)
    return out


def store_cohorts(session: Session, shop: Shop, period: Period, *,
                  today: date | None = None) -> Cohorts:
    """The cohorts of the months `period` touches, followed up to `today`'s month (the
    shop's today by default)."""
    today = today or store_today(period.zone)
    months = month_starts(period.first_day, max(today, period.first_day))
    cohort_months = [m for m in months if m <= period.last_day]
    if not cohort_months or period.first_day > today:
        return Cohorts(period, shop.currency, today, [])
    bounds = [period.bound(m) for m in months]
    end = period.bound(next_bucket(months[-1], MONTH))
    cohort_end = period.bound(next_bucket(cohort_months[-1], MONTH))
    aggregate_settings(session)
    numbering = Buckets(session, period, bounds, name="sticky_cohort_month")
    c = Customer
    cohort_n = numbering.number(c.first_order_at)
    order_n = numbering.number(_O.placed_at)
    per_customer = (
        select(cohort_n.label("cohort"), order_n.label("month"), _O.customer_id.label("cid"),
               func.count().label("n"), func.sum(_O.total_price - _O.total_refunded)
               .label("revenue"))
        .join(c, c.id == _O.customer_id)
        .where(_O.shop_id == shop.id, c.shop_id == shop.id, c.first_order_at >= bounds[0],
               c.first_order_at < cohort_end, _O.placed_at >= bounds[0], _O.placed_at < end,
               counted_order(_O))
        .group_by(cohort_n, order_n, _O.customer_id)
        .subquery("per_customer"))
    p = per_customer.c
    rows = session.execute(
        select(p.cohort, p.month, func.count(), func.sum(case((p.n >= 2, 1), else_=0)),
               func.sum(p.n), func.sum(p.revenue))
        .group_by(p.cohort, p.month)).all()
    found: dict[tuple[int, int], tuple[int, int, int, Decimal]] = {}
    for cohort, month, buyers, repeaters, orders, revenue in rows:
        found[(int(cohort), int(month))] = (int(buyers), int(repeaters or 0), int(orders),
                                            _money(revenue))
    current = today.replace(day=1)
    cohorts = []
    for i, month in enumerate(cohort_months, start=1):
        size = found.get((i, i), (0, 0, 0, Decimal("0")))[0]
        if not size:
            cohorts.append(Cohort(month, 0))
            continue
        cohort = Cohort(month, size)
        total = Decimal("0")
        for j in range(i, len(months) + 1):
            buyers, repeaters, orders, revenue = found.get((i, j), (0, 0, 0, Decimal("0")))
            total += revenue
            cohort.cells.append(Cell(
                offset=j - i, month=months[j - 1], customers=repeaters if j == i else buyers,
                orders=orders, revenue=revenue, cumulative_revenue=total,
                complete=months[j - 1] < current))
        cohorts.append(cohort)
    return Cohorts(period, shop.currency, today, cohorts)


def _money(value) -> Decimal:
    if value is None:
        return Decimal("0")
    return value if isinstance(value, Decimal) else Decimal(str(round(value, 4)))


def cohorts_json(result: Cohorts) -> dict[str, Any]:
    currency = result.currency

    def cell(c: Cell, size: int) -> dict[str, Any]:
        return {"offset": c.offset, "month": c.month.strftime("%Y-%m"),
                "customers": c.customers, "retention": str(c.retention(size)),
                "orders": c.orders, "revenue": format_money(c.revenue, currency),
                "cumulative_revenue": format_money(c.cumulative_revenue, currency),
                "cumulative_revenue_per_customer": format_money(
                    c.cumulative_revenue / size, currency),
                "complete": c.complete}

    return {
        "from": result.period.first_day.isoformat(), "to": result.period.last_day.isoformat(),
        "timezone": result.period.zone.key, "currency": currency,
        "as_of": result.today.isoformat(), "definitions": DEFINITIONS,
        "cohorts": [{"month": c.month.strftime("%Y-%m"), "size": c.size,
                     "revenue": format_money(c.cells[-1].cumulative_revenue if c.cells
                                             else Decimal("0"), currency),
                     "revenue_per_customer": format_money(
                         c.cells[-1].cumulative_revenue / c.size if c.size else None,
                         currency),
                     "months": [cell(x, c.size) for x in c.cells]}
                    for c in result.cohorts],
    }
