"""The model-quality check: predicted against actual repeat orders in a holdout period.

As in the paper's figures. When the shop has orders after the as-of day (a fit "as of" a
past date), the holdout is the period after it, up to the latest order, and the check uses
the fit itself. Otherwise the last third of the history (HOLDOUT_MIN_DAYS to
HOLDOUT_MAX_DAYS) is held out: the models are fitted again on the orders before it and
their forecast compared with what happened. Two views:
- by number of repeat order days in the calibration period (0 … 6, 7+): the mean predicted
  and actual order days in the holdout (the paper's Figure 4);
- cumulative repeat order days over time, actual against the model's forecast for the
  customers acquired in the calibration period (the paper's Figure 2).
Only customers whose first order falls in the calibration period are counted; in a large
store, a random sample of SAMPLE_CUSTOMERS of them (`sampled` says so).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.predictions import bgnbd
from app.predictions.bgnbd import BGNBDParams
from app.predictions.data import (
    Summary,
    day_date,
    day_number,
    last_order_day,
    summary_from_transactions,
    transactions_of,
)
from app.predictions.scoring import DAYS_PER_WEEK

HOLDOUT_MIN_DAYS = 28
HOLDOUT_MAX_DAYS = 182
MIN_CALIBRATION_REPEAT_BUYERS = 20
SAMPLE_CUSTOMERS = 20_000
GROUPS = 8  # 0 .. 6 and "7+"


def build(session: Session, shop_id: int, as_of: date, fitted: Summary,
          params: BGNBDParams) -> dict[str, Any]:
    """The calibration JSON stored with a fit (see the module docstring). On at most
    SAMPLE_CUSTOMERS customers drawn at random from those who bought in the calibration
    period: the check reads their orders only, however large the store."""
    latest = last_order_day(session, shop_id)
    if latest is not None and latest > as_of:
        calibration_end, holdout_end, method = as_of, latest, "after_as_of"
    else:
        history = int(fitted.age.max()) if len(fitted) else 0
        length = max(HOLDOUT_MIN_DAYS, min(HOLDOUT_MAX_DAYS, history // 3))
        calibration_end, holdout_end = as_of - timedelta(days=length), as_of
        method = "refit_on_calibration"
    end_day, cal_day = day_number(holdout_end), day_number(calibration_end)
    eligible = fitted.customer_id[fitted.first_day <= cal_day]
    if eligible.size > SAMPLE_CUSTOMERS:
        eligible = np.random.default_rng(0).choice(eligible, SAMPLE_CUSTOMERS, replace=False)
    cid, day, value = transactions_of(session, shop_id, eligible.tolist(), holdout_end)
    data = summary_from_transactions(cid, day, value, cal_day)
    base = {"method": method, "calibration_end": calibration_end.isoformat(),
            "holdout_end": holdout_end.isoformat(), "sampled": bool(
                eligible.size == SAMPLE_CUSTOMERS)}
    if method == "after_as_of":
        bg = params
    else:
        if int((data.frequency > 0).sum()) < MIN_CALIBRATION_REPEAT_BUYERS:
            return {"status": "skipped", **base,
                    "reason": f"fewer than {MIN_CALIBRATION_REPEAT_BUYERS} repeat buyers "
                              f"before {calibration_end.isoformat()}"}
        try:
            bg = bgnbd.fit(data.frequency, data.recency / DAYS_PER_WEEK,
                           data.age / DAYS_PER_WEEK, time_unit="weeks")
        except ValueError as exc:
            return {"status": "skipped", **base, "reason": str(exc)}
    length = end_day - cal_day
    in_holdout = day > cal_day
    held, held_counts = np.unique(cid[in_holdout], return_counts=True)
    actual = np.zeros(len(data))
    actual[np.searchsorted(data.customer_id, held)] = held_counts
    predicted = bgnbd.expected_transactions(
        bg, length / DAYS_PER_WEEK, data.frequency, data.recency / DAYS_PER_WEEK,
        data.age / DAYS_PER_WEEK)
    first_of = data.first_day[np.searchsorted(data.customer_id, cid)]
    repeat_days = day[day > first_of]
    return {
        "status": "done", **base, "holdout_days": length, "customers": len(data),
        "params": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "time_unit": "weeks"},
        "holdout_total": {"predicted": float(predicted.sum()), "actual": float(actual.sum())},
        "by_past_repeat": by_past_repeat(data.frequency, predicted, actual),
        "cumulative": cumulative(bg, data, repeat_days, calibration_end, holdout_end),
    }


def by_past_repeat(frequency, predicted, actual) -> list[dict[str, Any]]:
    """Mean predicted and actual holdout order days per group of past repeat order days."""
    group = np.minimum(np.asarray(frequency, dtype=int), GROUPS - 1)
    rows = []
    for g in range(GROUPS):
        mask = group == g
        n = int(mask.sum())
        rows.append({"repeat_orders": f"{g}+" if g == GROUPS - 1 else str(g), "customers": n,
                     "predicted": float(predicted[mask].mean()) if n else None,
                     "actual": float(actual[mask].mean()) if n else None})
    return rows


def cumulative(bg: BGNBDParams, data: Summary, repeat_days: np.ndarray,
               calibration_end: date, holdout_end: date) -> dict[str, Any]:
    """Weekly cumulative repeat order days, actual and forecast, from the first order day."""
    if not len(data):
        return {"dates": [], "actual": [], "predicted": []}
    start = int(data.first_day.min())
    end = day_number(holdout_end)
    points = np.arange(start + 7, end + 7, 7)
    points[-1] = min(points[-1], end)
    actual = np.searchsorted(np.sort(repeat_days), points, side="right")
    cohorts, sizes = np.unique(data.first_day, return_counts=True)
    elapsed = np.clip(points[:, None] - cohorts[None, :], 0, None) / DAYS_PER_WEEK
    predicted = (bgnbd.expected_transactions_new(bg, elapsed) * sizes[None, :]).sum(axis=1)
    return {"dates": [day_date(p).isoformat() for p in points.tolist()],
            "actual": [int(v) for v in actual.tolist()],
            "predicted": [round(float(v), 2) for v in predicted.tolist()],
            "calibration_end": calibration_end.isoformat()}
