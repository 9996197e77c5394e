"""`/admin/analytics`: the store's retention KPIs over a date range (the same functions as
`GET /api/metrics` and `GET /api/cohorts`), each with its definition and its change from
the period before, their series as charts, and the cohort heat map.

The tab bar (templates/panel/analytics_tabs.html) is shared with the RFM and Predictions
pages, which other modules register as `panel.analytics_rfm` and
`panel.analytics_predictions`; a tab shows only once its page exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask import g, render_template, request
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.analytics.cohorts import DEFINITIONS as COHORT_DEFINITIONS
from app.analytics.cohorts import store_cohorts
from app.analytics.kpis import DEFINITIONS, GUEST_RULE, StoreKpis, store_kpis
from app.analytics.periods import MONTH, Period, store_today
from app.db import db
from app.money import money_text
from app.panel import bp
from app.panel.analytics_charts import cohort_revenue_figure, heatmap_figure, kpi_figures
from app.panel.dashboard import RangeForm, _read_range, _span
from app.panel.dashboard_charts import customers_figure, revenue_figure
from app.panel.door import panel_page, panel_url
from app.profiles.models import Order
from app.settings.timezone import shop_zone

DEFAULT_RANGE = "last_12_months"
# The Analytics section's tabs: (key, label, endpoint, anchor).
TABS = (
    ("overview", "Overview", "panel.analytics", ""),
    ("cohorts", "Cohorts", "panel.analytics", "#cohorts"),
    ("rfm", "RFM", "panel.analytics_rfm", ""),
    ("predictions", "Predictions", "panel.analytics_predictions", ""),
)


@bp.app_template_global()
def analytics_tab_links(current: str) -> list[dict[str, Any]]:
    """The tabs to draw: [{"key", "label", "href", "current"}]. A template global, so the
    macro works imported with or without context."""
    return [{"key": key, "label": label, "href": panel_url(endpoint) + anchor,
             "current": key == current}
            for key, label, endpoint, anchor in TABS]


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    definition: str
    note: str | None = None


def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def _percent(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _number(value: Decimal | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:,}{unit}"


def _change(kind: str, now: Any, before: Any, shown: str) -> str | None:
    """"↑ 12% from $4,000.00" (amounts and counts) or "↓ 5.0 pts from 60.0%" (rates)."""
    if now is None or before is None:
        return None
    if kind == "rate":
        points = (Decimal(now) - Decimal(before)) * 100
        arrow = "↑" if points > 0 else "↓" if points < 0 else "→"
        return f"{arrow} {abs(points):.1f} pts from {shown}"
    if before == 0:
        return f"{shown} in the previous period" if now else None
    change = (Decimal(now) - Decimal(before)) / Decimal(before) * 100
    arrow = "↑" if change > 0 else "↓" if change < 0 else "→"
    return f"{arrow} {abs(change):.0f}% from {shown}"


# (group, key, label, kind): kind says how to write it: money, count, rate, number, days.
CARDS = (
    ("sales", "revenue", "Revenue", "money"),
    ("sales", "orders", "Orders", "count"),
    ("sales", "average_order_value", "Average order value", "money"),
    ("sales", "average_order_value_first", "AOV, first orders", "money"),
    ("sales", "average_order_value_returning", "AOV, returning orders", "money"),
    ("customers", "customers", "Customers", "count"),
    ("customers", "new_customers", "New customers", "count"),
    ("customers", "returning_customers", "Returning customers", "count"),
    ("customers", "repeat_purchase_rate", "Repeat purchase rate", "rate"),
    ("customers", "purchase_frequency", "Purchase frequency", "number"),
    ("customers", "average_days_between_orders", "Days between orders", "days"),
    ("retention", "retention_rate", "Retention rate", "rate"),
    ("retention", "churn_rate", "Churn rate", "rate"),
    ("retention", "previous_period_customers", "Customers of the period before", "count"),
    ("retention", "retained_customers", "Retained customers", "count"),
    ("checkouts", "checkout_abandonment_rate", "Checkout abandonment", "rate"),
    ("checkouts", "recovery_rate", "Recovery rate", "rate"),
    ("email", "emails_sent", "Emails sent", "count"),
    ("email", "email_open_rate", "Open rate", "rate"),
    ("email", "email_click_rate", "Click rate", "rate"),
    ("email", "email_unsubscribes", "Unsubscribes", "count"),
    ("email", "flow_orders", "Flow orders", "count"),
    ("email", "flow_revenue", "Flow revenue", "money"),
    ("loyalty", "points_issued", "Points issued", "count"),
    ("loyalty", "points_redeemed", "Points redeemed", "count"),
    ("loyalty", "points_redemption_rate", "Redemption rate", "rate"),
    ("value", "historic_clv", "Historic CLV", "money"),
    ("value", "predicted_clv", "Predicted CLV", "money"),
)
# Lifetime values are as of now, not of a range: no change to show.
NO_CHANGE = ("historic_clv", "predicted_clv")


def kpi_values(k: StoreKpis) -> dict[str, Any]:
    """Every figure of the period by its API name, raw."""
    t = k.metrics.totals
    return {"revenue": t.revenue, "orders": t.orders,
            "average_order_value": t.average_order_value, "customers": t.customers,
            "new_customers": t.new_customers, "returning_customers": t.returning_customers,
            "repeat_purchase_rate": t.repeat_purchase_rate, "recovery_rate": t.recovery_rate,
            **k.totals}


def cards(k: StoreKpis, currency: str) -> dict[str, list[Card]]:
    now = kpi_values(k)
    before = kpi_values(k.previous) if k.previous else {}

    def write(kind: str, value: Any) -> str:
        if kind == "money":
            return money_text(value, currency)
        if kind == "rate":
            return _percent(value)
        if kind == "days":
            return _number(value, " days")
        if kind == "number":
            return _number(value)
        return _count(value)

    out: dict[str, list[Card]] = {}
    for group, key, label, kind in CARDS:
        note = None
        if key not in NO_CHANGE and key in before:
            note = _change(kind, now[key], before[key], write(kind, before[key]))
        if key == "predicted_clv" and now[key] is None:
            note = now["predicted_clv_note"]
        elif key == "predicted_clv":
            note = f"From {now['predicted_clv_customers']:,} customers' predictions."
        out.setdefault(group, []).append(
            Card(key, label, write(kind, now[key]), DEFINITIONS[key], note))
    return out


def _read(zone) -> tuple[RangeForm, Period, bool]:
    args = request.args
    if not any(args.get(name) for name in ("range", "from", "to")):
        args = MultiDict(args)
        args["range"] = DEFAULT_RANGE
    form = RangeForm(formdata=args)
    period, valid = _read_range(form, zone, store_today(zone))
    return form, period, valid


@bp.get("/admin/analytics")
@panel_page
def analytics():
    session, shop = db.session, g.shop
    zone = shop_zone(session, shop)
    form, period, valid = _read(zone)
    has_orders = session.execute(
        select(Order.id).where(Order.shop_id == shop.id).limit(1)).first() is not None
    kpis = store_kpis(session, shop, period, compare=True)
    cohort_period = Period(period.first_day, period.last_day, period.zone, MONTH)
    cohorts = store_cohorts(session, shop, cohort_period)
    previous = kpis.previous.metrics.period if kpis.previous else None
    figures: dict[str, Any] = {
        "revenue": revenue_figure(kpis.metrics.series, period, shop.currency),
        "customers": customers_figure(kpis.metrics.series, period),
        **kpi_figures(kpis, period, shop.currency),
        "cohorts": heatmap_figure(cohorts),
        "cohort-revenue": cohort_revenue_figure(cohorts, shop.currency),
    }
    page = render_template(
        "panel/analytics.html", form=form, period=period, valid=valid, kpis=kpis,
        totals=kpis.metrics.totals, cards=cards(kpis, shop.currency), figures=figures,
        cohorts=cohorts, cohort_definitions=COHORT_DEFINITIONS, has_orders=has_orders,
        span=_span(period.first_day, period.last_day),
        previous_span=_span(previous.first_day, previous.last_day) if previous else None,
        cohort_sizes=sum(c.size for c in cohorts.cohorts), currency=shop.currency,
        embedded_params=g.panel.link_params, money_text=money_text, kpis_guest_rule=GUEST_RULE,
        first_month=date(period.first_day.year, period.first_day.month, 1))
    return page, 200 if valid else 400
