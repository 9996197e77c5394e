"""What a flow really earns: its entrants who got its emails (treatment) against the ones
held out, who got nothing (`flow_runs.holdout`, drawn at entry by `holdout_percent`).

Both groups are measured the same way, so they compare: an entrant **converts** when the
shopper places an order (not a test order, not cancelled) after entering and within
`attribution_click_days` of it; the entrant's **revenue** is the total of those orders. This
is not the last-touch attribution of app/flows/attribution.py, which needs an email and so
cannot exist for the holdout. Only entrants whose window has closed by `now` are counted
(the others are `in_window`), so a group is never diluted by entrants who have had no time
to buy. Each run is one entrant: a shopper who re-entered counts once per run.

Incremental revenue per entrant = treatment's revenue per entrant − the holdout's. Its 95 %
confidence interval is the normal approximation of Welch's interval on per-entrant revenue:
difference ± 1.96 × √(s²_t/n_t + s²_h/n_h), with each group's sample variance (n − 1). With 30
or more entrants per group (the `enough_data` threshold) Welch's t quantile is within a few
percent of 1.96, and per-entrant revenue, mostly zeros, is what the normal approximation of
a mean is for. Incremental revenue = that per-entrant difference × the treatment's entrants:
what the emails added over what those shoppers would have spent anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from app.db import plus_days
from app.flows.models import Flow, FlowRun
from app.money import format_money
from app.profiles.models import Order
from app.settings.service import read_settings
from app.shops.models import Shop

MIN_PER_GROUP = 30
Z95 = Decimal("1.96")
RATE = Decimal("0.0001")


def _group(n: int, converted: int, revenue: Decimal, currency: str) -> dict[str, Any]:
    return {
        "entrants": n,
        "converted": converted,
        "conversion_rate": str((Decimal(converted) / n).quantize(RATE)) if n else None,
        "revenue": format_money(revenue, currency),
        "revenue_per_entrant": format_money(revenue / n, currency) if n else None,
    }


def _mean_and_variance(n: int, total: Decimal, squares: Decimal) -> tuple[Decimal, Decimal]:
    mean = total / n
    variance = (squares - n * mean * mean) / (n - 1) if n > 1 else Decimal("0")
    return mean, max(variance, Decimal("0"))


def report(session: Session, shop_id: int, flow_id: int, now: datetime) -> dict[str, Any]:
    """Both groups' entrants, conversions, conversion rate, revenue and revenue per entrant,
    the incremental revenue per entrant with its 95 % interval (`ci95`: [low, high]) and in
    total, and whether there is `enough_data` (else `reason` says what is missing). Money is
    a string decimal in the shop's currency; None where a figure cannot be computed yet.
    Two queries."""
    shop = session.get(Shop, shop_id)
    flow = session.scalar(select(Flow).where(Flow.shop_id == shop_id, Flow.id == flow_id))
    if shop is None or flow is None:
        raise LookupError(f"no flow {flow_id} in this store")
    currency = shop.currency or "USD"
    window_days = read_settings(session, shop).attribution_click_days
    window = timedelta(days=window_days)
    closed = FlowRun.entered_at <= now - window
    # Each run's orders in its window (one row per run), then both groups' sums.
    per_run = (
        select(FlowRun.id, FlowRun.holdout,
               func.count(Order.id).label("orders"),
               func.coalesce(func.sum(Order.total_price), 0).label("revenue"))
        .outerjoin(Order, (Order.shop_id == shop_id)
                   & (Order.customer_id == FlowRun.customer_id)
                   & Order.test.is_(False) & Order.cancelled_at.is_(None)
                   & (Order.placed_at > FlowRun.entered_at)
                   & (Order.placed_at <= plus_days(FlowRun.entered_at, window_days)))
        .where(FlowRun.shop_id == shop_id, FlowRun.flow_id == flow_id, closed)
        .group_by(FlowRun.id, FlowRun.holdout)
    ).subquery()
    sums = {row.holdout: row for row in session.execute(
        select(per_run.c.holdout, func.count().label("n"),
               func.sum(case((per_run.c.orders > 0, 1), else_=0)).cast(Integer)
               .label("converted"),
               func.sum(per_run.c.revenue).label("revenue"),
               func.sum(per_run.c.revenue * per_run.c.revenue).label("squares"))
        .group_by(per_run.c.holdout))}
    in_window = session.scalar(select(func.count()).select_from(FlowRun).where(
        FlowRun.shop_id == shop_id, FlowRun.flow_id == flow_id, ~closed)) or 0

    groups: dict[str, dict[str, Any]] = {}
    stats: dict[str, tuple[int, Decimal, Decimal]] = {}
    for name, held in (("treatment", False), ("holdout", True)):
        row = sums.get(held)
        n = row.n if row else 0
        revenue = Decimal(row.revenue or 0) if row else Decimal("0")
        squares = Decimal(row.squares or 0) if row else Decimal("0")
        groups[name] = _group(n, row.converted if row else 0, revenue, currency)
        if n:
            mean, variance = _mean_and_variance(n, revenue, squares)
            stats[name] = (n, mean, variance)

    result: dict[str, Any] = {
        **groups, "incremental_revenue_per_entrant": None, "ci95": None,
        "incremental_revenue": None, "enough_data": False, "reason": None,
        "in_window": in_window, "window_days": window_days, "currency": currency,
        "holdout_percent": flow.holdout_percent, "min_per_group": MIN_PER_GROUP,
        "method": "Welch's interval, normal approximation (difference ± 1.96 × standard "
                  "error of per-entrant revenue)",
    }
    if "treatment" in stats and "holdout" in stats:
        (n_t, mean_t, var_t), (n_h, mean_h, var_h) = stats["treatment"], stats["holdout"]
        difference = mean_t - mean_h
        margin = Z95 * (var_t / n_t + var_h / n_h).sqrt()
        result.update(
            incremental_revenue_per_entrant=format_money(difference, currency),
            incremental_revenue=format_money(difference * n_t, currency))
        if n_t > 1 and n_h > 1:
            result["ci95"] = [format_money(difference - margin, currency),
                              format_money(difference + margin, currency)]
    n_treatment, n_holdout = groups["treatment"]["entrants"], groups["holdout"]["entrants"]
    if n_treatment >= MIN_PER_GROUP and n_holdout >= MIN_PER_GROUP:
        result["enough_data"] = True
    elif not flow.holdout_percent and not n_holdout:
        result["reason"] = ("this flow keeps no holdout: set a holdout percentage (e.g. 10 %) "
                            "to measure what it adds")
    else:
        result["reason"] = (
            f"at least {MIN_PER_GROUP} entrants per group whose {window_days}-day window has "
            f"closed are needed; so far {n_treatment} received the emails and {n_holdout} "
            f"were held out ({in_window} more still in their window)")
    return result
