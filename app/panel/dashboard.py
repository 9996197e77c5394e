"""`/admin`: the Dashboard. The store's figures over a date range (the same functions as
`GET /api/metrics`), their charts, the latest activity, and the history import's progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, render_template, request
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice

from app.analytics.activity import latest_activity
from app.analytics.metrics import DEFINITIONS, StoreMetrics, store_metrics
from app.analytics.periods import (
    DEFAULT_PRESET,
    PRESETS,
    Period,
    PeriodError,
    parse_period,
    preset_of,
    store_today,
)
from app.db import db
from app.flows import survey
from app.money import money_text
from app.panel import bp
from app.panel.dashboard_charts import checkouts_figure, customers_figure, revenue_figure
from app.panel.door import panel_page, panel_url
from app.panel.loyalty import loyalty_dashboard_card
from app.settings.timezone import shop_zone
from app.sync.backfill import latest_run, run_json

ACTIVITY_ROWS = 10
# Below this many orders, averages and rates are shown with a word of caution.
FEW_ORDERS = 5


class RangeForm(FlaskForm):
    """The date range picker: a GET form whose parameters are `/api/metrics`' own."""

    class Meta:
        csrf = False  # a GET form changes nothing

    range = SelectField("Date range", default=DEFAULT_PRESET, validate_choice=False,
                        choices=[SelectChoice(key, label) for key, label in PRESETS.items()])
    from_ = StringField("From", name="from", render_kw={"type": "date"})
    to = StringField("To", render_kw={"type": "date"})
    interval = SelectField("Group by", validate_choice=False, choices=[
        SelectChoice("", "Automatically"), SelectChoice("day", "Day"),
        SelectChoice("week", "Week"), SelectChoice("month", "Month")])


@dataclass(frozen=True)
class Card:
    key: str  # the figure's name in the API, and the card's id
    label: str
    value: str
    definition: str
    note: str | None = None


def _count(n: int) -> str:
    return f"{n:,}"


def _percent(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _span(first: date, last: date) -> str:
    def day(d: date, year: bool) -> str:
        return f"{d:%b} {d.day}" + (f", {d.year}" if year else "")

    if first == last:
        return day(first, True)
    return f"{day(first, first.year != last.year)} – {day(last, True)}"


def _change(now: Decimal | int | None, before: Decimal | int | None,
            shown: str) -> str | None:
    """"↑ 12% from $4,000.00": the change from the period before (named above the cards)."""
    if now is None or before is None:
        return None
    if before == 0:
        return f"{shown} in the previous period" if now else None
    change = (Decimal(now) - Decimal(before)) / Decimal(before) * 100
    arrow = "↑" if change > 0 else "↓" if change < 0 else "→"
    return f"{arrow} {abs(change):.0f}% from {shown}"


def _cards(m: StoreMetrics) -> dict[str, list[Card]]:
    t, cur, p = m.totals, m.currency, m.previous

    def card(key: str, label: str, value: str, note: str | None = None) -> Card:
        return Card(key, label, value, DEFINITIONS[key], note)

    return {
        "sales": [
            card("revenue", "Revenue", money_text(t.revenue, cur),
                 _change(t.revenue, p.revenue, money_text(p.revenue, cur)) if p else None),
            card("orders", "Orders", _count(t.orders),
                 _change(t.orders, p.orders, _count(p.orders)) if p else None),
            card("average_order_value", "Average order value",
                 money_text(t.average_order_value, cur),
                 _change(t.average_order_value, p.average_order_value,
                         money_text(p.average_order_value, cur)) if p else None),
        ],
        "customers": [
            card("customers", "Customers", _count(t.customers)),
            card("new_customers", "New customers", _count(t.new_customers),
                 _change(t.new_customers, p.new_customers, _count(p.new_customers))
                 if p else None),
            card("returning_customers", "Returning customers", _count(t.returning_customers)),
            card("repeat_purchase_rate", "Repeat purchase rate",
                 _percent(t.repeat_purchase_rate)),
        ],
        "checkouts": [
            card("checkouts_started", "Checkouts started", _count(t.checkouts_started)),
            card("checkouts_open", "Open", _count(t.checkouts_open)),
            card("checkouts_abandoned", "Abandoned", _count(t.checkouts_abandoned)),
            card("checkouts_recovered", "Recovered", _count(t.checkouts_recovered)),
            card("recovery_rate", "Recovery rate", _percent(t.recovery_rate)),
        ],
    }


def customer_url(customer_id: int) -> str:
    """A profile's page, keeping the embedded parameters."""
    return panel_url("panel.customer", customer_id=customer_id)


def _when(moment: datetime, zone: ZoneInfo, today: date) -> str:
    local = moment.astimezone(zone)
    clock = local.strftime("%I:%M %p").lstrip("0")
    if local.date() == today:
        return f"Today, {clock}"
    return f"{local:%b} {local.day}{'' if local.year == today.year else f', {local.year}'}, {clock}"


def _read_range(form: RangeForm, zone: ZoneInfo, today: date) -> tuple[Period, bool]:
    """The period the form names, with its fields showing what it resolved to; on bad
    input, the default period and the reason at the field to blame (False)."""
    # A link with dates and no preset (as the API takes them) is a custom range.
    preset = form.range.data if form.range.raw_data else None
    try:
        period = parse_period(zone, first=form.from_.data, last=form.to.data,
                              interval=form.interval.data, preset=preset, today=today)
    except PeriodError as exc:
        field = {"range": form.range, "from": form.from_, "to": form.to,
                 "interval": form.interval}[exc.field]
        field.errors = [exc.message]
        return parse_period(zone, today=today), False
    form.range.data = preset_of(period, today) if preset != "custom" else "custom"
    form.from_.data, form.to.data = period.first_day.isoformat(), period.last_day.isoformat()
    return period, True


@bp.get("/admin")
@panel_page
def dashboard():
    session, shop = db.session, g.shop
    zone = shop_zone(session, shop)
    today = store_today(zone)
    form = RangeForm(formdata=request.args)
    period, valid = _read_range(form, zone, today)
    metrics = store_metrics(session, shop, period, compare=True)
    activity = latest_activity(session, shop, limit=ACTIVITY_ROWS)
    figures: dict[str, Any] = {
        "revenue": revenue_figure(metrics.series, period, shop.currency),
        "customers": customers_figure(metrics.series, period),
        "checkouts": checkouts_figure(metrics.series, period),
    }
    page = render_template(
        "panel/dashboard.html", form=form, period=period, metrics=metrics,
        totals=metrics.totals, cards=_cards(metrics), figures=figures,
        span=_span(period.first_day, period.last_day), previous_span=_span(
            metrics.previous.period.first_day, metrics.previous.period.last_day)
        if metrics.previous else None,
        activity=[(item, customer_url(item.customer_id), _when(item.occurred_at, zone, today))
                  for item in activity],
        few_orders=0 < metrics.totals.orders < FEW_ORDERS, valid=valid,
        embedded_params=g.panel.link_params,
        backfill=run_json(latest_run(session, shop.id)),
        loyalty=loyalty_dashboard_card(session, shop, period),
        feedback=survey.nps(session, shop.id, period.start, period.end))
    return page, 200 if valid else 400
