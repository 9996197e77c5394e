"""Per-customer predicted figures from fitted parameters, vectorised.

Definitions (shown in the panel and the API docs):
- churn risk = 1 - P(alive), BG/NBD's probability that the customer has dropped out;
- expected orders in the next 30 / 90 / 365 days = E[Y(t) | x, t_x, T] (order days, as the
  model counts them);
- next order expected = the first day, counted from the as-of day, by which the expected
  number of orders reaches 1; null when that does not happen within 365 days;
- predicted CLV = expected spend in the next 365 days, discounted: the expected orders of
  each of the 12 months ahead × the Gamma-Gamma expected order value, month k discounted by
  (1 + ANNUAL_DISCOUNT_RATE)^(-k/12);
- spend tier = "high" / "medium" / "low" by the shop's predicted-CLV terciles (among its
  scored buyers at the last fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.predictions import bgnbd, gamma_gamma
from app.predictions.bgnbd import BGNBDParams
from app.predictions.gamma_gamma import GammaGammaParams
from app.predictions.grouping import group_rows

DAYS_PER_WEEK = 7.0
HORIZONS_DAYS = (30, 90, 365)
CLV_HORIZON_DAYS = 365
CLV_MONTHS = 12
ANNUAL_DISCOUNT_RATE = 0.10
NEXT_ORDER_WITHIN_DAYS = 365
TIERS = ("low", "medium", "high")


@dataclass(slots=True)
class Scores:
    p_alive: np.ndarray
    expected: dict[int, np.ndarray]
    next_order_days: np.ndarray  # float days from as-of, NaN when not within a year
    expected_spend: np.ndarray
    clv: np.ndarray  # NaN when the spend model is unusable


def _per_pair(values_fn, x, T):
    """Evaluate values_fn(ux, uT) once per distinct (x, T) and spread the result back."""
    (ux, uT), inverse, _ = group_rows(x, T)
    return values_fn(ux, uT)[..., inverse]


def score(bg: BGNBDParams, gg: GammaGammaParams | None, frequency, recency_days, age_days,
          monetary) -> Scores:
    """Scores for customers given in days (x, t_x, T, mean repeat spend m); `bg` is in weeks
    (its time_unit), as fitted by the service."""
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency_days, dtype=float) / DAYS_PER_WEEK
    T = np.asarray(age_days, dtype=float) / DAYS_PER_WEEK
    p_alive = bgnbd.probability_alive(bg, x, t_x, T)
    month_ends = np.arange(1, CLV_MONTHS + 1) * CLV_HORIZON_DAYS / CLV_MONTHS
    grid = np.concatenate([np.asarray(HORIZONS_DAYS, dtype=float), month_ends]) / DAYS_PER_WEEK

    def growth(ux, uT):
        return bgnbd.expected_transactions_if_alive(bg, grid[:, None], ux[None, :], uT[None, :])

    if x.size:
        alive_growth = _per_pair(growth, x, T) * p_alive[None, :]
    else:
        alive_growth = np.zeros((grid.size, 0))
    expected = {days: alive_growth[i] for i, days in enumerate(HORIZONS_DAYS)}
    monthly = np.diff(alive_growth[len(HORIZONS_DAYS):], axis=0, prepend=0.0)
    discount = (1 + ANNUAL_DISCOUNT_RATE) ** (-np.arange(1, CLV_MONTHS + 1) / CLV_MONTHS)
    discounted_orders = discount @ monthly
    if gg is None:
        spend = np.full(x.shape, np.nan)
    else:
        spend = gamma_gamma.conditional_expected_spend(gg, x, monetary)
    return Scores(p_alive=p_alive, expected=expected,
                  next_order_days=_next_order_days(bg, x, t_x, T, expected[365]),
                  expected_spend=spend, clv=spend * discounted_orders)


def _next_order_days(bg, x, t_x, T, within_year) -> np.ndarray:
    """Bisection on whole days, for the customers expected to order at least once a year."""
    days = np.full(x.shape, np.nan)
    due = np.flatnonzero(within_year >= 1.0)
    if due.size == 0:
        return days
    low = np.zeros(due.size)
    high = np.full(due.size, float(NEXT_ORDER_WITHIN_DAYS))
    while np.any(high - low > 1):
        mid = np.floor((low + high) / 2)
        reached = bgnbd.expected_transactions(
            bg, mid / DAYS_PER_WEEK, x[due], t_x[due], T[due]) >= 1.0
        high = np.where(reached, mid, high)
        low = np.where(reached, low, mid)
    days[due] = high
    return days


def tier_cuts(clv) -> list[float] | None:
    """The tercile boundaries of predicted CLV, or None with nothing to cut."""
    values = np.asarray(clv, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return [float(v) for v in np.quantile(values, [1 / 3, 2 / 3])]


def tiers(clv, cuts) -> list[str | None]:
    """"low" below the first tercile cut, "high" at or above the second, else "medium"."""
    values = np.asarray(clv, dtype=float)
    if cuts is None:
        return [None] * values.size
    index = np.searchsorted(np.asarray(cuts), values, side="right")
    return [TIERS[i] if np.isfinite(v) else None for i, v in zip(index, values, strict=True)]
