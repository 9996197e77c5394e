"""The store's figures (`app.analytics.metrics`, `app.analytics.kpis`) as `GET /api/metrics`
writes them: money as decimal strings in the shop's currency, rates as decimal strings with
4 places, other ratios as decimal strings, counts as integers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.analytics.metrics import DEFINITIONS, Comparison, Figures, StoreMetrics
from app.money import format_money


def rate_json(value) -> str | None:
    return None if value is None else str(value)


def figures_json(f: Figures, currency: str, *, totals: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "revenue": format_money(f.revenue, currency),
        "orders": f.orders,
        "average_order_value": format_money(f.average_order_value, currency),
        "customers": f.customers,
        "new_customers": f.new_customers,
        "returning_customers": f.returning_customers,
    }
    if totals:
        out["repeat_purchase_rate"] = rate_json(f.repeat_purchase_rate)
    out.update(checkouts_started=f.checkouts_started, checkouts_open=f.checkouts_open,
               checkouts_abandoned=f.checkouts_abandoned,
               checkouts_completed=f.checkouts_completed,
               checkouts_recovered=f.checkouts_recovered,
               recovery_rate=rate_json(f.recovery_rate))
    return out


def comparison_json(c: Comparison, currency: str) -> dict[str, Any]:
    return {"from": c.period.first_day.isoformat(), "to": c.period.last_day.isoformat(),
            "revenue": format_money(c.revenue, currency), "orders": c.orders,
            "average_order_value": format_money(c.average_order_value, currency),
            "new_customers": c.new_customers}


def base_metrics_json(m: StoreMetrics) -> dict[str, Any]:
    period, currency = m.period, m.currency
    out: dict[str, Any] = {
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "interval": period.interval,
        "timezone": period.zone.key,
        "currency": currency,
        **figures_json(m.totals, currency, totals=True),
        "definitions": DEFINITIONS,
        "series": [{"date": b.start.isoformat(), "from": b.first_day.isoformat(),
                    "to": b.last_day.isoformat(),
                    **figures_json(b.figures, currency, totals=False)} for b in m.series],
    }
    if m.previous is not None:
        out["previous"] = comparison_json(m.previous, currency)
    return out


RATE = Decimal("0.0001")


def _value_json(name: str, value: Any, currency: str) -> Any:
    if value is None or isinstance(value, int | str):
        return value
    if name.endswith("_rate"):
        return str(Decimal(value).quantize(RATE))
    if "revenue" in name or "clv" in name or name.startswith("average_order_value"):
        return format_money(value, currency)
    return str(value)


def kpis_json(values: dict[str, Any], currency: str) -> dict[str, Any]:
    return {name: _value_json(name, value, currency) for name, value in values.items()
            if not name.endswith("_orders_revenue")}
