"""The Dashboard's charts as Plotly figures ({"data", "layout"}), built from the metrics'
series; static/sticky/panel.js draws them with the plotly.js the panel serves."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from app.analytics.metrics import Bucket
from app.analytics.periods import DAY, MONTH, Period, next_bucket
from app.money import EXPONENTS, SYMBOLS

# Polaris' data-visualisation palette, so the charts look at home in the Shopify admin.
BLUE, TEAL, PURPLE, ORANGE, GREY = "#2c6ecb", "#47c1bf", "#8051e6", "#f49342", "#b5b5b5"


def bucket_label(bucket: Bucket, period: Period) -> str:
    """"Dec 7", "Week of Dec 1" (Monday), or "Dec 2026"; a cut bucket says its own days."""
    if period.interval == DAY:
        return _day(bucket.start)
    if period.interval == MONTH:
        label = bucket.start.strftime("%b %Y")
    else:
        label = f"Week of {_day(bucket.start)}"
    if bucket.first_day != bucket.start or (bucket.last_day != _bucket_end(bucket, period)):
        label += f" ({_day(bucket.first_day)}–{_day(bucket.last_day)})"
    return label


def _bucket_end(bucket: Bucket, period: Period) -> date:
    return next_bucket(bucket.start, period.interval) - timedelta(days=1)


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _axis(title: str | None = None, **more: Any) -> dict[str, Any]:
    axis = {"gridcolor": "#ebebeb", "rangemode": "tozero", "automargin": True, **more}
    if title:
        axis["title"] = {"text": title}
    return axis


# Above the plot, where rotated category labels cannot run into it.
LEGEND = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}


def _count_axis(title: str, highest: int, **more: Any) -> dict[str, Any]:
    """An axis of whole numbers: with small counts, Plotly would tick 0.5 steps."""
    ticks = {"dtick": 1} if highest <= 5 else {}
    return _axis(title, tickformat=",d", separatethousands=True, **ticks, **more)


def _layout(**more: Any) -> dict[str, Any]:
    # Category labels ("Week of Dec 1"), at most a dozen shown, turned when they would overlap.
    return {"barmode": "stack", "xaxis": {"type": "category", "automargin": True,
                                          "nticks": 12},
            "bargap": 0.25, **more}


def revenue_figure(series: list[Bucket], period: Period, currency: str) -> dict[str, Any]:
    labels = [bucket_label(b, period) for b in series]
    exponent = EXPONENTS.get(currency.upper(), 2)
    prefix = SYMBOLS.get(currency.upper(), "")
    return {
        "data": [
            {"type": "bar", "name": f"Revenue ({currency})", "x": labels,
             "y": [round(float(b.figures.revenue), exponent) for b in series],
             "marker": {"color": BLUE},
             "hovertemplate": f"{prefix}%{{y:,.{exponent}f}}<extra>Revenue</extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "Orders", "x": labels,
             "y": [b.figures.orders for b in series], "yaxis": "y2",
             "line": {"color": ORANGE, "width": 2}, "marker": {"size": 5},
             "hovertemplate": "%{y:,} orders<extra></extra>"},
        ],
        "layout": _layout(
            yaxis=_axis(f"Revenue ({currency})", tickprefix=prefix, separatethousands=True),
            # Its own whole-number ticks, not ones lined up with the revenue axis.
            yaxis2=_count_axis("Orders", max((b.figures.orders for b in series), default=0),
                               overlaying="y", side="right", showgrid=False,
                               tickmode="auto"),
            legend=LEGEND, hovermode="x unified"),
    }


def customers_figure(series: list[Bucket], period: Period) -> dict[str, Any]:
    labels = [bucket_label(b, period) for b in series]
    return {
        "data": [
            {"type": "bar", "name": "New customers", "x": labels,
             "y": [b.figures.new_customers for b in series], "marker": {"color": TEAL}},
            {"type": "bar", "name": "Returning customers", "x": labels,
             "y": [b.figures.returning_customers for b in series],
             "marker": {"color": PURPLE}},
        ],
        "layout": _layout(yaxis=_count_axis("Customers", max(
                              (b.figures.new_customers + b.figures.returning_customers
                               for b in series), default=0)),
                          legend=LEGEND, hovermode="x unified"),
    }


def checkouts_figure(series: list[Bucket], period: Period) -> dict[str, Any]:
    labels = [bucket_label(b, period) for b in series]

    def trace(name: str, color: str, values: list[int]) -> dict[str, Any]:
        return {"type": "bar", "name": name, "x": labels, "y": values,
                "marker": {"color": color}}

    f = [b.figures for b in series]
    return {
        "data": [
            trace("Completed", BLUE, [x.checkouts_completed - x.checkouts_recovered for x in f]),
            trace("Recovered", TEAL, [x.checkouts_recovered for x in f]),
            trace("Abandoned", ORANGE, [x.checkouts_abandoned for x in f]),
            trace("Open", GREY, [x.checkouts_open for x in f]),
        ],
        "layout": _layout(yaxis=_count_axis("Checkouts started", max(
                              (x.checkouts_started for x in f), default=0)),
                          legend=LEGEND, hovermode="x unified"),
    }
