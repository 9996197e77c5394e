"""`/admin/analytics/predictions`: the model-quality view.

Whether the store passes the gate (and, if not, which figure is short), the fitted
parameters with what each means, the calibration charts (predicted against actual repeat
orders in a holdout period, by past repeat orders and cumulatively, as in the paper's
figures), the spread of churn risk across buyers, and a "Refit now" button."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template
from sqlalchemy import case, func, select

from app.db import db
from app.panel import bp
from app.panel.dashboard_charts import BLUE, GREY, LEGEND, ORANGE
from app.panel.door import panel_page, panel_url
from app.predictions.scoring import ANNUAL_DISCOUNT_RATE
from app.predictions.service import REFIT_AFTER_DAYS, current_model
from app.predictions.views import FIELD_DEFINITIONS, MEANINGS, gate, model_json
from app.profiles.models import Customer
from app.queue import get_queue

REFIT_JOB = "jobs.predictions.refit_shop"
RISK_BANDS = 10


def churn_histogram(session, shop_id: int) -> list[int]:
    """How many scored buyers fall in each tenth of churn risk (0–10 %, …, 90–100 %)."""
    risk = Customer.churn_risk
    band = case(*[(risk < (i + 1) / RISK_BANDS, i) for i in range(RISK_BANDS - 1)],
                else_=RISK_BANDS - 1)
    counts = dict(session.execute(
        select(band, func.count()).where(Customer.shop_id == shop_id, risk.is_not(None))
        .group_by(band)).all())
    return [int(counts.get(i, 0)) for i in range(RISK_BANDS)]


def _axis(title: str, **more: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "gridcolor": "#ebebeb", "automargin": True, **more}


def by_past_repeat_figure(rows: list[dict]) -> dict[str, Any]:
    labels = [r["repeat_orders"] for r in rows if r["customers"]]
    shown = [r for r in rows if r["customers"]]
    return {"data": [
        {"type": "scatter", "mode": "lines+markers", "name": "Actual", "x": labels,
         "y": [round(r["actual"], 3) for r in shown], "line": {"color": BLUE},
         "customdata": [r["customers"] for r in shown],
         "hovertemplate": "%{y:.2f} actual (%{customdata:,} customers)<extra></extra>"},
        {"type": "scatter", "mode": "lines+markers", "name": "Predicted (BG/NBD)",
         "x": labels, "y": [round(r["predicted"], 3) for r in shown],
         "line": {"color": ORANGE, "dash": "dash"},
         "hovertemplate": "%{y:.2f} predicted<extra></extra>"}],
        "layout": {"legend": LEGEND, "xaxis": _axis("Repeat order days in the calibration "
                                                     "period", type="category"),
                   "yaxis": _axis("Order days per customer in the holdout", rangemode="tozero")}}


def cumulative_figure(cumulative: dict) -> dict[str, Any]:
    return {"data": [
        {"type": "scatter", "mode": "lines", "name": "Actual", "x": cumulative["dates"],
         "y": cumulative["actual"], "line": {"color": BLUE}},
        {"type": "scatter", "mode": "lines", "name": "Forecast (BG/NBD)",
         "x": cumulative["dates"], "y": cumulative["predicted"],
         "line": {"color": ORANGE, "dash": "dash"}}],
        "layout": {"legend": LEGEND, "xaxis": _axis("Week"),
                   "yaxis": _axis("Cumulative repeat order days", rangemode="tozero",
                                  separatethousands=True),
                   "shapes": [{"type": "line", "xref": "x", "yref": "paper",
                               "x0": cumulative["calibration_end"],
                               "x1": cumulative["calibration_end"], "y0": 0, "y1": 1,
                               "line": {"color": GREY, "dash": "dot"}}]}}


def churn_figure(counts: list[int]) -> dict[str, Any]:
    labels = [f"{10 * i}–{10 * (i + 1)}%" for i in range(RISK_BANDS)]
    return {"data": [{"type": "bar", "x": labels, "y": counts, "marker": {"color": BLUE},
                      "hovertemplate": "%{y:,} buyers<extra>%{x} churn risk</extra>"}],
            "layout": {"xaxis": _axis("Churn risk (1 − P(alive))", type="category"),
                       "yaxis": _axis("Buyers", rangemode="tozero", tickformat=",d"),
                       "bargap": 0.1}}


@bp.get("/admin/analytics/predictions")
@panel_page
def analytics_predictions():
    model = current_model(db.session, g.shop.id)
    body = model_json(model)
    figures: dict[str, Any] = {}
    calibration = body["calibration"] if body["status"] == "fitted" else None
    if calibration and calibration.get("status") == "done":
        figures["by_past_repeat"] = by_past_repeat_figure(calibration["by_past_repeat"])
        figures["cumulative"] = cumulative_figure(calibration["cumulative"])
    counts = churn_histogram(db.session, g.shop.id) if body["status"] == "fitted" else []
    if any(counts):
        figures["churn"] = churn_figure(counts)
    return render_template(
        "panel/analytics_predictions.html", model=body, figures=figures, meanings=MEANINGS,
        definitions=FIELD_DEFINITIONS, gate=gate(), churn_counts=counts,
        refit_days=REFIT_AFTER_DAYS, discount=ANNUAL_DISCOUNT_RATE, active_nav="panel.analytics")


@bp.post("/admin/analytics/predictions/refit")
@panel_page
def analytics_predictions_refit():
    get_queue("default").enqueue(REFIT_JOB, g.shop.id, job_timeout=30 * 60,
                                 result_ttl=600)
    flash("Refit queued: the models are fitted again on every order up to today and every "
          "customer is rescored. Reload this page in a moment to see the new fit.", "success")
    return redirect(panel_url("panel.analytics_predictions"))


@bp.app_template_global()
def prediction_model_state(shop_id: int) -> dict[str, Any]:
    """For the customer page's Predictions card: the store's model status and reason."""
    body = model_json(current_model(db.session, shop_id))
    return {"status": body["status"], "reason": body["reason"], "as_of": body["as_of"],
            "definitions": FIELD_DEFINITIONS}
