"""A shop's model as JSON (the API's `GET /api/predictions/model`, the CLI's --json) and
the one-line meanings the panel and the CLI print next to each figure."""

from __future__ import annotations

from typing import Any

from app.predictions.models import PredictionModel
from app.predictions.scoring import ANNUAL_DISCOUNT_RATE
from app.predictions.service import MIN_BUYERS, MIN_HISTORY_DAYS, MIN_REPEAT_BUYERS

MEANINGS = {
    "r": "shape of the spread of purchase rates across customers (smaller: more uneven)",
    "alpha": "scale of the purchase rates, in the time unit: r/alpha is the mean number of "
             "purchases per unit while a customer is active",
    "a": "with b, the spread of the chance of dropping out after a purchase",
    "b": "with a: a/(a+b) is the mean chance that a customer drops out after a purchase",
    "log_likelihood": "how well the model explains the orders (higher is better; compare "
                      "fits of the same data only)",
    "p": "shape of the spread of one customer's order values around their own mean",
    "q": "with gamma, the spread of customers' mean order values",
    "gamma": "scale of the mean order values: p*gamma/(q-1) is the expected mean order value "
             "of a new customer",
}

FIELD_DEFINITIONS = {
    "p_alive": "Probability that the customer is still an active buyer (BG/NBD).",
    "churn_risk": "1 − P(alive): the probability the customer has stopped buying.",
    "expected_orders_30": "Expected order days in the next 30 days.",
    "expected_orders_90": "Expected order days in the next 90 days.",
    "expected_orders_365": "Expected order days in the next 365 days.",
    "next_order_expected_at": "The day by which the expected number of orders reaches one; "
                              "empty if not within a year.",
    "predicted_clv": "Expected spend over the next 365 days (expected orders × expected "
                     f"order value), discounted at {ANNUAL_DISCOUNT_RATE:.0%} a year.",
    "predicted_spend_tier": "High, medium or low: the store's thirds of predicted CLV.",
}


def gate() -> dict[str, int]:
    return {"min_buyers": MIN_BUYERS, "min_history_days": MIN_HISTORY_DAYS,
            "min_repeat_buyers": MIN_REPEAT_BUYERS}


def model_json(model: PredictionModel | None) -> dict[str, Any]:
    """The API shape: status ("fitted" | "not_enough_data" | "failed" | "not_fitted")."""
    if model is None:
        return {"status": "not_fitted", "reason": "The models have not been fitted yet.",
                "fitted_at": None, "as_of": None, "bgnbd": None, "gamma_gamma": None,
                "gate": gate(), "figures": None, "calibration": None, "fit_seconds": None}
    bg = model.bgnbd
    gg = model.gamma_gamma
    return {
        "status": model.status,
        "reason": model.reason,
        "fitted_at": model.fitted_at.isoformat(),
        "as_of": model.as_of.date().isoformat(),
        "bgnbd": None if bg is None else {key: bg[key] for key in (
            "r", "alpha", "a", "b", "time_unit", "log_likelihood")},
        "gamma_gamma": None if gg is None else {key: gg[key] for key in ("p", "q", "gamma")},
        "gate": gate(),
        "figures": {"buyers": model.buyers, "repeat_buyers": model.repeat_buyers,
                    "history_days": model.history_days,
                    "scored_customers": model.scored_customers},
        "calibration": model.calibration,
        "fit_seconds": model.fit_seconds,
    }
