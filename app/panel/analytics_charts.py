"""The Analytics page's charts as Plotly figures ({"data", "layout"}), drawn by
static/sticky/panel.js with the plotly.js the panel serves (offline): the KPI series and
the cohort heat map."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.analytics.cohorts import Cohorts
from app.analytics.kpis import StoreKpis
from app.analytics.periods import Period
from app.money import EXPONENTS, SYMBOLS
from app.panel.dashboard_charts import (
    BLUE,
    LEGEND,
    ORANGE,
    PURPLE,
    TEAL,
    _axis,
    _layout,
    bucket_label,
)


def _percent(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value) * 100, 1)


def _line(name: str, x: list[str], y: list, color: str, hover: str) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": y,
            "line": {"color": color, "width": 2}, "marker": {"size": 5},
            "connectgaps": False, "hovertemplate": hover}


def _percent_layout(title: str) -> dict[str, Any]:
    return _layout(yaxis=_axis(title, ticksuffix="%", range=[0, 100]), legend=LEGEND,
                   hovermode="x unified")


def kpi_figures(k: StoreKpis, period: Period, currency: str) -> dict[str, dict[str, Any]]:
    labels = [bucket_label(b, period) for b in k.metrics.series]
    s = k.series
    exponent = EXPONENTS.get(currency.upper(), 2)
    prefix = SYMBOLS.get(currency.upper(), "")

    def money(values: list[Decimal | None]) -> list[float | None]:
        return [None if v is None else round(float(v), exponent) for v in values]

    money_hover = f"{prefix}%{{y:,.{exponent}f}}"
    return {
        "aov": {"data": [
            _line("First orders", labels, money([x["average_order_value_first"] for x in s]),
                  TEAL, money_hover + "<extra>First orders</extra>"),
            _line("Returning orders", labels,
                  money([x["average_order_value_returning"] for x in s]), PURPLE,
                  money_hover + "<extra>Returning orders</extra>"),
        ], "layout": _layout(yaxis=_axis(f"Average order value ({currency})",
                                         tickprefix=prefix), legend=LEGEND,
                             hovermode="x unified")},
        "retention": {"data": [
            _line("Retention", labels, [_percent(x["retention_rate"]) for x in s], BLUE,
                  "%{y:.1f}%<extra>Retention</extra>"),
            _line("Churn", labels, [_percent(x["churn_rate"]) for x in s], ORANGE,
                  "%{y:.1f}%<extra>Churn</extra>"),
        ], "layout": _percent_layout(f"Share of the {period.interval} before's customers")},
        "email": {"data": [
            {"type": "bar", "name": "Emails sent", "x": labels,
             "y": [x["emails_sent"] for x in s], "marker": {"color": "#d4e3fa"},
             "yaxis": "y2", "hovertemplate": "%{y:,} sent<extra></extra>"},
            _line("Open rate", labels, [_percent(x["email_open_rate"]) for x in s], BLUE,
                  "%{y:.1f}%<extra>Open rate</extra>"),
            _line("Click rate", labels, [_percent(x["email_click_rate"]) for x in s], TEAL,
                  "%{y:.1f}%<extra>Click rate</extra>"),
        ], "layout": _layout(yaxis=_axis("Rate", ticksuffix="%", range=[0, 100]),
                             yaxis2=_axis("Emails sent", overlaying="y", side="right",
                                          showgrid=False, tickformat=",d"),
                             legend=LEGEND, hovermode="x unified")},
        "points": {"data": [
            {"type": "bar", "name": "Issued", "x": labels, "y": [x["points_issued"] for x in s],
             "marker": {"color": TEAL}},
            {"type": "bar", "name": "Redeemed", "x": labels,
             "y": [x["points_redeemed"] for x in s], "marker": {"color": PURPLE}},
        ], "layout": {**_layout(yaxis=_axis("Points", tickformat=",d"), legend=LEGEND,
                                hovermode="x unified"), "barmode": "group"}},
    }


def cohort_label(cohorts: Cohorts, index: int) -> str:
    c = cohorts.cohorts[index]
    return f"{c.month:%b %Y} ({c.size:,})"


def heatmap_figure(cohorts: Cohorts) -> dict[str, Any]:
    """Rows: cohorts, oldest at the top; columns: months since the first order. Each cell
    shows the share; hovering says the counts. Cells not reached yet are empty."""
    width = cohorts.max_offset + 1
    z, text, custom = [], [], []
    for c in cohorts.cohorts:
        row, words, counts = [], [], []
        for offset in range(width):
            cell = c.cells[offset] if offset < len(c.cells) else None
            if cell is None:
                row.append(None)
                words.append("")
                counts.append(["", 0, c.size, ""])
                continue
            share = cell.retention(c.size)
            row.append(_percent(share))
            words.append(f"{_percent(share):.0f}%" + ("*" if not cell.complete else ""))
            what = "a second order" if offset == 0 else "ordered"
            counts.append([f"{cell.month:%b %Y}", cell.customers, c.size,
                           what + (" (month still running)" if not cell.complete else "")])
        z.append(row)
        text.append(words)
        custom.append(counts)
    return {
        "data": [{
            "type": "heatmap", "z": z, "text": text, "texttemplate": "%{text}",
            "customdata": custom, "x": [f"Month {i}" for i in range(width)],
            "y": [cohort_label(cohorts, i) for i in range(len(cohorts.cohorts))],
            "zmin": 0, "zmax": 100, "hoverongaps": False,
            "colorscale": [[0, "#f4f8fd"], [0.25, "#a4c4f0"], [1, "#1f5199"]],
            "colorbar": {"ticksuffix": "%", "title": {"text": "Share"}},
            "hovertemplate": ("Cohort %{y}<br>%{x} (%{customdata[0]})<br>"
                              "%{customdata[1]:,} of %{customdata[2]:,} customers: "
                              "%{customdata[3]}<br>%{z:.1f}%<extra></extra>"),
        }],
        "layout": {"xaxis": {"type": "category", "side": "top", "automargin": True},
                   "yaxis": {"type": "category", "autorange": "reversed",
                             "automargin": True},
                   "hovermode": "closest", "margin": {"l": 110, "r": 16, "t": 36, "b": 16},
                   "height": max(240, 36 * len(cohorts.cohorts) + 90)},
    }


def cohort_revenue_figure(cohorts: Cohorts, currency: str) -> dict[str, Any]:
    """Cumulative revenue per customer of each cohort, by months since its first order."""
    exponent = EXPONENTS.get(currency.upper(), 2)
    prefix = SYMBOLS.get(currency.upper(), "")
    data = []
    for i, c in enumerate(cohorts.cohorts):
        if not c.size:
            continue
        data.append(_line(cohort_label(cohorts, i), [f"Month {x.offset}" for x in c.cells],
                          [round(float(x.cumulative_revenue / c.size), exponent)
                           for x in c.cells], "", f"{prefix}%{{y:,.{exponent}f}} per customer"
                          f"<extra>{c.month:%b %Y}</extra>"))
        del data[-1]["line"]["color"]
    return {"data": data, "layout": {
        "xaxis": {"type": "category", "automargin": True},
        "yaxis": _axis(f"Cumulative revenue per customer ({currency})", tickprefix=prefix),
        "legend": LEGEND, "hovermode": "closest"}}
