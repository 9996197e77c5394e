"""The store's retention KPIs over a period and by day, week or month: everything
`GET /api/metrics` and the Analytics page show beyond `app.analytics.metrics`' figures.

`metrics_json(session, shop, period)` is the whole answer of `GET /api/metrics` (the
Dashboard's figures, then these), the callable the benchmark times.

Counting rules, the same for every figure here and in `app.analytics.metrics`:
- an order counts unless it is cancelled, voided or a test order
  (`app.profiles.figures.counted_order`); its revenue is its total net of what was refunded
  on it, on the day it was placed, whenever the refund happened;
- **guests**: a guest checkout with an email has a profile (the mirror files it by email),
  so it counts as a customer like any other; an order with neither a customer nor an email
  counts in revenue and orders (and their average) only, in no customer figure (customers,
  first or returning orders, frequency, retention, lifetime value);
- days, weeks (Monday to Sunday) and months are the shop's, in its time zone.

Everything is aggregated in the database: a fixed number of statements whatever the size of
the store (about a dozen; twice with `compare`). On PostgreSQL the customers per bucket,
the series' retention and, for a long range, the whole period's retention and days between
orders come from one ordered pass of the counted orders' index (`app.analytics.buyers`);
SQLite, and a series of more than 62 buckets, take the statements of this module. A year of
a store of 1,000,000 customers and 5,000,000 orders: about 4 s on a loaded 2-core machine
(7 Dec 2026), from 19 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.analytics.buyers import retention_bounds
from app.analytics.figures_json import base_metrics_json, kpis_json
from app.analytics.metrics import DEFINITIONS as FIGURE_DEFINITIONS
from app.analytics.metrics import Buckets, Comparison, StoreMetrics, store_metrics
from app.analytics.periods import Period
from app.flows.models import SENT, FlowConversion, Message
from app.loyalty.figures import ISSUED_KINDS
from app.loyalty.models import REDEEM, LedgerEntry
from app.profiles.figures import counted_order
from app.profiles.models import Customer, Order
from app.shops.models import Shop

GUEST_RULE = ("A guest checkout with an email counts as a customer (its profile is filed by "
              "email); an order with no customer and no email counts in revenue and orders "
              "only.")

KPI_DEFINITIONS: dict[str, str] = {
    "first_orders": "Orders in the range that were their customer's first counted order ever.",
    "returning_orders": "Orders in the range by customers who had a counted order before it.",
    "average_order_value_first": "Revenue of first orders divided by their number.",
    "average_order_value_returning": "Revenue of returning orders divided by their number.",
    "purchase_frequency": "Orders by customers in the range divided by those customers "
                          "(orders with no customer left out).",
    "average_days_between_orders": "Mean days from a customer's previous counted order to "
                                   "the next, over the pairs whose later order is in the "
                                   "range.",
    "retention_rate": "Of the customers who ordered in the period of the same length just "
                      "before (in a series: the day, week or month before), the share who "
                      "ordered again in this one.",
    "churn_rate": "1 − retention rate: the share of the period before's customers who did "
                  "not order in this one.",
    "previous_period_customers": "Customers who ordered in the period of the same length "
                                 "just before (the base of the retention rate).",
    "retained_customers": "Of those, the customers who ordered in this period too.",
    "checkout_abandonment_rate": "Checkouts started in the range that were abandoned at some "
                                 "point (recovered ones included), as a share of all started.",
    "emails_sent": "Flow emails the mail server accepted in the range (test sends left out).",
    "emails_opened": "Of those, the emails opened at least once (any time since).",
    "emails_clicked": "Of those, the emails with at least one link clicked.",
    "email_open_rate": "Emails opened divided by emails sent.",
    "email_click_rate": "Emails clicked divided by emails sent.",
    "email_unsubscribes": "Of the emails sent in the range, those the recipient "
                          "unsubscribed from.",
    "flow_orders": "Counted orders in the range credited to a flow email (last touch, "
                   "see Flows).",
    "flow_revenue": "Revenue of those orders, net of refunds like all revenue here.",
    "points_issued": "Loyalty points given in the range (orders, bonuses, referrals, manual "
                     "additions), pending ones included.",
    "points_redeemed": "Loyalty points exchanged for rewards in the range.",
    "points_redemption_rate": "Points redeemed divided by points issued in the range.",
    "historic_clv": "Average lifetime revenue (net of refunds) of the customers who have "
                    "ordered, all time up to now, whatever the range.",
    "predicted_clv": "Average predicted 365-day customer lifetime value of the customers "
                     "with a prediction (none until predictions have run).",
    "predicted_clv_customers": "Customers with a predicted lifetime value.",
}
DEFINITIONS: dict[str, str] = {**FIGURE_DEFINITIONS, **KPI_DEFINITIONS, "guests": GUEST_RULE}
NO_PREDICTIONS = ("No customer has a predicted lifetime value yet: predictions are computed "
                  "once the store has enough order history (see Analytics › Predictions).")
# The KPIs that have a value per day, week or month (the others: totals only).
SERIES_KPIS = (
    "first_orders", "returning_orders", "average_order_value_first",
    "average_order_value_returning", "purchase_frequency", "retention_rate", "churn_rate",
    "previous_period_customers", "retained_customers", "checkout_abandonment_rate",
    "emails_sent", "emails_opened", "emails_clicked", "email_open_rate", "email_click_rate",
    "email_unsubscribes", "flow_orders", "flow_revenue", "points_issued", "points_redeemed",
    "points_redemption_rate")

_O = aliased(Order, name="o")
_EARLIER = aliased(Order, name="earlier")
RATE = Decimal("0.0001")


@dataclass
class StoreKpis:
    """`metrics`: the figures of `app.analytics.metrics`; `totals`: the KPIs above over the
    period; `series`: per bucket of `metrics.series`, the `SERIES_KPIS`. Raw values: Decimal
    money and rates, int counts, None when there is nothing to divide by."""

    metrics: StoreMetrics
    totals: dict[str, Any]
    series: list[dict[str, Any]] = field(default_factory=list)
    previous: StoreKpis | None = None


def share(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE) if whole else None


def _ratio(part, whole, places: str = "0.01") -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal(places)) if whole else None


def _money(value) -> Decimal:
    if value is None:
        return Decimal("0")
    return value if isinstance(value, Decimal) else Decimal(str(round(value, 4)))


def _net(order=_O):
    return order.total_price - order.total_refunded


def _in(column, start: datetime, end: datetime):
    return and_(column >= start, column < end)


def _sum_if(condition, value=1):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _days(later, earlier, postgres: bool):
    """Days from `earlier` to `later` (fractional), on both backends."""
    if postgres:
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


# -- the statements -----------------------------------------------------------------------


def _first_orders(session: Session, shop_id: int, period: Period,
                  buckets: Buckets) -> dict[int, tuple[int, Decimal]]:
    """Per bucket: (first orders, their revenue). A first order is placed at its customer's
    `first_order_at` (the mirror's min over counted orders), so they are found from the
    customers who started in the period (the `first_order_at` index), one index lookup of
    their orders each, not by reading every order of the period. The returning orders are
    the period's other orders with a customer (`Figures.customer_orders`)."""
    c = Customer
    bucket = buckets.number(c.first_order_at)
    rows = session.execute(
        select(bucket, func.count(), func.sum(_net()))
        .select_from(c)
        .join(_O, and_(_O.customer_id == c.id, _O.placed_at == c.first_order_at))
        .where(c.shop_id == shop_id, _O.shop_id == shop_id,
               _in(c.first_order_at, period.start, period.end),
               # Implied by the join; said so the planner reads only the period's orders.
               _in(_O.placed_at, period.start, period.end), counted_order(_O))
        .group_by(bucket)).all()
    return {int(n): (int(count), _money(revenue)) for n, count, revenue in rows}


def _ordered_between(shop_id: int, customer, start: datetime, end: datetime):
    """The customer has a counted order in [start, end): one index-only probe."""
    return (select(_EARLIER.id)
            .where(_EARLIER.shop_id == shop_id, _EARLIER.customer_id == customer.id,
                   _in(_EARLIER.placed_at, start, end), counted_order(_EARLIER))
            .exists())


def _last_before(shop_id: int, customer, moment: datetime):
    """The customer's last counted order before `moment`: one index-only probe."""
    return (select(func.max(_EARLIER.placed_at))
            .where(_EARLIER.shop_id == shop_id, _EARLIER.customer_id == customer.id,
                   _EARLIER.placed_at < moment, counted_order(_EARLIER))
            .scalar_subquery())


def _active(shop_id: int, customer, start: datetime, end: datetime):
    """1 when the customer has a counted order in [start, end), else 0. The profile's first
    and last counted order (same counting rules, kept by the mirror) settle it for nearly
    everyone; an order is looked up only for those whose orders straddle the range."""
    c = customer
    return case((or_(c.last_order_at < start, c.first_order_at >= end), 0),
                (or_(c.first_order_at >= start, c.last_order_at < end), 1),
                (_ordered_between(shop_id, c, start, end), 1), else_=0)


def _retention_and_gaps(session: Session, shop_id: int, period: Period,
                        postgres: bool) -> dict[str, Any]:
    """The period's retention (against the period of equal length before) and the sum of
    the days between consecutive orders whose later one is in the period, from the profiles
    who ordered since the period before began (their first and last counted order).

    The gaps of a customer telescope: their sum is (last order in the period) − (the order
    before their first one in it), or − (their first order) when their first order ever is
    in the period. Their number is the period's orders with a customer less its new
    customers (`store_kpis`). The order before the period is one index-only probe per
    returning customer (`ix_orders_counted_customer`), the last one in the period is the
    profile's last order unless the profile has ordered since."""
    before = period.previous()
    c = Customer
    was = _active(shop_id, c, before.start, before.end)
    now = _active(shop_id, c, period.start, period.end)
    last_in = case((c.last_order_at < period.end, c.last_order_at),
                   else_=_last_before(shop_id, c, period.end))
    since = case((c.first_order_at >= period.start, c.first_order_at),
                 else_=_last_before(shop_id, c, period.start))
    per = (select(was.label("was"), now.label("now"), last_in.label("last_in"),
                  since.label("since"))
           .where(c.shop_id == shop_id, c.last_order_at >= before.start,
                  c.first_order_at < period.end)
           .subquery("per"))
    row = session.execute(
        select(func.coalesce(func.sum(per.c.was), 0),
               func.coalesce(func.sum(per.c.was * per.c.now), 0),
               func.sum(case((per.c.now == 1,
                              _days(per.c.last_in, per.c.since, postgres)))))).one()
    return {"previous_period_customers": int(row[0]), "retained_customers": int(row[1]),
            "gap_days": row[2]}


def _series_retention(session: Session, shop_id: int, period: Period,
                      postgres: bool) -> dict[int, tuple[int, int]]:
    """Per bucket of the series, numbered from 1: (customers of the calendar bucket before,
    those of them who ordered in this bucket). `store_metrics` finds them in its own pass
    when the series is short enough (`app.analytics.buyers`); this is the other way."""
    layout = retention_bounds(period)
    bounds, gap, offset = layout.bounds, layout.gap, layout.offset
    numbering = Buckets(session, period, bounds, name="sticky_bucket_r")
    number = numbering.number(_O.placed_at)
    # Bucket 1 is the one before; with a gap, 2 is the gap (left out) and 3 the first.
    series_number = case((number == 1, 0), else_=number - offset)
    where = [_O.shop_id == shop_id, _O.customer_id.is_not(None),
             _in(_O.placed_at, bounds[0], period.end), counted_order(_O)]
    if gap:
        where.append(or_(_O.placed_at < bounds[1], _O.placed_at >= period.start))
    pairs = (select(_O.customer_id.label("cid"), series_number.label("b"))
             .where(*where).group_by(_O.customer_id, series_number).subquery("pairs"))
    # Each (customer, bucket) with the customer's bucket before it: a customer came back in
    # bucket b when they had ordered in b - 1. One sort instead of a self-join.
    before = func.lag(pairs.c.b).over(partition_by=pairs.c.cid, order_by=pairs.c.b)
    marked = select(pairs.c.b, case((before == pairs.c.b - 1, 1), else_=0).label("back")
                    ).subquery("marked")
    rows = session.execute(
        select(marked.c.b, func.count(), func.sum(marked.c.back))
        .group_by(marked.c.b)).all()
    active = {int(b): int(n) for b, n, _ in rows}
    back = {int(b): int(k or 0) for b, _, k in rows}
    return {b: (active.get(b - 1, 0), back.get(b, 0))
            for b in range(1, len(period.buckets()) + 1)}


def _emails(session: Session, shop_id: int, period: Period,
            buckets: Buckets) -> dict[int, tuple[int, int, int, int]]:
    m = Message
    bucket = buckets.number(m.sent_at)
    rows = session.execute(
        select(bucket, func.count(), func.count(m.opened_at), func.count(m.clicked_at),
               func.count(m.unsubscribed_at))
        .where(m.shop_id == shop_id, m.test.is_(False), m.status == SENT,
               _in(m.sent_at, period.start, period.end))
        .group_by(bucket)).all()
    return {int(n): (int(s), int(o), int(c), int(u)) for n, s, o, c, u in rows}


def _flow_orders(session: Session, shop_id: int, period: Period,
                 buckets: Buckets) -> dict[int, tuple[int, Decimal]]:
    fc = FlowConversion
    bucket = buckets.number(_O.placed_at)
    rows = session.execute(
        select(bucket, func.count(), func.sum(_net()))
        .select_from(fc).join(_O, _O.id == fc.order_id)
        .where(fc.shop_id == shop_id, _O.shop_id == shop_id,
               _in(_O.placed_at, period.start, period.end), counted_order(_O))
        .group_by(bucket)).all()
    return {int(n): (int(count), _money(revenue)) for n, count, revenue in rows}


def _points(session: Session, shop_id: int, period: Period,
            buckets: Buckets) -> dict[int, tuple[int, int]]:
    ledger = LedgerEntry
    bucket = buckets.number(ledger.created_at)
    rows = session.execute(
        select(bucket, _sum_if(and_(ledger.kind.in_(ISSUED_KINDS), ledger.points > 0),
                               ledger.points),
               _sum_if(ledger.kind == REDEEM, -ledger.points))
        .where(ledger.shop_id == shop_id, _in(ledger.created_at, period.start, period.end))
        .group_by(bucket)).all()
    return {int(n): (int(issued), int(redeemed)) for n, issued, redeemed in rows}


def _lifetime_values(session: Session, shop_id: int) -> dict[str, Any]:
    c = Customer
    buyers = c.orders_count > 0
    row = session.execute(
        select(_sum_if(buyers), func.sum(case((buyers, c.total_spent))),
               func.count(c.predicted_clv), func.sum(c.predicted_clv))
        .where(c.shop_id == shop_id, c.deleted_at.is_(None))).one()
    buyers_n, spent, predicted_n, predicted = int(row[0]), row[1], int(row[2]), row[3]
    return {
        "historic_clv": _money(spent) / buyers_n if buyers_n else None,
        "predicted_clv_customers": predicted_n,
        "predicted_clv": _money(predicted) / predicted_n if predicted_n else None,
        "predicted_clv_note": None if predicted_n else NO_PREDICTIONS,
    }


# -- putting them together ----------------------------------------------------------------


def _derived(values: dict[str, Any]) -> dict[str, Any]:
    """The rates and averages of a bucket's or the period's counts (in place)."""
    v = values
    v["average_order_value_first"] = (v["first_orders_revenue"] / v["first_orders"]
                                      if v["first_orders"] else None)
    v["average_order_value_returning"] = (v["returning_orders_revenue"] / v["returning_orders"]
                                          if v["returning_orders"] else None)
    v["retention_rate"] = share(v["retained_customers"], v["previous_period_customers"])
    v["churn_rate"] = None if v["retention_rate"] is None else 1 - v["retention_rate"]
    v["email_open_rate"] = share(v["emails_opened"], v["emails_sent"])
    v["email_click_rate"] = share(v["emails_clicked"], v["emails_sent"])
    v["points_redemption_rate"] = share(v["points_redeemed"], v["points_issued"])
    return v


def store_kpis(session: Session, shop: Shop, period: Period, *,
               compare: bool = False) -> StoreKpis:
    """Every KPI of the period, and per bucket; `compare` adds those of the period of the
    same length just before (`previous`)."""
    # The period before's KPIs hold the Dashboard's comparison figures: not counted twice.
    previous = store_kpis(session, shop, period.previous()) if compare else None
    metrics = store_metrics(session, shop, period, retention=True)
    if previous is not None:
        before = previous.metrics.totals
        metrics.previous = Comparison(previous.metrics.period, before.revenue, before.orders,
                                      before.new_customers)
    postgres = session.get_bind().dialect.name == "postgresql"
    buckets = Buckets(session, period)
    firsts = _first_orders(session, shop.id, period, buckets)
    emails = _emails(session, shop.id, period, buckets)
    flows = _flow_orders(session, shop.id, period, buckets)
    points = _points(session, shop.id, period, buckets)
    retention = metrics.series_retention
    if retention is None:
        retention = _series_retention(session, shop.id, period, postgres)
    series = []
    for n, bucket in enumerate(metrics.series, start=1):
        f = bucket.figures
        first, first_revenue = firsts.get(n, (0, Decimal("0")))
        returning = f.customer_orders - first
        returning_revenue = f.customer_revenue - first_revenue
        sent, opened, clicked, unsubscribed = emails.get(n, (0, 0, 0, 0))
        flow_count, flow_revenue = flows.get(n, (0, Decimal("0")))
        issued, redeemed = points.get(n, (0, 0))
        base, kept = retention.get(n, (0, 0))
        series.append(_derived({
            "first_orders": first, "first_orders_revenue": first_revenue,
            "returning_orders": returning, "returning_orders_revenue": returning_revenue,
            "purchase_frequency": _ratio(first + returning, f.customers),
            "previous_period_customers": base, "retained_customers": kept,
            "checkout_abandonment_rate": share(f.checkouts_abandoned + f.checkouts_recovered,
                                               f.checkouts_started),
            "emails_sent": sent, "emails_opened": opened, "emails_clicked": clicked,
            "email_unsubscribes": unsubscribed, "flow_orders": flow_count,
            "flow_revenue": flow_revenue, "points_issued": issued,
            "points_redeemed": redeemed}))
    t = metrics.totals
    totals = {name: sum((s[name] for s in series), Decimal("0") if "revenue" in name else 0)
              for name in ("first_orders", "first_orders_revenue", "returning_orders",
                           "returning_orders_revenue", "emails_sent", "emails_opened",
                           "emails_clicked", "email_unsubscribes", "flow_orders",
                           "flow_revenue", "points_issued", "points_redeemed")}
    whole = dict(metrics.whole_retention or _retention_and_gaps(session, shop.id, period,
                                                                  postgres))
    gap_days = whole.pop("gap_days")
    # Every order with a customer in the period has one before it, except new customers'
    # first orders.
    gaps = t.customer_orders - t.new_customers
    totals.update(whole)
    totals["purchase_frequency"] = _ratio(totals["first_orders"] + totals["returning_orders"],
                                          t.customers)
    totals["average_days_between_orders"] = (
        (Decimal(str(gap_days)) / gaps).quantize(Decimal("0.1"))
        if gaps and gap_days is not None else None)
    totals["checkout_abandonment_rate"] = share(t.checkouts_abandoned + t.checkouts_recovered,
                                                t.checkouts_started)
    totals.update(_lifetime_values(session, shop.id))
    return StoreKpis(metrics, _derived(totals), series, previous)


def metrics_json(session: Session, shop: Shop, period: Period, *,
                 compare: bool = False) -> dict[str, Any]:
    """The body of `GET /api/metrics`: the Dashboard's figures (`app.api.metrics`' fields,
    unchanged) and every KPI of this module, with one definition each, and a series."""
    kpis = store_kpis(session, shop, period, compare=compare)
    currency = kpis.metrics.currency
    out = base_metrics_json(kpis.metrics)
    out.update(kpis_json(kpis.totals, currency))
    out["definitions"] = DEFINITIONS
    for entry, values in zip(out["series"], kpis.series, strict=True):
        entry.update(kpis_json(values, currency))
    if kpis.previous is not None:
        out["previous"].update(kpis_json(kpis.previous.totals, currency))
    return out
